import EarlybindCore

/// The way from the boot-loader files to this boot's command line, read from the
/// root's files alone: which boot loader is in use, whether this boot's /proc/cmdline
/// holds the flags install keeps in those files (`Manifest.bootFlags`), and where
/// install's change has not reached what the boot loader reads at boot. Warnings only:
/// the IOMMU's own state is status's to judge.
struct BootPath {
    enum Loader: String {
        /// Proxmox's proxmox-boot-tool, which copies kernels, images and the command line
        /// (/etc/kernel/cmdline, or GRUB's files in its GRUB mode) to the ESPs it keeps.
        case proxmox = "proxmox-boot-tool"
        /// GRUB reading Boot Loader Specification entries, whose `options` grubby edits (Fedora, RHEL).
        case grubby
        /// GRUB with a grub.cfg that update-grub (grub-mkconfig) writes from /etc/default/grub(.d).
        case grub
        /// systemd-boot or unified kernel images: kernel-install writes the entries from /etc/kernel/cmdline.
        case kernelInstall = "kernel-install"

        var name: String {
            switch self {
            case .proxmox: return "Proxmox's proxmox-boot-tool"
            case .grubby: return "GRUB with BLS entries (grubby)"
            case .grub: return "GRUB"
            case .kernelInstall: return "kernel-install (systemd-boot, unified kernel images)"
            }
        }
    }

    /// One flag install keeps: whether the boot loader's files set it, and this boot's
    /// command line (nil when there is none to read).
    struct Flag {
        let flag: String
        let configured: Bool
        let booted: Bool?
    }

    /// A file the boot loader reads at boot that does not have install's change yet.
    struct Stale {
        let path: String
        let reason: String
    }

    let loader: Loader?
    /// The files the command line comes from, as the boot loader reads them.
    let sources: [String]
    /// What carries a change of those files to the boot.
    let updateCommand: String?
    let flags: [Flag]
    let stale: [Stale]
    /// Whether what the boot loader reads at boot could be read too (grub.cfg, BLS entries):
    /// when it has every flag, a reboot is all that is left.
    let verified: Bool

    /// `manifest`: install's, as status read it once for all its parts.
    init(host: Host, manifest: Manifest?) {
        let root = host.root
        let exists = { (path: String) in PosixIO().exists(root.resolve(path)) }
        let grubConfig = Layout.grubConfigPaths.first(where: exists)
        let entries = Layout.bootEntryDirectories.flatMap { directory in
            host.list(directory).filter { $0.hasSuffix(".conf") }.map { directory + "/" + $0 }
        }
        let blsEntries = entries.filter { $0.hasPrefix(Layout.bootEntryDirectories[0] + "/") }
        let grubFiles = GrubDefaults.files(root, includingEarlybind: true).filter(exists)
        let hasKernelCmdline = exists(Layout.kernelCmdlinePath)

        let loader: Loader?
        if exists(Layout.proxmoxBootUUIDsPath) {
            loader = .proxmox
        } else if !blsEntries.isEmpty && (Layout.grubbyPaths.contains(where: exists) || BootPath.enablesBLS(host)) {
            loader = .grubby
        } else if exists(Layout.grubDefaultsPath) && (grubConfig != nil || !hasKernelCmdline) {
            loader = .grub
        } else {
            loader = hasKernelCmdline ? .kernelInstall : nil
        }
        self.loader = loader

        // The words each source gives the kernel; for BLS entries, only what every entry has.
        let kernelCmdlineWords = host.file(Layout.kernelCmdlinePath).map { bytes in
            BootLoaderFlags.commandLineLines(bytes).flatMap { BootLoaderFlags.words($0.text).map(String.init) }
        } ?? []
        let grubWords = GrubDefaults.commandLine(root, includingEarlybind: true).map(\.text)
        let configured: (String) -> Bool
        switch loader {
        case .proxmox where hasKernelCmdline, .kernelInstall:
            sources = [Layout.kernelCmdlinePath]
            configured = { BootLoaderFlags.isSet($0, in: kernelCmdlineWords) }
        case .proxmox, .grub:
            sources = grubFiles
            configured = { BootLoaderFlags.isSet($0, in: grubWords) }
        case .grubby:
            sources = blsEntries
            let options = blsEntries.map { BootPath.entryOptions(host, $0) }
            configured = { flag in options.allSatisfy { BootLoaderFlags.isSet(flag, in: $0) } }
        case nil:
            sources = []
            configured = { _ in false }
        }

        let cmdline = host.cmdline
        let wanted = manifest?.bootFlags ?? []
        flags = wanted.map { flag in
            Flag(flag: flag, configured: configured(flag), booted: cmdline.isEmpty ? nil : BootLoaderFlags.isSet(flag, in: cmdline))
        }
        let carried = wanted.filter(configured)

        var stale: [Stale] = []
        var verified = false
        switch loader {
        case .grub:
            updateCommand = grubConfig == Layout.grubConfigPaths[1] ? "grub2-mkconfig -o " + Layout.grubConfigPaths[1] : BootCommand.updateGrub.commandLine
            if let grubConfig {
                verified = true
                let linuxLines = BootPath.linuxLines(host.file(grubConfig) ?? [])
                let dropInTime = exists(Layout.grubDropInPath) ? host.modificationTime(root.resolve(Layout.grubDropInPath)) : nil
                if let dropInTime, let configTime = host.modificationTime(root.resolve(grubConfig)), configTime < dropInTime {
                    stale.append(Stale(path: grubConfig, reason: "older than \(Layout.grubDropInPath)"))
                } else if let lacking = carried.first(where: { flag in !linuxLines.contains { BootLoaderFlags.isSet(flag, in: $0) } }) {
                    stale.append(Stale(path: grubConfig, reason: "no linux line has \(lacking), which GRUB's files set"))
                }
            }
        case .proxmox:
            updateCommand = BootCommand.proxmoxBootRefresh.commandLine
            // Its ESPs are mounted only while it runs: install's record is what tells.
            if (manifest?.pending ?? []).contains(.proxmoxBootRefresh) {
                stale.append(Stale(path: Layout.proxmoxBootUUIDsPath, reason: "install's '\(BootCommand.proxmoxBootRefresh.commandLine)' has not succeeded since it changed the boot files"))
            }
        case .kernelInstall:
            updateCommand = BootPath.kernelInstallCommand(host)
            verified = !entries.isEmpty
            for entry in entries {
                if let lacking = carried.first(where: { !BootLoaderFlags.isSet($0, in: BootPath.entryOptions(host, entry)) }) {
                    stale.append(Stale(path: entry, reason: "its options lack \(lacking), which \(Layout.kernelCmdlinePath) has"))
                }
            }
        case .grubby:
            updateCommand = "grubby --update-kernel=ALL --args=\"" + (wanted.isEmpty ? "FLAGS" : wanted.joined(separator: " ")) + "\""
            verified = true
        case nil:
            updateCommand = nil
        }
        self.stale = stale
        self.verified = verified
        self.cmdline = cmdline
    }

    /// This boot's command line.
    private let cmdline: [String]

    var checks: [StatusCheck] {
        var checks: [StatusCheck] = []
        for flag in flags where flag.booted == false {
            let name = String(flag.flag.prefix { $0 != "=" }) + "="
            let instead = cmdline.last { $0.hasPrefix(name) && flag.flag != Layout.firmwareFramebufferFlag }.map { " (it has \($0))" } ?? ""
            let place = flag.configured ? "the boot loader's files set it" : sources.isEmpty ? "no boot loader's files were found" : "\(sources.joined(separator: ", ")) do not set it"
            checks.append(.warning("cmdline_flag_missing", nil, "this boot's command line lacks \(flag.flag)\(instead), one of the flags earlybind install keeps in the boot loader's files; \(place)",
                                   fix: fix(flag)))
        }
        for file in stale {
            checks.append(.warning("boot_loader_not_updated", nil, "\(file.path): \(file.reason), so the next boot does not have earlybind install's change",
                                   fix: updateCommand.map { "run '\($0)', then reboot" }))
        }
        return checks
    }

    /// The exact commands that carry `flag` to the next boot.
    private func fix(_ flag: Flag) -> String {
        guard let loader, let updateCommand else { return "add \(flag.flag) to the boot loader's kernel command line, then reboot" }
        if loader == .grubby {
            return flag.configured ? "reboot" : "run 'grubby --update-kernel=ALL --args=\"\(flag.flag)\"', then reboot"
        }
        if flag.configured { return verified && stale.isEmpty ? "reboot" : "run '\(updateCommand)', then reboot" }
        // install runs update-grub and proxmox-boot-tool itself, never kernel-install.
        return loader == .kernelInstall ? "run 'earlybind install' (it adds \(flag.flag) to \(Layout.kernelCmdlinePath)), then '\(updateCommand)', then reboot"
            : "run 'earlybind install' (it adds \(flag.flag) and runs '\(updateCommand)'), then reboot"
    }

    var json: JSON {
        .object([
            ("loader", .optional(loader?.rawValue)),
            ("sources", .array(sources.map(JSON.string))),
            ("update_command", .optional(updateCommand)),
            ("flags", .array(flags.map { flag in
                .object([("flag", .string(flag.flag)), ("configured", .bool(flag.configured)),
                         ("booted", flag.booted.map(JSON.bool) ?? .null)])
            })),
            ("not_updated", .array(stale.map { .object([("path", .string($0.path)), ("reason", .string($0.reason))]) })),
        ])
    }

    var lines: [String] {
        var lines = ["boot path"]
        guard let loader else { return lines + labelled("boot loader", "none found (no GRUB, \(Layout.kernelCmdlinePath), BLS entries or proxmox-boot-tool)") }
        lines += labelled("boot loader", loader.name + ": " + sources.joined(separator: ", "))
        if let updateCommand { lines += labelled("updated by", updateCommand) }
        for flag in flags {
            let booted = flag.booted.map { $0 ? "on this boot's command line" : "missing from this boot's command line" } ?? "this boot's command line is unknown"
            lines += labelled(flag.flag, (flag.configured ? "set in the boot loader's files, " : "not set in the boot loader's files, ") + booted)
        }
        for file in stale { lines += labelled("not updated", file.path + ": " + file.reason) }
        return lines
    }

    /// GRUB_ENABLE_BLSCFG=true in /etc/default/grub: GRUB reads BLS entries (Fedora's patch).
    private static func enablesBLS(_ host: Host) -> Bool {
        String(decoding: host.file(Layout.grubDefaultsPath) ?? [], as: UTF8.self).split(separator: "\n")
            .contains { $0.trimmingBlanks().filter { $0 != "\"" && $0 != "'" } == "GRUB_ENABLE_BLSCFG=true" }
    }

    /// The words of a BLS entry's `options` lines.
    private static func entryOptions(_ host: Host, _ entry: String) -> [String] {
        String(decoding: host.file(entry) ?? [], as: UTF8.self).split(separator: "\n").flatMap { line -> [String] in
            let words = BootLoaderFlags.words(String(line))
            return words.first == "options" ? words.dropFirst().map(String.init) : []
        }
    }

    /// The words of each `linux` line of a grub.cfg, in order.
    private static func linuxLines(_ bytes: [UInt8]) -> [[String]] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let words = BootLoaderFlags.words(String(line))
            return ["linux", "linuxefi", "linux16"].contains(words.first ?? "") ? words.dropFirst().map(String.init) : nil
        }
    }

    /// kernel-install's command for the running kernel, with its image where the root has one.
    private static func kernelInstallCommand(_ host: Host) -> String {
        guard let release = host.kernelRelease else { return "kernel-install add $(uname -r) /lib/modules/$(uname -r)/vmlinuz" }
        let image = ["/boot/vmlinuz-" + release, "/lib/modules/" + release + "/vmlinuz"].first { PosixIO().exists(host.root.resolve($0)) }
        return "kernel-install add \(release) " + (image ?? "/lib/modules/" + release + "/vmlinuz")
    }
}
