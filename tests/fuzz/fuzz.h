/*  fuzz.h - what the libFuzzer targets of tests/fuzz/ share.

    Each target is one file, fuzz_<name>.c, that defines
    LLVMFuzzerTestOneInput (and, when it needs a set-up, LLVMFuzzerInitialize)
    and checks properties of the code under test on every input; a broken
    property is reported with fuzz_fail, which aborts, so libFuzzer saves the
    input as a crash. Inputs that are several ZeroMQ frames (an envelope, a
    control request) are split at each '\n': the seeds stay readable, and a
    frame may hold any other byte, NUL included.
*/
#ifndef CW_FUZZ_H
#define CW_FUZZ_H

#include <czmq.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

//  A property does not hold: say which, abort (libFuzzer keeps the input).
static void fuzz_fail (const char *fmt, ...) __attribute__ ((format (printf, 1, 2), noreturn, unused));

static void
fuzz_fail (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    fprintf (stderr, "fuzz: property broken: ");
    vfprintf (stderr, fmt, args);
    fprintf (stderr, "\n");
    va_end (args);
    abort ();
}

//  DATA split at every '\n' into the frames of a new message (an empty
//  input is one empty frame). Caller owns it.
static zmsg_t *fuzz_frames (const uint8_t *data, size_t size) __attribute__ ((unused));

static zmsg_t *
fuzz_frames (const uint8_t *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    size_t start = 0;
    for (size_t i = 0; i <= size; i++)
        if (i == size || data [i] == '\n') {
            zmsg_addmem (msg, data + start, i - start);
            start = i + 1;
        }
    return msg;
}

#endif
