import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Lays earlybind into an initramfs-tools system, rebuilds and checks its images.
/// Every file goes through the manifest: backed up if it was there before, written
/// atomically, and only when its content changes.
struct Installer {
    static let configTemplate = """
        # earlybind: PCI devices to hand to vfio-pci at boot, one entry per line.
        #   [DOMAIN:]BB:DD.F [vvvv:dddd] [force]   one device, bound only while it has that ID
        #   vvvv:dddd [force]                      every device with that ID
        # Each device is bound together with the other endpoints of its IOMMU group.
        # 'force' takes the boot GPU or a group holding storage, network or a host bridge.
        # Run 'earlybind install' after editing to rebuild the initramfs.

        """

    /// One file install is responsible for.
    struct PlannedFile {
        let path: String
        let content: [UInt8]
        let mode: mode_t
        /// An existing file is replaced only if earlybind wrote it (it carries the marker).
        let ownedByEarlybind: Bool
        /// Written only when absent (the admin's config): never in the manifest.
        let createOnly: Bool
    }

    let root: InstallRoot
    let bootBinary: String
    /// nil: detected from what the root has installed.
    var backend: Backend? = nil
    var dryRun = false
    var writeGrubDropIn = true
    var rebuildInitramfs = true
    var output: (String) -> Void = { print($0) }
    private let files = FileWriter()
    private var faults = FaultPoints()

    init(root: InstallRoot, bootBinary: String) {
        self.root = root
        self.bootBinary = bootBinary
    }

    /// Commands run only on the real system; a staged root only reports what is needed.
    var runsCommands: Bool { root.isSystemRoot || FaultPoints.stagedRootActsAsSystem(root) }

    /// `earlybind-boot` from the directory of the running executable.
    static func bootBinaryBesideExecutable() throws -> String {
        guard let executable = try? PosixIO().readLink("/proc/self/exe") else {
            throw InstallError("could not find the running executable through /proc/self/exe")
        }
        let path = String(decoding: executable, as: UTF8.self)
        return String(path[..<path.lastIndex(of: "/")!]) + "/" + Layout.bootBinaryName
    }

    mutating func run() throws -> InstallOutcome {
        try InstallError.requireRoot(for: "install", root: root, dryRun: dryRun)
        try ConfigPermissions.check(root.resolve(Config.defaultPath))
        let backend = try resolvedBackend()
        let planned = try plan(backend)
        var manifest = try Manifest.load(root: root) ?? Manifest()
        // What is on disk, to save only on change: a forgotten /etc/kernel/cmdline counts too.
        let loaded = manifest
        var outcome = InstallOutcome(backend: backend, runsCommands: runsCommands)

        // What changes: planned files whose content differs, and files of ours no longer wanted.
        var writes: [(file: PlannedFile, current: [UInt8]?)] = []
        for file in planned {
            let current = try files.contents(root.resolve(file.path))
            if current == file.content || (file.createOnly && current != nil) { continue }
            writes.append((file, current))
            outcome.changes.append(FileChange(path: file.path, action: current == nil ? .created : .replaced))
        }
        // Files of an earlier install no longer planned: the GRUB drop-in once the flags are
        // in /etc/default/grub, the /etc copies once the package provides the hook.
        // A /etc/kernel/cmdline the admin has since deleted is forgotten, not brought back.
        if writeGrubDropIn && !PosixIO().exists(root.resolve(Layout.kernelCmdlinePath)) {
            manifest.files.removeAll { $0.path == Layout.kernelCmdlinePath }
        }
        let removals = manifest.files.filter { entry in
            !planned.contains { $0.path == entry.path } && (writeGrubDropIn || !Layout.bootLoaderPaths.contains(entry.path))
        }
        for entry in removals { outcome.changes.append(FileChange(path: entry.path, action: .removed)) }

        let inputs = initramfsInputs(planned)
        let rebuildWanted = manifest.inputs != inputs
        let grubState = planned.first { $0.path == Layout.grubDropInPath }.map { SHA256.hex($0.content) } ?? "none"
        // update-grub runs until it has succeeded for the drop-in as it is, even after a failed run.
        let grubWanted = writeGrubDropIn && manifest.grubApplied != grubState && BootCommand.updateGrub.isAvailable
        var commands: [BootCommand] = []
        if rebuildInitramfs && rebuildWanted { commands.append(backend.rebuild) }
        if grubWanted { commands.append(.updateGrub) }

        if dryRun {
            for (file, current) in writes {
                output(diff(current, file.content, path: file.path))
            }
            for entry in removals { output("would remove \(entry.path)") }
            outcome.rebuildNeeded = rebuildWanted
            outcome.commands = runsCommands ? commands : []
            outcome.commands.forEach { output("would run: \($0.commandLine)") }
            return outcome
        }

        // The manifest goes first: if we are killed below, it already names every file we
        // may have written, with the hashes of both the old and the new version.
        var edited: [(path: String, content: [UInt8])] = []
        for (file, current) in writes where !file.createOnly {
            let known = manifest.entry(file.path)
            var entry = known ?? Manifest.Entry(path: file.path, sha256: "")
            if let current {
                let hash = SHA256.hex(current)
                if known == nil {
                    entry.backup = hash
                    entry.backupMode = UInt32(files.mode(root.resolve(file.path)) ?? 0o644)
                } else if hash == entry.sha256 {
                    entry.previous = hash
                } else if hash != entry.backup && hash != entry.previous {
                    edited.append((file.path, current))
                }
            }
            entry.sha256 = SHA256.hex(file.content)
            manifest.set(entry)
        }
        manifest.backend = backend.rawValue
        // Directories about to be created for our files, deepest first, so uninstall can remove them again.
        for (file, _) in writes where !file.createOnly {
            var directory = String(file.path[..<file.path.lastIndex(of: "/")!])
            while !directory.isEmpty && !PosixIO().exists(root.resolve(directory)) {
                if !(manifest.directories ?? []).contains(directory) { manifest.directories = (manifest.directories ?? []) + [directory] }
                directory = String(directory[..<directory.lastIndex(of: "/")!])
            }
        }
        manifest.directories = manifest.directories?.sorted { $0.count > $1.count }
        if manifest != loaded { try manifest.save(root: root) }
        faults.step("manifest")

        for (file, current) in writes where !file.createOnly {
            if let current, let entry = manifest.entry(file.path), entry.backup == SHA256.hex(current) {
                try files.write(root.resolve(Layout.backupPath(file.path)), current, mode: mode_t(entry.backupMode ?? 0o644), under: root.path)
                faults.step("backup " + file.path)
            }
        }
        for copy in edited {
            let saved = Layout.editedPath(copy.path)
            try files.write(root.resolve(saved), copy.content, mode: 0o600, under: root.path)
            output("\(copy.path) was edited since earlybind wrote it: the edited copy is saved as \(saved)")
        }
        for (file, _) in writes {
            try files.write(root.resolve(file.path), file.content, mode: file.mode, under: root.path)
            faults.step("write " + file.path)
        }
        for entry in removals {
            _ = try Uninstaller.undo(entry, root: root)
            manifest.files.removeAll { $0.path == entry.path }
        }
        for index in manifest.files.indices { manifest.files[index].previous = nil }
        if manifest != loaded { try manifest.save(root: root) }

        if runsCommands {
            for command in commands {
                output("running: \(command.commandLine)")
                try command.run()
                outcome.commands.append(command)
                faults.step("run " + command.rawValue)
                if command == .updateGrub {
                    manifest.grubApplied = grubState
                    try manifest.save(root: root)
                }
            }
            if commands.contains(backend.rebuild) {
                // mkinitcpio's images need lsinitcpio, which only Arch has: they go unchecked.
                if backend != .mkinitcpio {
                    outcome.images = try backend == .dracut ? ImageCheck.allDracut(root: root) : ImageCheck.all(root: root)
                    let broken = outcome.images.filter { !$0.problems.isEmpty }
                    if !broken.isEmpty {
                        broken.forEach { output("  \($0.kernel): " + $0.problems.joined(separator: "; ")) }
                        throw InstallError("\(broken.count) initramfs image(s) do not hold a working earlybind: see above")
                    }
                }
                manifest.inputs = inputs
            }
            outcome.rebuildNeeded = rebuildWanted && !rebuildInitramfs
        } else {
            // A staged root's images are the caller's to build: say so once, then count them as handed over.
            outcome.rebuildNeeded = rebuildWanted
            manifest.inputs = inputs
        }
        if manifest != loaded { try manifest.save(root: root) }
        faults.step("done")
        return outcome
    }

    /// The backend asked for, or the one the root has; an error naming what to install when none.
    func resolvedBackend() throws -> Backend {
        if let backend { return backend }
        guard let detected = Backend.detect(root) else {
            throw InstallError("no initramfs generator under '\(root.path)': install initramfs-tools, dracut or mkinitcpio, or name one with --backend")
        }
        return detected
    }

    /// Every file with its content; checks the config and that nothing of the admin's is overwritten.
    func plan(_ backend: Backend) throws -> [PlannedFile] {
        let requirement = backend.requirement
        guard PosixIO().exists(root.resolve(requirement.path)) else {
            throw InstallError("no \(requirement.package) at '\(root.resolve(requirement.path))': install \(requirement.package) first")
        }
        try checkConfig()

        var planned = [
            PlannedFile(path: Config.defaultPath, content: Array(Installer.configTemplate.utf8), mode: 0o644,
                        ownedByEarlybind: false, createOnly: true),
        ]
        // With the package, initramfs-tools gets its binary and scripts from /usr; every other case from us.
        if backend != .initramfsTools || !Layout.isPackaged(root) {
            // Beside the executable in a build tree; in /usr/lib/earlybind with the package.
            let packaged = root.resolve(Layout.packagedBootBinaryPath)
            guard let boot = try files.contents(bootBinary) ?? files.contents(packaged) else {
                throw InstallError("the boot binary is missing (neither '\(bootBinary)' nor '\(packaged)'): build it with 'swift build -c release'")
            }
            planned.append(PlannedFile(path: Layout.bootBinaryPath, content: boot, mode: 0o755, ownedByEarlybind: false, createOnly: false))
            planned += backend.scripts.map {
                PlannedFile(path: $0.path, content: Array(filledIn($0.text).utf8), mode: $0.mode, ownedByEarlybind: true, createOnly: false)
            }
        }
        // The flags this CPU needs, read once for both boot-loader files.
        let needed = writeGrubDropIn ? neededIOMMUFlags() : []
        if writeGrubDropIn, let dropIn = grubDropIn(needed: needed) {
            planned.append(PlannedFile(path: Layout.grubDropInPath, content: Array(dropIn.utf8), mode: 0o644,
                                       ownedByEarlybind: true, createOnly: false))
        }
        if writeGrubDropIn, let cmdline = try kernelCommandLine(needed: needed) { planned.append(cmdline) }
        for file in planned where file.ownedByEarlybind {
            if let current = try files.contents(root.resolve(file.path)),
               !String(decoding: current, as: UTF8.self).contains(Layout.marker) {
                throw InstallError("'\(root.resolve(file.path))' was not written by earlybind: move it away first")
            }
        }
        return planned
    }

    /// A template with this root's paths filled in; the root was validated to be plain characters.
    func filledIn(_ template: String) -> String {
        template
            .replacingAll("@BOOT_BINARY@", with: root.resolve(Layout.bootBinaryPath))
            .replacingAll("@CONFIG@", with: root.resolve(Config.defaultPath))
            .replacingAll("@RUNNER@", with: root.resolve(Layout.runnerPath))
            .replacingAll("@UNIT@", with: root.resolve(Layout.unitPath))
    }

    /// The drop-in with the `needed` flags /etc/default/grub does not already set; nil when none is missing.
    func grubDropIn(needed: [String]) -> String? {
        let flags = missing(needed, present: grubCommandLineWords())
        guard !flags.isEmpty else { return nil }
        return """
            \(Layout.marker): turns the IOMMU on for vfio-pci passthrough.
            GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT \(flags.joined(separator: " "))"

            """
    }

    /// The IOMMU flags this CPU needs on the kernel command line.
    private func neededIOMMUFlags() -> [String] {
        (Host(root: root, sysfsRoot: "/sys").cpuVendor == "GenuineIntel" ? ["intel_iommu=on"] : []) + ["iommu=pt"]
    }

    /// The flags of `needed` that `present` does not set, either way.
    private func missing(_ needed: [String], present: [String]) -> [String] {
        needed.filter { flag in !present.contains { $0 == flag || $0.hasPrefix(flag.prefix { $0 != "=" } + "=") } }
    }

    /// /etc/kernel/cmdline (kernel-install, systemd-boot, unified kernel images) with the
    /// missing IOMMU flags appended to its last line that is not a comment, every other
    /// byte kept; nil when the file does not exist. It is the admin's file: install backs
    /// it up and uninstall puts it back byte for byte.
    private func kernelCommandLine(needed: [String]) throws -> PlannedFile? {
        let path = root.resolve(Layout.kernelCmdlinePath)
        guard let current = try files.contents(path) else { return nil }
        var lines = String(decoding: current, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let isCommandLine = { (line: String) in
            let words = line.split(whereSeparator: \.isWhitespace)
            return !words.isEmpty && !words[0].hasPrefix("#")
        }
        let words = lines.filter(isCommandLine).flatMap { $0.split(whereSeparator: \.isWhitespace).map(String.init) }
        let flags = missing(needed, present: words)
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
        return PlannedFile(path: Layout.kernelCmdlinePath, content: content, mode: files.mode(path) ?? 0o644,
                           ownedByEarlybind: false, createOnly: false)
    }

    /// Words of GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub.
    private func grubCommandLineWords() -> [String] {
        guard let bytes = try? files.contents(root.resolve(Layout.grubDefaultsPath)) else { return [] }
        var words: [String] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let text = line.trimmingBlanks()
            guard text.hasPrefix("GRUB_CMDLINE_LINUX=") || text.hasPrefix("GRUB_CMDLINE_LINUX_DEFAULT=") else { continue }
            let value = text.drop { $0 != "=" }.dropFirst().filter { $0 != "\"" && $0 != "'" }
            words += value.split(separator: " ").map(String.init)
        }
        return words
    }

    /// What the initramfs is built from; when it changes, the images need rebuilding.
    private func initramfsInputs(_ planned: [PlannedFile]) -> String {
        var bytes: [UInt8] = []
        func add(_ path: String, _ content: [UInt8]) { bytes += Array(path.utf8) + [0] + Array(SHA256.hex(content).utf8) + [0] }
        for file in planned where !Layout.bootLoaderPaths.contains(file.path) {
            add(file.path, file.createOnly ? ((try? files.contents(root.resolve(file.path))) ?? nil) ?? file.content : file.content)
        }
        for path in Layout.packagedPaths {
            if let content = (try? files.contents(root.resolve(path))) ?? nil { add(path, content) }
        }
        return SHA256.hex(bytes)
    }

    private func diff(_ current: [UInt8]?, _ new: [UInt8], path: String) -> String {
        if new.contains(0) || (current?.contains(0) ?? false) {
            return "binary \(path) would be " + (current == nil ? "created" : "replaced")
        }
        return UnifiedDiff.make(old: current.map { String(decoding: $0, as: UTF8.self) } ?? "",
                                new: String(decoding: new, as: UTF8.self), path: path)
    }

    private func checkConfig() throws {
        let path = root.resolve(Config.defaultPath)
        guard let text = try files.contents(path) else { return }
        let config = Config.parse(text, file: path)
        if !config.errors.isEmpty {
            let lines = config.errors.map(\.description).joined(separator: "\n")
            throw InstallError("\(lines)\n\(path) has \(config.errors.count) bad line(s): fix them first, nothing was installed")
        }
    }
}
