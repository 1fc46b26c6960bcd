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
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
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

/// efivarfs marks each variable it does not know as safe to delete immutable
/// (FS_IMMUTABLE_FL), so a rewrite or an unlink first clears the flag. The numbers are
/// <linux/fs.h>'s, which cannot be included beside <sys/mount.h> on glibc 2.36.
static inline int eb_clear_immutable(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    int flags = 0;
    int result = ioctl(fd, _IOR('f', 1, long) /* FS_IOC_GETFLAGS */, &flags);
    if (result == 0 && (flags & 0x10 /* FS_IMMUTABLE_FL */)) {
        flags &= ~0x10;
        result = ioctl(fd, _IOW('f', 2, long) /* FS_IOC_SETFLAGS */, &flags);
    } else if (result != 0 && (errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL)) {
        result = 0;  // a file system without flags has no immutable flag to clear
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}

static inline int eb_mount_efivarfs(const char *target) {
    return mount("efivarfs", target, "efivarfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
}

static inline int eb_unmount(const char *target) { return umount(target); }

#endif
