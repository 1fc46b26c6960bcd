// The one C surface of earlybind: libkmod plus the POSIX calls the core needs.
// Embedded Swift cannot import Glibc, so variadic or macro-based C APIs get a
// tiny non-variadic inline wrapper here.
#ifndef EARLYBIND_CKMOD_SHIM_H
#define EARLYBIND_CKMOD_SHIM_H

#include <libkmod.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static inline int eb_errno(void) { return errno; }

static inline int eb_open(const char *path, int flags, mode_t mode) {
    return open(path, flags | O_CLOEXEC, mode);
}

static inline const char *eb_dirent_name(const struct dirent *entry) {
    return entry->d_name;
}

static inline unsigned char eb_dirent_type(const struct dirent *entry) {
    return entry->d_type;
}

static inline int eb_is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static inline int eb_path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/// syslog(2) for `earlybind status`: the kernel log buffer as text in one call, where
/// /dev/kmsg takes a read per record.
static inline int eb_klog_size(void) { return klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, 0, 0); }

static inline int eb_klog_read_all(char *buffer, int length) {
    return klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buffer, length);
}

#endif
