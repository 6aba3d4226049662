/* argv_split.c -- splitting Jellyfin's argument string the way .NET does.
 *
 * Jellyfin builds one argument string and .NET (ParseArgumentsIntoList on
 * Unix) splits it into ffmpeg's argv; argv_split() repeats that split for
 * tests and for tools that only have the logged string. The rules are in
 * argv.h.
 *
 * This is the only file of the parser that allocates: argv_split() returns
 * its vector in one block, which argv_free() releases. It never logs and
 * never touches the file system. */
#include "argv.h"

#include <limits.h>
#include <stdlib.h>

/* Reads the argument starting at line[*pos] (not at whitespace) and leaves
 * *pos after it. Writes the argument to out when out is not NULL; returns
 * its length either way, so a first pass can size the allocation. */
static size_t split_next_argument(const char *line, size_t *pos, char *out)
{
    size_t i = *pos, n = 0;
    int in_quotes = 0;

    while (line[i] != '\0') {
        size_t backslashes = 0;
        while (line[i] == '\\') {
            backslashes++;
            i++;
        }
        if (backslashes > 0) {
            /* Backslashes are only special right before a double quote. */
            size_t literal = line[i] == '"' ? backslashes / 2 : backslashes;
            for (size_t k = 0; k < literal; k++) {
                if (out != NULL)
                    out[n] = '\\';
                n++;
            }
            if (line[i] == '"' && backslashes % 2 != 0) {
                if (out != NULL)
                    out[n] = '"';
                n++;
                i++;
            }
            continue;
        }
        char c = line[i];
        if (c == '"') {
            if (in_quotes && line[i + 1] == '"') {
                /* "" inside quotes is a literal quote; still inside. */
                if (out != NULL)
                    out[n] = '"';
                n++;
                i++;
            } else {
                in_quotes = !in_quotes;
            }
            i++;
            continue;
        }
        if ((c == ' ' || c == '\t') && !in_quotes)
            break;
        if (out != NULL)
            out[n] = c;
        n++;
        i++;
    }
    *pos = i;
    return n;
}

int argv_split(const char *line, int *argc, char ***argv)
{
    if (argc == NULL || argv == NULL)
        return -1;
    if (line == NULL)
        line = "";

    /* Pass 1: count the arguments and their bytes. */
    size_t count = 0, bytes = 0, pos = 0;
    for (;;) {
        while (line[pos] == ' ' || line[pos] == '\t')
            pos++;
        if (line[pos] == '\0')
            break;
        bytes += split_next_argument(line, &pos, NULL) + 1;
        count++;
    }
    if (count >= (size_t)INT_MAX)
        return -1;

    /* One block: the pointer vector, then the strings, so argv_free() is a
     * single free(). Each argument consumed at least one input byte, so
     * neither size can overflow for a line that fits in memory. */
    size_t vector_bytes = (count + 1) * sizeof(char *);
    char **vector = malloc(vector_bytes + bytes);
    if (vector == NULL)
        return -1;
    char *strings = (char *)vector + vector_bytes;

    /* Pass 2: fill. */
    size_t index = 0;
    pos = 0;
    for (;;) {
        while (line[pos] == ' ' || line[pos] == '\t')
            pos++;
        if (line[pos] == '\0')
            break;
        size_t length = split_next_argument(line, &pos, strings);
        strings[length] = '\0';
        vector[index++] = strings;
        strings += length + 1;
    }
    vector[index] = NULL;
    *argc = (int)index;
    *argv = vector;
    return 0;
}

void argv_free(char **argv)
{
    free(argv);
}
