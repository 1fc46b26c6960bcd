import EarlybindCore

/// The kernel flags install manages: the IOMMU flags this machine's IOMMU needs and, with
/// --firmware-framebuffer-off, `initcall_blacklist=sysfb_init`; and the boot-loader
/// files that carry the missing ones: the GRUB drop-in and /etc/kernel/cmdline. Reads only.
struct BootLoaderFlags {
    let root: InstallRoot
    /// From the firmware's DMAR or IVRS table; the CPU vendor only where neither is visible.
    let iommu: IOMMUEvidence.Kind?
    /// The flags install keeps on the command line, read once for both files.
    let needed: [String]
    let framebufferOff: Bool
    private let files = FileWriter()

    init(host: Host, framebufferOff: Bool) {
        root = host.root
        self.framebufferOff = framebufferOff
        iommu = IOMMUEvidence.kind(of: host)
        needed = (iommu == .intel ? ["intel_iommu=on"] : []) + ["iommu=pt"]
            + (framebufferOff ? [Layout.firmwareFramebufferFlag] : [])
    }

    /// Whether `words`, in command-line order, set `flag`. The kernel adds up every
    /// `initcall_blacklist=` word; of the IOMMU flags it takes the last word of a name,
    /// which counts unless it turns the IOMMU off (another value is the admin's choice).
    static func isSet(_ flag: String, in words: [String]) -> Bool {
        let name = String(flag.prefix { $0 != "=" }) + "="
        let values = words.filter { $0.hasPrefix(name) }.map { $0.dropFirst(name.count).split(separator: ",") }
        if flag == Layout.firmwareFramebufferFlag {
            return values.contains { $0.contains(Substring(flag.dropFirst(name.count))) }
        }
        guard let last = values.last else { return false }
        return !last.contains("off")
    }

    /// The planned boot-loader files: the drop-in when GRUB's files lack a flag,
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

    /// The drop-in with the `needed` flags GRUB's other files do not set; nil when none is missing.
    func grubDropIn() -> String? {
        let flags = missing(present: GrubDefaults.commandLine(root).map(\.text))
        guard !flags.isEmpty else { return nil }
        let iommu = flags.contains { $0 != Layout.firmwareFramebufferFlag }
        let purpose = framebufferOff && flags.contains(Layout.firmwareFramebufferFlag)
            ? (iommu ? "turns the IOMMU on and " : "") + "keeps the firmware framebuffer off the boot GPU for vfio-pci passthrough (install --firmware-framebuffer-off)"
            : "turns the IOMMU on for vfio-pci passthrough"
        return """
            \(Layout.marker): \(purpose).
            GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT \(flags.joined(separator: " "))"

            """
    }

    /// One warning per word of GRUB's files and /etc/kernel/cmdline that turns the IOMMU
    /// off: intel_iommu=off is outdone by the intel_iommu=on earlybind adds after it (the
    /// kernel takes the last word); iommu=off and amd_iommu=off are not, whatever follows.
    func warnings() -> [String] {
        let grub = GrubDefaults.commandLine(root).map { (text: $0.text, location: $0.location) }
        let cmdline = commandLineWords().map { (text: $0.text, location: Layout.kernelCmdlinePath + ":" + String($0.line)) }
        var warnings: [String] = []
        for words in [grub, cmdline] {
            let texts = words.map(\.text)
            for (index, word) in words.enumerated() {
                let name = String(word.text.prefix { $0 != "=" })
                guard word.text.dropFirst(name.count + 1).split(separator: ",").contains("off") else { continue }
                if name == "intel_iommu" {
                    // Outdone already by a later intel_iommu= word, or needless on this CPU.
                    guard needed.contains("intel_iommu=on"), !texts[(index + 1)...].contains(where: { $0.hasPrefix("intel_iommu=") }) else { continue }
                    warnings.append("warning: \(word.location): '\(word.text)' turns the IOMMU off: earlybind adds intel_iommu=on after it, and the kernel takes the later word")
                } else if name == "iommu" || (name == "amd_iommu" && iommu != .intel) {
                    warnings.append("warning: \(word.location): '\(word.text)' turns the IOMMU off, and no later word turns it back on: remove it by hand")
                }
            }
        }
        return warnings
    }

    /// The flags of `needed` that `present` does not set.
    private func missing(present: [String]) -> [String] {
        needed.filter { !BootLoaderFlags.isSet($0, in: present) }
    }

    /// The command-line words of /etc/kernel/cmdline (comment lines aside), with their line numbers.
    private func commandLineWords() -> [(text: String, line: Int)] {
        guard let bytes = try? files.contents(root.resolve(Layout.kernelCmdlinePath)) else { return [] }
        return BootLoaderFlags.commandLineLines(bytes).flatMap { line in
            BootLoaderFlags.words(line.text).map { (String($0), line.number) }
        }
    }

    static func words(_ line: String) -> [Substring] { line.split(whereSeparator: \.isWhitespace) }

    /// The lines of /etc/kernel/cmdline that are command line, not comment, numbered from 1.
    static func commandLineLines(_ bytes: [UInt8]) -> [(number: Int, text: String)] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .map { ($0.offset + 1, String($0.element)) }.filter { isCommandLine($0.1) }
    }

    private static func isCommandLine(_ line: String) -> Bool {
        let words = words(line)
        return !words.isEmpty && !words[0].hasPrefix("#")
    }

    /// /etc/kernel/cmdline (kernel-install, systemd-boot, unified kernel images, Proxmox)
    /// with the missing flags appended to its last line that is not a comment, every other
    /// byte kept; nil when the file does not exist. It is the admin's file: install backs
    /// it up and uninstall puts it back byte for byte. Without --firmware-framebuffer-off,
    /// the framebuffer flag an earlier install appended (absent from the backup) goes again.
    private func kernelCommandLine() throws -> InstallPlan.File? {
        let path = root.resolve(Layout.kernelCmdlinePath)
        guard let current = try files.contents(path) else { return nil }
        var lines = String(decoding: current, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if !framebufferOff, let original = try files.contents(root.resolve(Layout.backupPath(Layout.kernelCmdlinePath))),
           !BootLoaderFlags.commandLineLines(original).contains(where: { BootLoaderFlags.words($0.text).contains(Substring(Layout.firmwareFramebufferFlag)) }) {
            lines = lines.map { line in
                BootLoaderFlags.isCommandLine(line)
                    ? line.split(separator: " ", omittingEmptySubsequences: false).filter { $0 != Layout.firmwareFramebufferFlag }.joined(separator: " ")
                    : line
            }
        }
        let words = lines.filter(BootLoaderFlags.isCommandLine).flatMap { BootLoaderFlags.words($0).map(String.init) }
        let flags = missing(present: words)
        if !flags.isEmpty {
            if let last = lines.lastIndex(where: BootLoaderFlags.isCommandLine) {
                lines[last] = String(lines[last].reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
                    + " " + flags.joined(separator: " ")
            } else {
                if lines.last == "" { lines.removeLast() }
                lines += [flags.joined(separator: " "), ""]
            }
        }
        return InstallPlan.File(path: Layout.kernelCmdlinePath, content: Array(lines.joined(separator: "\n").utf8), mode: files.mode(path) ?? 0o644,
                                ownedByEarlybind: false, createOnly: false)
    }
}
