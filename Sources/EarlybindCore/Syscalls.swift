import CKmod

/// A failed system call on a path, described like kmod does:
/// `could not write '/sys/bus/pci/drivers_probe': No such device`.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public enum Operation: Sendable { case read, write, readLink, list, create, rename, remove, sync }

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
            let count = buffer.withUnsafeMutableBytes { CKmod.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if eb_errno() == EINTR { continue }
                throw SystemError(.read, path, errno: eb_errno())
            }
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
        var written: Int
        repeat {
            written = bytes.withUnsafeBytes { CKmod.write(fd, $0.baseAddress, $0.count) }
        } while written < 0 && eb_errno() == EINTR
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
}
