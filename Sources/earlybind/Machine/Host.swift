import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// The machine a command looks at: sysfs at one path, everything else under a root.
///
/// This is the one place that decides where each fact about the machine comes from.
/// With the root `/` they are this machine's: `/proc`, the running kernel (uname) and
/// the kernel log (syslog(2)). With any other root the staged root stands for the whole
/// machine and nothing is borrowed from this one: `ROOT/proc/cmdline`, `ROOT/proc/cpuinfo`,
/// `ROOT/proc/PID/` for the processes, `ROOT/proc/sys/kernel/osrelease` for the kernel
/// release (and so `ROOT/lib/modules/RELEASE`, looked up by `KmodLoader` in that root alone), and
/// `ROOT/dev/kmsg`, read as a file of kmsg records, for the kernel log. What the staged
/// root lacks is unknown, as on a machine without it. Device names are not a
/// fact of the machine but a database: they come from this machine's pci.ids unless
/// `--pci-ids` names another.
struct Host {
    let root: InstallRoot
    let sysfs: Sysfs<CachingIO>
    /// The pci.ids to name devices from; nil for the system's (`PCINames.databasePaths`).
    let pciIDsPath: String?

    init(root: InstallRoot, sysfsRoot: String, pciIDsPath: String? = nil) {
        self.root = root
        var trimmed = sysfsRoot
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        sysfs = Sysfs(root: trimmed, io: CachingIO())
        self.pciIDsPath = pciIDsPath
    }

    var configPath: String { root.resolve(Config.defaultPath) }

    /// Whether /proc and sysfs describe one machine: not so for this machine's /proc beside
    /// another tree's `--sysfs`. Facts that tie one to the other (a BAR in /proc/iomem, a
    /// group node a process holds, the kernel release for sysfs's files) are unknown then.
    var procMatchesSysfs: Bool { !root.isSystemRoot || sysfs.root == "/sys" }

    /// A file of the target system, or nil when it is absent or unreadable.
    func file(_ absolute: String) -> [UInt8]? {
        try? PosixIO().read(root.resolve(absolute))
    }

    /// A /proc file: this machine's with the root /, else only the staged root's copy.
    func procFile(_ absolute: String) -> [UInt8]? {
        file(absolute)
    }

    /// Where the running processes are listed: /proc, or the staged root's proc/
    /// (absent: no processes).
    var procRoot: String { root.resolve("/proc") }

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

    /// Where a staged root keeps its kernel release, as the kernel has it.
    static let releasePath = "/proc/sys/kernel/osrelease"

    /// The release of the running kernel (`uname -r`): this machine's with the root /,
    /// else the staged root's proc/sys/kernel/osrelease; nil when that is absent or empty.
    var kernelRelease: String? {
        if root.isSystemRoot {
            var uts = utsname()
            uname(&uts)
            return withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let release = procFile(Host.releasePath).map { String(decoding: $0, as: UTF8.self).trimmingNewlines() } ?? ""
        // A '/' would take lib/modules/RELEASE out of lib/modules.
        return release.isEmpty || release.contains("/") ? nil : release
    }

    /// The running kernel's module directory, ROOT/lib/modules/RELEASE; nil when the release is unknown.
    var modulesDirectory: String? {
        kernelRelease.map { root.resolve("/lib/modules/" + $0) }
    }

    /// libkmod's configuration directories for the root: its defaults under a staged root,
    /// nil (libkmod's own) for this machine.
    var modprobeDirectories: [String]? {
        guard !root.isSystemRoot else { return nil }
        return ["/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d"].map(root.resolve)
    }

    /// The kernel log: /dev/kmsg (read through syslog(2)), or the staged root's dev/kmsg as a file.
    var kernelLogPath: String { root.resolve("/dev/kmsg") }

    /// Names for devices, from `--pci-ids` or the system's pci.ids. Reads the whole file: ask once.
    func pciNames() -> PCINames {
        PCINames(databasePaths: pciIDsPath.map { [$0] } ?? PCINames.databasePaths)
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

    /// The target of a symlink of the target system (`/dev/mapper/root`), or nil.
    func link(_ absolute: String) -> String? {
        (try? PosixIO().readLink(root.resolve(absolute))).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A file under sysfs (`class/block/dm-0/dm/name`), or nil.
    func sysfsFile(_ relative: String) -> String? {
        (try? sysfs.io.read(sysfs.root + "/" + relative)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The target of a symlink under sysfs (`dev/block/259:2`), or nil.
    func sysfsLink(_ relative: String) -> String? {
        (try? sysfs.io.readLink(sysfs.root + "/" + relative)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The entries of a sysfs directory, sorted; none when it is absent.
    func sysfsList(_ relative: String) -> [String] {
        ((try? sysfs.io.list(sysfs.root + "/" + relative)) ?? []).sorted()
    }

    func sysfsExists(_ relative: String) -> Bool {
        sysfs.io.exists(sysfs.root + "/" + relative)
    }
}
