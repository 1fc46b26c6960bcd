import CKmod

/// A failed system call on a path, described like kmod does:
/// `could not write '/sys/bus/pci/drivers_probe': No such device`.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public enum Operation: Sendable { case read, write, readLink, list, create, rename, remove, sync, mount, unmount }

    public let operation: Operation
    public let path: String
    public let errno: Int32
    /// A write that the kernel accepted only in part.
    public let shortWrite: Bool

    public init(_ operation: Operation, _ path: String, errno: Int32, shortWrite: Bool = false) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.shortWrite = shortWrite
    }

    public var description: String {
        let verb: String
        switch operation {
        case .read: verb = "read"
        case .write: verb = "write"
        case .readLink: verb = "read link"
        case .list: verb = "list"
        case .create: verb = "create"
        case .rename: verb = "rename to"
        case .remove: verb = "remove"
        case .sync: verb = "sync"
        case .mount: verb = "mount efivarfs on"
        case .unmount: verb = "unmount"
        }
        let cause = shortWrite ? "short write" : errorText(errno)
        return "could not " + verb + " '" + path + "': " + cause
    }
}

/// `strerror` text for an errno value.
public func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error " + decimalString(Int(code)) }
    return String(cString: text)
}

/// Calls `call` again for as long as it fails with EINTR: the one retry policy for
/// every system call of both binaries. `call` returns a negative value on failure.
@inline(__always)
public func retryingInterrupts<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || eb_errno() != EINTR { return result }
    }
}

/// The file operations earlybind needs, each a thin wrapper of one POSIX call.
/// Tests substitute implementations that record or fail.
public protocol FileIO {
    /// `open(O_RDONLY)` + `read` to EOF.
    func read(_ path: String) throws(SystemError) -> [UInt8]
    /// `open(O_WRONLY)` without `O_CREAT` + one `write` of all bytes: sysfs attributes
    /// act on each write, so the bytes must go in one call.
    func write(_ path: String, _ bytes: [UInt8]) throws(SystemError)
    /// `readlink`.
    func readLink(_ path: String) throws(SystemError) -> [UInt8]
    /// `opendir`/`readdir`, without `.` and `..`, in no particular order.
    func list(_ path: String) throws(SystemError) -> [String]
    /// `lstat` succeeds.
    func exists(_ path: String) -> Bool
}

/// The real file operations.
public struct PosixIO: FileIO {
    public init() {}

    public func read(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = eb_open(path, O_RDONLY, 0)
        if fd < 0 { throw SystemError(.read, path, errno: eb_errno()) }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = retryingInterrupts { buffer.withUnsafeMutableBytes { CKmod.read(fd, $0.baseAddress, $0.count) } }
            if count < 0 { throw SystemError(.read, path, errno: eb_errno()) }
            if count == 0 { return result }
            result.append(contentsOf: buffer[0..<count])
            // A short read of a regular or sysfs file is its end: spare the read that returns 0.
            if count < buffer.count { return result }
        }
    }

    public func write(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        let fd = eb_open(path, O_WRONLY, 0)
        if fd < 0 { throw SystemError(.write, path, errno: eb_errno()) }
        defer { close(fd) }
        let written = retryingInterrupts { bytes.withUnsafeBytes { CKmod.write(fd, $0.baseAddress, $0.count) } }
        if written < 0 { throw SystemError(.write, path, errno: eb_errno()) }
        if written != bytes.count { throw SystemError(.write, path, errno: 0, shortWrite: true) }
    }

    public func readLink(_ path: String) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { raw in
            raw.withMemoryRebound(to: CChar.self) { readlink(path, $0.baseAddress!, $0.count) }
        }
        if count < 0 { throw SystemError(.readLink, path, errno: eb_errno()) }
        return Array(buffer[0..<count])
    }

    public func list(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError(.list, path, errno: eb_errno()) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = String(cString: eb_dirent_name(entry))
            if name.hasBytes(".") || name.hasBytes("..") { continue }
            names.append(name)
        }
        return names
    }

    public func exists(_ path: String) -> Bool {
        eb_path_exists(path) != 0
    }

    /// Creates or replaces a regular file so that no reader ever sees half of it:
    /// `open(O_CREAT|O_EXCL|O_NOFOLLOW)` of `PATH.earlybind-new` beside it, `write` of
    /// every byte, `fchmod`, `fsync`, `rename`, then `fsync` of the directory. The
    /// temporary file is removed on failure. Never follows a symlink at `path` itself
    /// (rename replaces the link); the caller vouches for the directories above it.
    public func replaceFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(SystemError) {
        let temporary = path + ".earlybind-new"  // uninstall removes one a kill left behind
        _ = unlink(temporary)
        let fd = eb_open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)
        if fd < 0 { throw SystemError(.create, temporary, errno: eb_errno()) }
        var failure: SystemError? = nil
        var offset = 0
        while offset < bytes.count && failure == nil {
            let written = retryingInterrupts {
                bytes[offset...].withUnsafeBytes { CKmod.write(fd, $0.baseAddress, $0.count) }
            }
            if written < 0 { failure = SystemError(.write, temporary, errno: eb_errno()) } else { offset += written }
        }
        if failure == nil && fchmod(fd, mode) != 0 { failure = SystemError(.write, temporary, errno: eb_errno()) }
        if failure == nil && fsync(fd) != 0 { failure = SystemError(.sync, temporary, errno: eb_errno()) }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = SystemError(.rename, path, errno: eb_errno()) }
        if let failure {
            _ = unlink(temporary)
            throw failure
        }
        // Makes the rename itself durable.
        let directory = eb_open(parentDirectory(path), O_RDONLY | O_DIRECTORY, 0)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    /// `mkdir` of each missing directory of `path`, like `mkdir -p`; a relative path stays relative.
    public func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        var current = path.utf8.first == ASCII.slash ? "/" : ""
        for component in path.utf8.split(separator: ASCII.slash) {
            current += String(decoding: component, as: UTF8.self)
            if mkdir(current, mode) != 0 && eb_errno() != EEXIST { throw SystemError(.create, current, errno: eb_errno()) }
            current += "/"
        }
    }
}

/// The directory a path names its file in: everything before the last `/`, `/` for a
/// file at the top, `.` for a bare name.
public func parentDirectory(_ path: String) -> String {
    let bytes = Array(path.utf8)
    guard let slash = bytes.lastIndex(of: ASCII.slash) else { return "." }
    return slash == 0 ? "/" : String(decoding: bytes[0..<slash], as: UTF8.self)
}
