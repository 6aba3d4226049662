/* psnr_test_lib.h -- comparing two videos by the ffmpeg CLI's psnr filter,
 * for the pipeline tests (the CLI measures here; it never stands in for the
 * pipeline under test). */
#ifndef FFPOOL_PSNR_TEST_LIB_H
#define FFPOOL_PSNR_TEST_LIB_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PSNR (dB) of b's frames against a's, frame by frame in order; 100 when
 * they are identical. */
static __attribute__((unused)) double video_psnr(const char *a, const char *b)
{
    char command[2048], line[512];
    snprintf(command, sizeof(command),
             "ffmpeg -nostdin -hide_banner -i '%s' -i '%s' -lavfi "
             "'[0:v]setpts=N[a];[1:v]setpts=N[b];[a][b]psnr' -f null - 2>&1",
             a, b);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    double psnr = -1;
    while (fgets(line, sizeof(line), p) != NULL) {
        const char *at = strstr(line, "average:");
        if (at != NULL)
            psnr = strncmp(at + 8, "inf", 3) == 0 ? 100.0 : atof(at + 8);
    }
    pclose(p);
    cr_assert_geq(psnr, 0, "no PSNR for %s against %s", b, a);
    return psnr;
}

#endif
