import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// What the manual vfio recipe leaves behind on a root, and how each piece interacts
/// with earlybind: `options vfio-pci ids=…`, `softdep … pre: vfio-pci` and
/// `blacklist nouveau|nvidia|amdgpu|radeon` in /etc/modprobe.d/*.conf, vfio lines in
/// /etc/initramfs-tools/modules, and `vfio-pci.ids=` / `rd.driver.pre=vfio-pci` on the
/// kernel command line: this boot's (/proc/cmdline), GRUB's (GRUB_CMDLINE_LINUX and
/// _DEFAULT in /etc/default/grub and /etc/default/grub.d/*.cfg) and kernel-install's
/// (/etc/kernel/cmdline). Reads the root only; `Migration` edits what conflicts.
struct RecipeLeftovers {
    enum Kind: String {
        /// `options vfio-pci ids=…` in modprobe.d.
        case modprobeIDs = "modprobe_ids"
        /// `softdep DRIVER pre: vfio-pci`.
        case softdep
        /// `blacklist nouveau` and the like.
        case blacklist
        /// A vfio module in /etc/initramfs-tools/modules.
        case initramfsModule = "initramfs_module"
        /// `vfio-pci.ids=` on a kernel command line.
        case cmdlineIDs = "cmdline_ids"
        /// `rd.driver.pre=vfio-pci` on a kernel command line.
        case cmdlineDriverPre = "cmdline_driver_pre"
    }

    struct Leftover: Equatable {
        /// Absolute path on the target system.
        let file: String
        let line: Int
        let kind: Kind
        /// The line (modprobe.d, modules) or the word (a command line).
        let text: String
        let effect: String
        /// The IDs an `ids=` list names.
        let ids: [String]
        /// Whether it works against earlybind's address rules (install warns about it).
        let conflicts: Bool

        var json: JSON {
            .object([("file", .string(file)), ("line", .int(line)), ("kind", .string(kind.rawValue)),
                     ("text", .string(text)), ("effect", .string(effect))])
        }

        var location: String { file + ":" + String(line) }
    }

    static let modprobeDirectory = "/etc/modprobe.d"
    static let initramfsModulesPath = "/etc/initramfs-tools/modules"
    static let procCmdlinePath = "/proc/cmdline"
    /// Host drivers the recipe blacklists, with the cards they are for.
    static let blacklistedDrivers: [(prefix: String, vendor: String)] = [
        ("nouveau", "NVIDIA"), ("nvidia", "NVIDIA"), ("amdgpu", "AMD"), ("radeon", "AMD"),
    ]

    let all: [Leftover]
    var conflicting: [Leftover] { all.filter(\.conflicts) }

    /// `configuredIDs` ("vvvv:dddd", lower case): the IDs of the devices the config
    /// selects; an `ids=` list naming one of them conflicts.
    init(root: InstallRoot, configuredIDs: Set<String>) {
        var found: [Leftover] = []
        let read = { (path: String) -> [UInt8]? in try? PosixIO().read(root.resolve(path)) }
        for name in RecipeLeftovers.list(root, RecipeLeftovers.modprobeDirectory) where name.hasSuffix(".conf") {
            let path = RecipeLeftovers.modprobeDirectory + "/" + name
            if let bytes = read(path) { found += RecipeLeftovers.modprobe(path, bytes, configuredIDs) }
        }
        if let bytes = read(RecipeLeftovers.initramfsModulesPath) {
            found += RecipeLeftovers.initramfsModules(RecipeLeftovers.initramfsModulesPath, bytes, configuredIDs)
        }
        if let bytes = read(RecipeLeftovers.procCmdlinePath) {
            found += RecipeLeftovers.commandLine(RecipeLeftovers.procCmdlinePath, bytes, configuredIDs, booted: true)
        }
        for path in GrubDefaults.files(root) {
            if let bytes = read(path) { found += RecipeLeftovers.commandLine(path, bytes, configuredIDs, booted: false) }
        }
        if let bytes = read(Layout.kernelCmdlinePath) {
            found += RecipeLeftovers.commandLine(Layout.kernelCmdlinePath, bytes, configuredIDs, booted: false)
        }
        all = found
    }

    static func list(_ root: InstallRoot, _ directory: String) -> [String] {
        ((try? PosixIO().list(root.resolve(directory))) ?? []).sorted()
    }

    // MARK: Parsing

    static func isVFIOPCI(_ name: Substring) -> Bool { name == "vfio-pci" || name == "vfio_pci" }

    /// The IDs of an `ids=` value, lower case.
    static func ids(_ value: Substring) -> [String] {
        value.split(separator: ",").map { $0.lowercased() }.filter { !$0.isEmpty }
    }

    static func lines(_ bytes: [UInt8]) -> [(number: Int, text: String)] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated().map { ($0.offset + 1, String($0.element)) }
    }

    static func words(_ line: String) -> [Substring] {
        line.split { $0 == " " || $0 == "\t" || $0 == "\r" }
    }

    static func idsEffect(_ ids: [String], configuredIDs: Set<String>, where place: String, migratable: Bool = true) -> String {
        let list = ids.joined(separator: ",")
        let named = ids.filter(configuredIDs.contains)
        let note = named.isEmpty ? "; it names no device the config selects"
            : "; it names configured \(named.joined(separator: ", "))"
                + (migratable ? ": 'earlybind install --migrate' removes \(named.count == 1 ? "it" : "them")" : "")
        return "ids=\(list) takes every device with \(ids.count == 1 ? "that ID" : "those IDs"), the host's too, \(place)" + note
    }

    static func modprobe(_ path: String, _ bytes: [UInt8], _ configuredIDs: Set<String>) -> [Leftover] {
        var found: [Leftover] = []
        for (number, text) in lines(bytes) {
            let words = words(text)
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            let line = Substring(text).trimmingBlanks()
            if first == "options", words.count > 1, isVFIOPCI(words[1]) {
                let listed = words.dropFirst(2).filter { $0.hasPrefix("ids=") }.flatMap { ids($0.dropFirst(4)) }
                guard !listed.isEmpty else { continue }
                let effect = idsEffect(listed, configuredIDs: configuredIDs, where: "before earlybind runs — earlybind loads vfio-pci "
                    + "with an empty ids= itself, but a vfio-pci already loaded by modprobe.d or the initramfs modules file uses these")
                found.append(Leftover(file: path, line: number, kind: .modprobeIDs, text: line, effect: effect, ids: listed,
                                      conflicts: listed.contains(where: configuredIDs.contains)))
            } else if first == "softdep", words.dropFirst(2).contains(where: isVFIOPCI) {
                found.append(Leftover(file: path, line: number, kind: .softdep, text: line,
                                      effect: "loads vfio-pci before \(words.count > 1 ? words[1] : "the driver"): harmless with earlybind, which binds by address before any driver probes",
                                      ids: [], conflicts: false))
            } else if first == "blacklist", words.count > 1,
                      let match = blacklistedDrivers.first(where: { words[1].hasPrefix($0.prefix) }) {
                found.append(Leftover(file: path, line: number, kind: .blacklist, text: line,
                                      effect: "\(words[1]) never loads by itself: the host's driver stays off every \(match.vendor) card, the host's too, not just the configured ones; earlybind makes this unneeded (reported only, never removed)",
                                      ids: [], conflicts: true))
            }
        }
        return found
    }

    static func initramfsModules(_ path: String, _ bytes: [UInt8], _ configuredIDs: Set<String>) -> [Leftover] {
        var found: [Leftover] = []
        for (number, text) in lines(bytes) {
            let words = words(text)
            guard let first = words.first, first.hasPrefix("vfio") else { continue }
            let listed = words.dropFirst().filter { $0.hasPrefix("ids=") }.flatMap { ids($0.dropFirst(4)) }
            let effect = listed.isEmpty
                ? "puts \(first) in the initramfs and loads it early, with the options modprobe.d gives it: harmless on its own, earlybind brings the vfio modules itself"
                : idsEffect(listed, configuredIDs: configuredIDs, where: "as the initramfs loads \(first) (edit this line by hand)", migratable: false)
            found.append(Leftover(file: path, line: number, kind: .initramfsModule, text: Substring(text).trimmingBlanks(), effect: effect,
                                  ids: listed, conflicts: listed.contains(where: configuredIDs.contains)))
        }
        return found
    }

    /// The words of a command line: /proc/cmdline and /etc/kernel/cmdline whole (comments
    /// aside), GRUB files only in GRUB_CMDLINE_LINUX(_DEFAULT) values.
    static func commandLine(_ path: String, _ bytes: [UInt8], _ configuredIDs: Set<String>, booted: Bool) -> [Leftover] {
        var found: [Leftover] = []
        let isGrub = path.hasPrefix("/etc/default/")
        for (number, text) in lines(bytes) {
            var value = Substring(text)
            if isGrub {
                guard let assigned = GrubDefaults.commandLineValue(value) else { continue }
                value = assigned
            } else if text.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("#") {
                continue
            }
            for word in value.split(whereSeparator: { " \t\r\"'".contains($0) }) {
                if let listed = cmdlineIDs(word) {
                    let effect = idsEffect(listed, configuredIDs: configuredIDs, where: booted
                        ? "at this boot: vfio-pci bound them by ID before earlybind's address rules ran"
                        : "at boot: vfio-pci binds them by ID before earlybind's address rules run", migratable: !booted)
                    found.append(Leftover(file: path, line: number, kind: .cmdlineIDs, text: String(word), effect: effect,
                                          ids: listed, conflicts: listed.contains(where: configuredIDs.contains)))
                } else if word.hasPrefix("rd.driver.pre="), word.dropFirst(14).split(separator: ",").contains(where: isVFIOPCI) {
                    found.append(Leftover(file: path, line: number, kind: .cmdlineDriverPre, text: String(word),
                                          effect: "dracut loads vfio-pci early, with whatever ids= modprobe.d gives it: harmless on its own with earlybind",
                                          ids: [], conflicts: false))
                }
            }
        }
        return found
    }

    /// The IDs of a `vfio-pci.ids=` (or `vfio_pci.ids=`) word; nil for any other word.
    static func cmdlineIDs(_ word: Substring) -> [String]? {
        for prefix in ["vfio-pci.ids=", "vfio_pci.ids="] where word.hasPrefix(prefix) {
            return ids(word.dropFirst(prefix.count))
        }
        return nil
    }
}

extension RecipeLeftovers {
    /// The IDs of the devices the config selects, "vvvv:dddd": those it names, and those
    /// of every device the boot binder will bind (a card's other functions included).
    static func configuredIDs(_ host: Host) -> Set<String> {
        let configured = Configured(host: host)
        var ids = Set<String>()
        for entry in configured.config?.entries ?? [] {
            switch entry.selector {
            case .id(let id): ids.insert(id.description)
            case .address(_, let expected?): ids.insert(expected.description)
            case .address: break
            }
        }
        for decision in configured.plan?.decisions ?? [] {
            if case .bind = decision.action, let id = decision.device?.id { ids.insert(id.description) }
        }
        return ids
    }

    init(_ host: Host) {
        self.init(root: host.root, configuredIDs: RecipeLeftovers.configuredIDs(host))
    }
}
