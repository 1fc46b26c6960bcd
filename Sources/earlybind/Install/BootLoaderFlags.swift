import EarlybindCore

/// The IOMMU flags this CPU needs on the kernel command line, and the boot-loader files
/// that carry the missing ones: the GRUB drop-in and /etc/kernel/cmdline. Reads only.
struct BootLoaderFlags {
    let root: InstallRoot
    /// The flags this CPU needs, read once for both files.
    let needed: [String]
    private let files = FileWriter()

    init(root: InstallRoot) {
        self.root = root
        needed = (Host(root: root, sysfsRoot: "/sys").cpuVendor == "GenuineIntel" ? ["intel_iommu=on"] : []) + ["iommu=pt"]
    }

    /// The planned boot-loader files: the drop-in when /etc/default/grub lacks a flag,
    /// /etc/kernel/cmdline when it exists.
    func plannedFiles() throws -> [InstallPlan.File] {
        var planned: [InstallPlan.File] = []
        if let dropIn = grubDropIn() {
            planned.append(InstallPlan.File(path: Layout.grubDropInPath, content: Array(dropIn.utf8), mode: 0o644,
                                            ownedByEarlybind: true, createOnly: false))
        }
        if let cmdline = try kernelCommandLine() { planned.append(cmdline) }
        return planned
    }

    /// The drop-in with the `needed` flags /etc/default/grub does not already set; nil when none is missing.
    func grubDropIn() -> String? {
        let flags = missing(present: grubCommandLineWords())
        guard !flags.isEmpty else { return nil }
        return """
            \(Layout.marker): turns the IOMMU on for vfio-pci passthrough.
            GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT \(flags.joined(separator: " "))"

            """
    }

    /// The flags of `needed` that `present` does not set, either way.
    private func missing(present: [String]) -> [String] {
        needed.filter { flag in !present.contains { $0 == flag || $0.hasPrefix(flag.prefix { $0 != "=" } + "=") } }
    }

    /// /etc/kernel/cmdline (kernel-install, systemd-boot, unified kernel images) with the
    /// missing IOMMU flags appended to its last line that is not a comment, every other
    /// byte kept; nil when the file does not exist. It is the admin's file: install backs
    /// it up and uninstall puts it back byte for byte.
    private func kernelCommandLine() throws -> InstallPlan.File? {
        let path = root.resolve(Layout.kernelCmdlinePath)
        guard let current = try files.contents(path) else { return nil }
        var lines = String(decoding: current, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let isCommandLine = { (line: String) in
            let words = line.split(whereSeparator: \.isWhitespace)
            return !words.isEmpty && !words[0].hasPrefix("#")
        }
        let words = lines.filter(isCommandLine).flatMap { $0.split(whereSeparator: \.isWhitespace).map(String.init) }
        let flags = missing(present: words)
        var content = current
        if !flags.isEmpty {
            if let last = lines.lastIndex(where: isCommandLine) {
                lines[last] = String(lines[last].reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
                    + " " + flags.joined(separator: " ")
            } else {
                if lines.last == "" { lines.removeLast() }
                lines += [flags.joined(separator: " "), ""]
            }
            content = Array(lines.joined(separator: "\n").utf8)
        }
        return InstallPlan.File(path: Layout.kernelCmdlinePath, content: content, mode: files.mode(path) ?? 0o644,
                                ownedByEarlybind: false, createOnly: false)
    }

    /// Words of GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub.
    private func grubCommandLineWords() -> [String] {
        guard let bytes = try? files.contents(root.resolve(Layout.grubDefaultsPath)) else { return [] }
        var words: [String] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let assigned = GrubDefaults.commandLineValue(Substring(line.trimmingBlanks())) else { continue }
            let value = assigned.filter { $0 != "\"" && $0 != "'" }
            words += value.split(separator: " ").map(String.init)
        }
        return words
    }
}
