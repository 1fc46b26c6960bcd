#if canImport(Glibc)
import Glibc
#endif

/// The config decides what the kernel hands to a VM: only root (or, for a staged
/// root, the user running earlybind) may be able to change it.
enum ConfigPermissions {
    static func check(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFLNK {
            throw InstallError(description: "refusing \(path): it is a symlink")
        }
        if info.st_uid != 0 && info.st_uid != geteuid() {
            throw InstallError(description: "refusing \(path): it is owned by uid \(info.st_uid), not root (chown root:root \(path))")
        }
        if info.st_mode & 0o022 != 0 {
            throw InstallError(description: "refusing \(path): group or others may write it (chmod 644 \(path))")
        }
    }
}
