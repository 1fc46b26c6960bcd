import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// The machine a command looks at: sysfs at one path, everything else under a root.
struct Host {
    let root: InstallRoot
    let sysfs: Sysfs<CachingIO>

    init(root: InstallRoot, sysfsRoot: String) {
        self.root = root
        var trimmed = sysfsRoot
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        sysfs = Sysfs(root: trimmed, io: CachingIO())
    }

    var configPath: String { root.resolve(Config.defaultPath) }

    /// A file of the target system, or nil when it is absent or unreadable.
    func file(_ absolute: String) -> [UInt8]? {
        try? PosixIO().read(root.resolve(absolute))
    }

    /// A /proc file: a staged root's copy when it has one, else this machine's.
    func procFile(_ absolute: String) -> [UInt8]? {
        if !root.isSystemRoot, let staged = file(absolute) { return staged }
        return try? PosixIO().read(absolute)
    }

    /// Where the running processes are listed: a staged root's proc/ when it has one.
    var procRoot: String {
        !root.isSystemRoot && PosixIO().exists(root.resolve("/proc/1")) ? root.resolve("/proc") : "/proc"
    }

    /// The kernel command line, split into words.
    var cmdline: [String] {
        procFile("/proc/cmdline").map { String(decoding: $0, as: UTF8.self).split(whereSeparator: \.isWhitespace).map(String.init) } ?? []
    }

    /// `vendor_id` of the first CPU: GenuineIntel, AuthenticAMD, or nil.
    var cpuVendor: String? {
        guard let bytes = procFile("/proc/cpuinfo") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("vendor_id") {
            return line.split(separator: ":").last.map { $0.trimmingBlanks() }
        }
        return nil
    }

    /// Modification time in seconds, or nil.
    func modificationTime(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mtim.tv_sec
    }

    func list(_ absolute: String) -> [String] {
        ((try? PosixIO().list(root.resolve(absolute))) ?? []).sorted()
    }
}
