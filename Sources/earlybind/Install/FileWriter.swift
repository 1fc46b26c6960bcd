import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes files so that each is either its old or its new content, never half of one:
/// temp file in the same directory, fsync, rename. Never writes through a symlink,
/// neither the file itself nor any directory between the root and it.
struct FileWriter {
    /// Creates the missing directories of `path` below `root` (mode 0755), like `mkdir -p`,
    /// refusing any that is a symlink.
    func makeDirectories(_ path: String, under root: String) throws {
        let base = root == "/" ? "" : root
        var current = base
        for component in path.dropFirst(base.count).split(separator: "/") {
            current += "/" + component
            var info = stat()
            if lstat(current, &info) == 0 {
                if info.st_mode & S_IFMT == S_IFDIR { continue }
                if info.st_mode & S_IFMT == S_IFLNK {
                    throw InstallError("refusing to write under '\(current)': it is a symlink")
                }
                throw InstallError("could not create '\(current)': exists and is not a directory")
            }
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw InstallError.couldNot("create", current, errno: errno)
            }
        }
    }

    /// Throws when any existing directory between `root` and `path` is a symlink.
    func refuseSymlinks(_ path: String, under root: String) throws {
        let base = root == "/" ? "" : root
        var current = base
        for component in path.dropFirst(base.count).split(separator: "/").dropLast() {
            current += "/" + component
            var info = stat()
            guard lstat(current, &info) == 0 else { return }
            if info.st_mode & S_IFMT == S_IFLNK {
                throw InstallError("refusing to change anything under '\(current)': it is a symlink")
            }
        }
    }

    /// The file's bytes, or nil when it does not exist.
    func contents(_ path: String) throws -> [UInt8]? {
        do { return try PosixIO().read(path) } catch {
            if error.errno == ENOENT { return nil }
            throw InstallError(error)
        }
    }

    /// The file's permission bits, or nil when it does not exist.
    func mode(_ path: String) -> mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    func isSymlink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// Where a new version of `path` is written before it is renamed over it (the core's replaceFile).
    static func temporaryPath(_ path: String) -> String { path + ".earlybind-new" }

    /// `path` must lie under `root`. The write itself is the core's, the one the boot
    /// binder's report uses too: a temporary file beside it, fsync, rename.
    func write(_ path: String, _ bytes: [UInt8], mode: mode_t, under root: String) throws {
        try makeDirectories(parentDirectory(path), under: root)
        if isSymlink(path) {
            throw InstallError("refusing to write '\(path)': it is a symlink")
        }
        do { try PosixIO().replaceFile(path, bytes, mode: mode) } catch { throw InstallError(error) }
    }
}
