/* LD_PRELOAD shim for benchmarks: every fsync/fdatasync takes FSYNC_DELAY_US longer,
 * to see how the journal behaves on storage as slow to sync as an SD card. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static void pause_for_storage(void) {
    const char *us = getenv("FSYNC_DELAY_US");
    if (us) usleep((useconds_t)atoi(us));
}

int fsync(int fd) {
    static int (*real)(int) = 0;
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    pause_for_storage();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int) = 0;
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    pause_for_storage();
    return real(fd);
}
