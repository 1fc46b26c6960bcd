import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// What `earlybind install` is to do, worked out before anything is done: the
/// generator, every file with its content and mode, which of them are written (created
/// or replaced) and which files of an earlier install are removed, the manifest as it
/// must be saved before the first write, whether the initramfs needs rebuilding, and the
/// commands to run. Making it reads the root and writes nothing, runs nothing:
/// `install --dry-run` prints it, `Installer` carries it out.
struct InstallPlan {
    /// What install is asked for.
    struct Request {
        /// The machine: its root is where install writes, its sysfs tells the IDs of the configured devices.
        let host: Host
        var root: InstallRoot { host.root }
        /// This build's boot binary, laid down unless the package provides one.
        let bootBinary: String
        /// nil: detected from what the root has installed.
        var backend: Backend? = nil
        /// false (--no-grub): no GRUB drop-in, no update-grub, no flags in /etc/kernel/cmdline.
        var bootLoader = true
        /// false (--no-initramfs): the rebuild is reported, not run.
        var rebuildInitramfs = true
        /// --migrate: take the manual recipe's conflicting ids= out of the admin's files.
        var migrate = false
        /// --firmware-framebuffer-off (true) or --firmware-framebuffer-on (false); nil: as
        /// the manifest has it, so a later plain install keeps what an earlier one was asked.
        var framebufferOff: Bool? = nil
        /// --auto-confirm (true) or --no-auto-confirm (false); nil: as the manifest has it.
        var autoConfirm: Bool? = nil
    }

    /// One file install is responsible for.
    struct File {
        let path: String
        let content: [UInt8]
        let mode: mode_t
        /// An existing file is replaced only if earlybind wrote it (it carries the marker).
        let ownedByEarlybind: Bool
        /// Written only when absent (the admin's config): never in the manifest.
        let createOnly: Bool
    }

    /// A planned file whose content differs from the one on disk (`current`, nil when absent).
    struct Write {
        let file: File
        let current: [UInt8]?
        var change: FileChange { FileChange(path: file.path, action: current == nil ? .created : .replaced) }
    }

    static let configTemplate = """
        # earlybind: PCI devices to hand to vfio-pci at boot, one entry per line.
        #   [DOMAIN:]BB:DD.F [vvvv:dddd] [force]   one device, bound only while it has that ID
        #   vvvv:dddd [force]                      every device with that ID
        # Each device is bound together with the other endpoints of its IOMMU group.
        # 'force' takes the boot GPU or a group holding storage, network or a host bridge.
        # Run 'earlybind install' after editing to rebuild the initramfs.

        """

    let request: Request
    let backend: Backend
    /// Every file install is responsible for, in the order they are written.
    let files: [File]
    let writes: [Write]
    /// Files of an earlier install no longer planned: the GRUB drop-in once the flags are
    /// in /etc/default/grub, the /etc copies once the package provides the hook.
    let removals: [Manifest.Entry]
    /// The manifest on disk (empty when there is none), to save only on change.
    let loadedManifest: Manifest
    /// The manifest to save before the first write: it names every file that may be
    /// written, with the hashes of both the old and the new version.
    let manifest: Manifest
    /// earlybind's files that were edited by hand since it wrote them, with the edited
    /// content: saved under `Layout.editedDirectory` before they are replaced.
    let editedCopies: [(path: String, content: [UInt8])]
    /// SHA-256 of what the initramfs is built from; when it changes, the images need rebuilding.
    let inputs: String
    let rebuildWanted: Bool
    /// SHA-256 of the GRUB drop-in, "none" without one: what update-grub runs for.
    let grubState: String
    /// What the real system needs run, in order; a staged root runs nothing (`runsCommands`).
    let commands: [BootCommand]
    /// One warning per word of the boot-loader files that turns the IOMMU off.
    let bootLoaderWarnings: [String]
    /// The manual recipe's leftovers as they are before this install.
    let leftovers: RecipeLeftovers
    /// --migrate's edits (none without it) and the files it leaves alone.
    let migration: Migration?

    var root: InstallRoot { request.root }
    /// Commands run only on the real system; a staged root only reports what is needed.
    var runsCommands: Bool { root.actsAsRunningSystem }
    /// Whether the commands rebuild the images.
    var rebuilds: Bool { commands.contains(backend.rebuild) }
    var changes: [FileChange] { writes.map(\.change) + removals.map { FileChange(path: $0.path, action: .removed) } }
    /// The outcome before anything is done: the changes it makes.
    var outcome: InstallOutcome {
        InstallOutcome(backend: backend, runsCommands: runsCommands, changes: changes,
                       framebufferOff: manifest.firmwareFramebufferOff, notes: bootLoaderWarnings)
    }

    /// Checks the config, the generator and that nothing of the admin's would be overwritten.
    init(_ request: Request) throws {
        let root = request.root
        _ = try ConfigFile.gate(root.resolve(Config.defaultPath), otherwise: "nothing was installed")
        let backend = try request.backend ?? InstallPlan.detectedBackend(root)
        let loaded = try Manifest.load(root: root) ?? Manifest()
        let flags = request.bootLoader
            ? BootLoaderFlags(host: request.host, framebufferOff: request.framebufferOff ?? loaded.firmwareFramebufferOff) : nil
        bootLoaderWarnings = flags?.warnings() ?? []
        var planned = try InstallPlan.plannedFiles(request, backend, flags: flags)
        let autoConfirm = request.autoConfirm ?? loaded.autoConfirm ?? false
        if autoConfirm {
            planned += [(Layout.confirmUnitPath, HookFiles.confirmUnit), (Layout.confirmDropInPath, HookFiles.confirmDropIn)].map {
                File(path: $0.0, content: Array(InstallPlan.filledIn($0.1).utf8), mode: 0o644, ownedByEarlybind: true, createOnly: false)
            }
            try InstallPlan.refuseForeign(planned.suffix(2), root: root)
        }
        let configuredIDs = RecipeLeftovers.configuredIDs(request.host)
        leftovers = RecipeLeftovers(root: root, configuredIDs: configuredIDs)
        let migration = request.migrate ? Migration(
            root: root, configuredIDs: configuredIDs, bootLoader: request.bootLoader,
            base: Dictionary(planned.filter { $0.path == Layout.kernelCmdlinePath }.map { ($0.path, $0.content) }) { a, _ in a }) : nil
        self.migration = migration
        let migrated = migration?.paths ?? []
        for edit in migration?.edits ?? [] {
            if let index = planned.firstIndex(where: { $0.path == edit.path }) {
                let file = planned[index]
                planned[index] = File(path: file.path, content: edit.content, mode: file.mode, ownedByEarlybind: false, createOnly: false)
            } else {
                planned.append(File(path: edit.path, content: edit.content, mode: FileWriter().mode(root.resolve(edit.path)) ?? 0o644,
                                    ownedByEarlybind: false, createOnly: false))
            }
        }
        let writes = try InstallPlan.writes(planned, root: root)
        var manifest = loaded
        // A /etc/kernel/cmdline the admin has since deleted is forgotten, not brought back.
        if request.bootLoader && !PosixIO().exists(root.resolve(Layout.kernelCmdlinePath)) {
            manifest.files.removeAll { $0.path == Layout.kernelCmdlinePath }
        }
        // migrate's edits stay until uninstall, whether or not this run edits the file again.
        removals = manifest.files.filter { entry in
            entry.migrated != true && !planned.contains { $0.path == entry.path } && (request.bootLoader || !Layout.bootLoaderPaths.contains(entry.path))
        }

        inputs = InstallPlan.initramfsInputs(planned.filter { !migrated.contains($0.path) }, root: root)
        // modprobe.d goes into the initramfs: an edit there needs a rebuild, once.
        rebuildWanted = manifest.inputs != inputs
            || migrated.contains { $0.hasPrefix(RecipeLeftovers.modprobeDirectory + "/") }
        grubState = planned.first { $0.path == Layout.grubDropInPath }.map { SHA256.hex($0.content) } ?? "none"
        // update-grub runs until it has succeeded for the drop-in as it is, even after a failed run.
        let grubEdited = migrated.contains { $0.hasPrefix("/etc/default/") }
        let grubWanted = request.bootLoader && (manifest.grubApplied != grubState || grubEdited) && BootCommand.updateGrub.isAvailable
        var commands = (request.rebuildInitramfs && rebuildWanted ? [backend.rebuild] : []) + (grubWanted ? [.updateGrub] : [])
        // Proxmox boots from ESPs that only its refresh brings up to date, after a rebuild
        // or a command-line change; pending from the start, so a failed or killed one is run again.
        if BootCommand.proxmoxRefreshApplies(root) && (!commands.isEmpty || writes.contains { $0.file.path == Layout.kernelCmdlinePath }
            || (loaded.pending ?? []).contains(.proxmoxBootRefresh)) {
            commands.append(.proxmoxBootRefresh)
            if root.actsAsRunningSystem && !(manifest.pending ?? []).contains(.proxmoxBootRefresh) {
                manifest.pending = (manifest.pending ?? []) + [.proxmoxBootRefresh]
            }
        }
        self.commands = commands
        if let flags { manifest.bootFlags = flags.needed }
        manifest.autoConfirm = autoConfirm ? true : nil

        (editedCopies, manifest) = InstallPlan.recording(writes, in: manifest, root: root)
        for path in migrated {
            if var entry = manifest.entry(path) {
                entry.migrated = true
                manifest.set(entry)
            }
        }
        manifest.backend = backend.rawValue
        manifest.directories = InstallPlan.directoriesToCreate(for: writes, known: manifest.directories, root: root)
        self.request = request
        self.backend = backend
        self.files = planned
        self.writes = writes
        self.loadedManifest = loaded
        self.manifest = manifest
    }

    /// `earlybind-boot` from the directory of the running executable.
    static func bootBinaryBesideExecutable() throws -> String {
        guard let executable = try? PosixIO().readLink("/proc/self/exe") else {
            throw InstallError("could not find the running executable through /proc/self/exe")
        }
        let path = String(decoding: executable, as: UTF8.self)
        return String(path[..<path.lastIndex(of: "/")!]) + "/" + Layout.bootBinaryName
    }

    /// A line per conflicting leftover of the manual recipe: what --migrate edits, what
    /// it leaves alone and why, and what needs editing by hand.
    var leftoverNotes: [String] {
        var notes: [String] = []
        for leftover in leftovers.conflicting {
            let edited = migration?.paths.contains(leftover.file) ?? false
            let skip = migration?.skipped.first { $0.path == leftover.file }
            let migratable = (leftover.kind == .modprobeIDs || leftover.kind == .cmdlineIDs) && leftover.file != RecipeLeftovers.procCmdlinePath
                && (request.bootLoader || leftover.kind == .modprobeIDs)
            if edited && migratable {
                notes.append("migrating \(leftover.location): taking the configured devices' IDs out of '\(leftover.text)'")
                continue
            }
            var note = "warning: \(leftover.location): '\(leftover.text)': \(leftover.effect)"
            if let skip {
                note += " (--migrate leaves \(skip.path) alone: \(skip.reason))"
            } else if migratable && migration == nil {
                note += " (run 'earlybind install --migrate' to remove it)"
            } else if leftover.file == RecipeLeftovers.procCmdlinePath {
                note += " (this boot's command line: it goes at the next boot once no boot-loader file has it)"
            }
            notes.append(note)
        }
        return notes
    }

    /// --dry-run: each write as a diff, each removal and command, from the plan alone.
    func preview(_ output: (String) -> Void) -> InstallOutcome {
        for write in writes {
            output(InstallPlan.diff(write.current, write.file.content, path: write.file.path))
        }
        for entry in removals { output("would remove \(entry.path)") }
        var outcome = self.outcome
        outcome.rebuildNeeded = rebuildWanted
        outcome.commands = runsCommands ? commands : []
        outcome.commands.forEach { output("would run: \($0.commandLine)") }
        return outcome
    }

    /// The generator the root has; an error naming what to install when none.
    private static func detectedBackend(_ root: InstallRoot) throws -> Backend {
        guard let detected = Backend.detect(root) else {
            throw InstallError("no initramfs generator under '\(root.path)': install initramfs-tools, dracut or mkinitcpio, or name one with --backend")
        }
        return detected
    }

    /// Every file with its content; checks the config and that nothing of the admin's is overwritten.
    private static func plannedFiles(_ request: Request, _ backend: Backend, flags: BootLoaderFlags?) throws -> [File] {
        let root = request.root
        let files = FileWriter()
        let requirement = backend.requirement
        guard PosixIO().exists(root.resolve(requirement.path)) else {
            throw InstallError("no \(requirement.package) at '\(root.resolve(requirement.path))': install \(requirement.package) first")
        }

        var planned = [
            File(path: Config.defaultPath, content: Array(configTemplate.utf8), mode: 0o644, ownedByEarlybind: false, createOnly: true),
        ]
        // With the package, initramfs-tools gets its binary and scripts from /usr; every other case from us.
        if backend != .initramfsTools || !Layout.isPackaged(root) {
            // Beside the executable in a build tree; in /usr/lib/earlybind with the package.
            let packaged = root.resolve(Layout.packagedBootBinaryPath)
            guard let boot = try files.contents(request.bootBinary) ?? files.contents(packaged) else {
                throw InstallError("the boot binary is missing (neither '\(request.bootBinary)' nor '\(packaged)'): build it with 'swift build -c release'")
            }
            planned.append(File(path: Layout.bootBinaryPath, content: boot, mode: 0o755, ownedByEarlybind: false, createOnly: false))
            planned += backend.scripts.map {
                File(path: $0.path, content: Array(filledIn($0.text).utf8), mode: $0.mode, ownedByEarlybind: true, createOnly: false)
            }
        }
        if let flags { planned += try flags.plannedFiles() }
        try refuseForeign(planned, root: root)
        return planned
    }

    /// Refuses to overwrite a file of ours that someone else's file has taken the place of.
    private static func refuseForeign(_ planned: some Sequence<File>, root: InstallRoot) throws {
        for file in planned where file.ownedByEarlybind {
            if let current = try FileWriter().contents(root.resolve(file.path)),
               !String(decoding: current, as: UTF8.self).contains(Layout.marker) {
                throw InstallError("'\(root.resolve(file.path))' was not written by earlybind: move it away first")
            }
        }
    }

    /// The planned files whose content differs from the one on disk; the config only when absent.
    private static func writes(_ planned: [File], root: InstallRoot) throws -> [Write] {
        try planned.compactMap { file in
            let current = try FileWriter().contents(root.resolve(file.path))
            return current == file.content || (file.createOnly && current != nil) ? nil : Write(file: file, current: current)
        }
    }

    /// A template with the target system's paths filled in. As with `dpkg --root`, the
    /// root is where the system lies now, not a part of it: no generated file names it
    /// (an image built from a staged root gets it from EARLYBIND_ROOT instead).
    private static func filledIn(_ template: String) -> String {
        template
            .replacingAll("@BOOT_BINARY@", with: Layout.bootBinaryPath)
            .replacingAll("@CONFIG@", with: Config.defaultPath)
            .replacingAll("@RUNNER@", with: Layout.runnerPath)
            .replacingAll("@UNIT@", with: Layout.unitPath)
            .replacingAll("@TRIAL_VARIABLE@", with: TrialVariable<PosixIO>.name)
    }

    /// What the initramfs is built from: every planned file but the boot loader's (the
    /// config as it is on disk), and the package's files.
    private static func initramfsInputs(_ planned: [File], root: InstallRoot) -> String {
        let files = FileWriter()
        var bytes: [UInt8] = []
        func add(_ path: String, _ content: [UInt8]) { bytes += Array(path.utf8) + [0] + Array(SHA256.hex(content).utf8) + [0] }
        for file in planned where !Layout.bootLoaderPaths.contains(file.path) && !Layout.confirmPaths.contains(file.path) {
            add(file.path, file.createOnly ? ((try? files.contents(root.resolve(file.path))) ?? nil) ?? file.content : file.content)
        }
        for path in Layout.packagedPaths {
            if let content = (try? files.contents(root.resolve(path))) ?? nil { add(path, content) }
        }
        return SHA256.hex(bytes)
    }

    /// `manifest` with an entry for every write (create-only files have none): the new
    /// hash, and the old file's hash as the backup (when earlybind did not write it) or as
    /// the previous version (when it did). Files of ours that were edited since come back
    /// with their content, to be saved.
    private static func recording(_ writes: [Write], in manifest: Manifest, root: InstallRoot)
        -> (edited: [(path: String, content: [UInt8])], manifest: Manifest) {
        var manifest = manifest
        var edited: [(path: String, content: [UInt8])] = []
        for write in writes where !write.file.createOnly {
            let path = write.file.path
            let known = manifest.entry(path)
            var entry = known ?? Manifest.Entry(path: path, sha256: "")
            if let current = write.current {
                let hash = SHA256.hex(current)
                if known == nil {
                    entry.backup = hash
                    entry.backupMode = UInt32(FileWriter().mode(root.resolve(path)) ?? 0o644)
                } else if hash == entry.sha256 {
                    entry.previous = hash
                } else if hash != entry.backup && hash != entry.previous {
                    edited.append((path, current))
                }
            }
            entry.sha256 = SHA256.hex(write.file.content)
            manifest.set(entry)
        }
        return (edited, manifest)
    }

    /// `known` and the directories about to be created for the writes, deepest first,
    /// so uninstall can remove them again.
    private static func directoriesToCreate(for writes: [Write], known: [String]?, root: InstallRoot) -> [String]? {
        var directories = known
        for write in writes where !write.file.createOnly {
            let path = write.file.path
            var directory = String(path[..<path.lastIndex(of: "/")!])
            while !directory.isEmpty && !PosixIO().exists(root.resolve(directory)) {
                if !(directories ?? []).contains(directory) { directories = (directories ?? []) + [directory] }
                directory = String(directory[..<directory.lastIndex(of: "/")!])
            }
        }
        return directories?.sorted { $0.count > $1.count }
    }

    private static func diff(_ current: [UInt8]?, _ new: [UInt8], path: String) -> String {
        if new.contains(0) || (current?.contains(0) ?? false) {
            return "binary \(path) would be " + (current == nil ? "created" : "replaced")
        }
        return UnifiedDiff.make(old: current.map { String(decoding: $0, as: UTF8.self) } ?? "",
                                new: String(decoding: new, as: UTF8.self), path: path)
    }
}
