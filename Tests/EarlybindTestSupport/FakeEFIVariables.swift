import EarlybindCore
import Foundation

/// A directory standing in for efivarfs, acting as the kernel's does where earlybind
/// relies on it: a variable earlybind creates is immutable (a rewrite or an unlink
/// fails with EPERM until the flag is cleared), nothing is listed or readable until
/// the file system is mounted, and any write can be made to fail (a full store: ENOSPC).
public final class FakeEFIVariables: EFIVariableIO {
    /// The sysfs root whose `firmware/efi/efivars` this is.
    public let sysfs: String
    public let directory: String
    public private(set) var mounted: Bool
    /// Every operation in order: "mount", "unmount", "mutable NAME", "write NAME DATA", "remove NAME".
    public private(set) var operations: [String] = []
    /// Errnos the next writes fail with, one each.
    public var writeFaults: [Int32] = []
    /// Removes the whole sysfs root when done (a store made for one test alone).
    public var removesSysfs = false
    private var immutable: Set<String> = []
    private let posix = PosixIO()

    /// A store holding one firmware variable, mounted or not (as in an initramfs).
    public init(sysfs: String, mounted: Bool = true) throws {
        self.sysfs = sysfs
        directory = TrialVariable<PosixIO>.variablesDirectory(sysfs: sysfs)
        self.mounted = mounted
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data([7, 0, 0, 0, 1, 0]).write(to: URL(fileURLWithPath: directory + "/BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c"))
    }

    deinit {
        if removesSysfs { try? FileManager.default.removeItem(atPath: sysfs) }
    }

    /// Empties the directory, as an unmounted efivarfs reads to the CLI, which runs outside
    /// this fake: it lists no variable, so the store counts as not mounted.
    public func removeEveryVariable() throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            try FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }

    /// The trial variable's data after the attribute bytes, as text; nil when absent.
    public var storedState: String? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + TrialVariable<PosixIO>.name) else { return nil }
        return String(decoding: data.dropFirst(4), as: UTF8.self)
    }

    /// Stores raw data as the trial variable (with the attribute bytes), immutable as efivarfs makes it.
    public func store(_ data: String) throws {
        let path = directory + "/" + TrialVariable<PosixIO>.name
        try Data([7, 0, 0, 0] + Array(data.utf8)).write(to: URL(fileURLWithPath: path))
        immutable.insert(path)
    }

    private func name(_ path: String) -> String { String(path.split(separator: "/").last ?? "") }

    private func inStore(_ path: String) -> Bool { path.hasPrefix(directory + "/") }

    public func read(_ path: String) throws(SystemError) -> [UInt8] {
        if inStore(path) && !mounted { throw SystemError(.read, path, errno: ENOENT) }
        return try posix.read(path)
    }

    public func write(_ path: String, _ bytes: [UInt8]) throws(SystemError) { try posix.write(path, bytes) }
    public func readLink(_ path: String) throws(SystemError) -> [UInt8] { try posix.readLink(path) }

    public func list(_ path: String) throws(SystemError) -> [String] {
        if path == directory && !mounted { return [] }
        return try posix.list(path)
    }

    public func exists(_ path: String) -> Bool { (!inStore(path) || mounted) && posix.exists(path) }

    public func makeMutable(_ path: String) throws(SystemError) {
        operations.append("mutable " + name(path))
        immutable.remove(path)
    }

    public func writeVariable(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        operations.append("write " + name(path) + " " + String(decoding: bytes.dropFirst(4), as: UTF8.self))
        guard mounted else { throw SystemError(.write, path, errno: ENOENT) }
        if immutable.contains(path) { throw SystemError(.write, path, errno: EPERM) }
        if !writeFaults.isEmpty { throw SystemError(.write, path, errno: writeFaults.removeFirst()) }
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw SystemError(.write, path, errno: EIO) }
        immutable.insert(path)
    }

    public func remove(_ path: String) throws(SystemError) {
        operations.append("remove " + name(path))
        if immutable.contains(path) { throw SystemError(.remove, path, errno: EPERM) }
        try? FileManager.default.removeItem(atPath: path)
    }

    public func mountEFIVariables(_ directory: String) throws(SystemError) {
        operations.append("mount")
        guard directory == self.directory else { throw SystemError(.mount, directory, errno: ENOENT) }
        mounted = true
    }

    public func unmount(_ directory: String) throws(SystemError) {
        operations.append("unmount")
        mounted = false
    }
}
