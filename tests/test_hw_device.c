/* test_hw_device.c -- hardware devices created as the ffmpeg CLI creates
 * them (worker/hw_device.c), on the devices this machine really has: Vulkan
 * on Mesa's lavapipe and OpenCL on pocl, both on the CPU (scripts/deps.sh
 * installs them). Device checks are compared byte for byte with what the
 * ffmpeg CLI prints for the same arguments. */
#include <criterion/criterion.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw_device.h"

/* Runs the worker's device check (`ffpool-worker --device-check ARG...`, a
 * fresh process as the job process starts one) with stderr into a buffer;
 * returns the exit status. */
static int check_output(const char *const *args, int count, char *out, size_t outlen)
{
    const char *build = getenv("BUILD") != NULL ? getenv("BUILD") : "build";
    char command[2048];
    snprintf(command, sizeof(command), "%s/bin/ffpool-worker " HW_DEVICE_CHECK_FLAG, build);
    for (int i = 0; i < count; i++) {
        strcat(command, " '");
        strcat(command, args[i]);
        strcat(command, "'");
    }
    strcat(command, " 2>&1 >/dev/null; echo \"exit=$?\"");
    FILE *f = popen(command, "r");
    cr_assert_not_null(f);
    size_t used = fread(out, 1, outlen - 1, f);
    out[used] = '\0';
    pclose(f);
    char *exit_line = strstr(out, "exit=");
    cr_assert_not_null(exit_line, "%s", out);
    int status = atoi(exit_line + 5);
    *exit_line = '\0';
    return status;
}

/* The CLI's stderr for the same device check, and its exit status. */
static int cli_output(const char *const *args, int count, char *out, size_t outlen)
{
    char command[2048] = "ffmpeg -nostdin -v verbose -hide_banner";
    for (int i = 0; i < count; i++) {
        strcat(command, " -init_hw_device '");
        strcat(command, args[i]);
        strcat(command, "'");
    }
    strcat(command, " 2>&1 >/dev/null; echo \"exit=$?\"");
    FILE *f = popen(command, "r");
    cr_assert_not_null(f);
    size_t used = fread(out, 1, outlen - 1, f);
    out[used] = '\0';
    pclose(f);
    char *exit_line = strstr(out, "exit=");
    cr_assert_not_null(exit_line);
    int status = atoi(exit_line + 5);
    *exit_line = '\0';
    return status;
}

/* Replaces every 0x... address (different in every run) with 0xADDR, in
 * place (text has room: outlen bytes). */
static void mask_addresses(char *text, size_t outlen)
{
    static char masked[1 << 16];
    size_t used = 0;
    for (const char *in = text; *in != '\0' && used + 7 < sizeof(masked);) {
        if (in[0] == '0' && in[1] == 'x') {
            memcpy(masked + used, "0xADDR", 6);
            used += 6;
            in += 2;
            while ((*in >= '0' && *in <= '9') || (*in >= 'a' && *in <= 'f'))
                in++;
            continue;
        }
        masked[used++] = *in++;
    }
    masked[used] = '\0';
    snprintf(text, outlen, "%s", masked);
}

static void expect_same_as_cli(const char *const *args, int count)
{
    static char ours[1 << 16], theirs[1 << 16];
    int ours_status = check_output(args, count, ours, sizeof(ours));
    int their_status = cli_output(args, count, theirs, sizeof(theirs));
    mask_addresses(ours, sizeof(ours));
    mask_addresses(theirs, sizeof(theirs));
    cr_expect_eq(ours_status, their_status, "exit %d, the CLI's %d", ours_status, their_status);
    /* The report shows the first 2000 bytes of each. */
    cr_expect(strcmp(ours, theirs) == 0,
              "%s: stderr differs from the CLI's:\n%.2000s\n--- CLI:\n%.2000s", args[count - 1],
              ours, theirs);
}

TestSuite(hw_device, .timeout = 60);

Test(hw_device, grammar_and_names_follow_the_cli)
{
    struct hw_devices devices = {0};
    char why[512];
    cr_assert_eq(hw_devices_add(&devices, "vulkan", why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(hw_devices_add(&devices, "vulkan", why, sizeof(why)), 0, "%s", why);
    cr_expect_str_eq(devices.list[0].name, "vulkan0");
    cr_expect_str_eq(devices.list[1].name, "vulkan1");
    cr_expect_null(hw_devices_find_type(&devices, AV_HWDEVICE_TYPE_VULKAN),
                   "two devices of a type: none is 'the' device of that type");
    cr_assert_eq(hw_devices_add(&devices, "opencl=ocl:,device_type=cpu", why, sizeof(why)), 0, "%s",
                 why);
    cr_expect_not_null(hw_devices_find(&devices, "ocl"));
    cr_expect_eq(hw_devices_find_type(&devices, AV_HWDEVICE_TYPE_OPENCL),
                 hw_devices_find(&devices, "ocl"));
    /* Deriving a type the source already is gives that same device. */
    cr_assert_eq(hw_devices_add(&devices, "opencl=o2@ocl", why, sizeof(why)), 0, "%s", why);
    cr_expect_eq(hw_devices_find(&devices, "o2")->ref->data,
                 hw_devices_find(&devices, "ocl")->ref->data);

    cr_expect_neq(hw_devices_add(&devices, "opencl=ocl", why, sizeof(why)), 0);
    cr_expect_str_eq(why,
                     "Invalid device specification \"opencl=ocl\": named device already exists");
    cr_expect_neq(hw_devices_add(&devices, "foo=bar", why, sizeof(why)), 0);
    cr_expect_str_eq(why, "Invalid device specification \"foo=bar\": unknown device type");
    cr_expect_neq(hw_devices_add(&devices, "vulkan=vk@nothing", why, sizeof(why)), 0);
    cr_expect_str_eq(
        why, "Invalid device specification \"vulkan=vk@nothing\": invalid source device name");
    cr_expect_neq(hw_devices_add(&devices, "vulkan=vk:7", why, sizeof(why)), 0);
    cr_expect_str_eq(why, "Device creation failed: -19.");
    hw_devices_free(&devices);
    cr_expect_eq(devices.count, 0);
}

Test(hw_device, device_checks_print_what_the_cli_prints)
{
    const char *vulkan[] = {"vulkan=vk"};
    expect_same_as_cli(vulkan, 1);
    const char *opencl[] = {"opencl=ocl"};
    expect_same_as_cli(opencl, 1);
    /* A node this machine does not have: the CLI's three failure lines. */
    const char *vaapi[] = {"vaapi=va:/dev/dri/renderD128"};
    expect_same_as_cli(vaapi, 1);
    const char *derive[] = {"opencl=ocl", "vulkan=vk@ocl"};
    expect_same_as_cli(derive, 2);
    const char *unknown[] = {"nosuchtype=x"};
    expect_same_as_cli(unknown, 1);
}

Test(hw_device, probe_finds_the_devices_that_open)
{
    char types[HW_DEVICE_TYPES_MAX][32];
    int n = hw_device_probe("auto", types, HW_DEVICE_TYPES_MAX, 20000);
    int vulkan = 0, opencl = 0, vaapi = 0;
    for (int i = 0; i < n; i++) {
        vulkan |= strcmp(types[i], "vulkan") == 0;
        opencl |= strcmp(types[i], "opencl") == 0;
        vaapi |= strcmp(types[i], "vaapi") == 0;
    }
    cr_expect(vulkan, "lavapipe's Vulkan device opens");
    cr_expect(opencl, "pocl's OpenCL device opens");
    cr_expect(!vaapi || access("/dev/dri", F_OK) == 0, "no VAAPI without /dev/dri");
    cr_expect_eq(hw_device_probe("none", types, HW_DEVICE_TYPES_MAX, 20000), 0);
    n = hw_device_probe("vulkan", types, HW_DEVICE_TYPES_MAX, 20000);
    cr_expect_eq(n, 1, "only the types asked for are tried");
    cr_expect_str_eq(types[0], "vulkan");
}
