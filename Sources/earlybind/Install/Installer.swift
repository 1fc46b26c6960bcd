import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Carries out an `InstallPlan` as one transaction, for initramfs-tools, dracut and
/// mkinitcpio alike. The manifest goes first: if the run is killed below, it already
/// names every file that may have been written, with the hashes of both the old and the
/// new version. Then the backups of the files that were there, the hand-edited copies,
/// the writes (each atomic), the removal of files no longer wanted, the commands (the
/// rebuild, update-grub, proxmox-boot-tool refresh), the check of every rebuilt image,
/// recorded in the manifest, and the manifest as the run ends. Killed after any step,
/// the run leaves each file old or new, and the next install or uninstall finishes
/// from the manifest.
struct Installer {
    let plan: InstallPlan
    var output: (String) -> Void
    /// The manifest as far as this run has got.
    private var manifest: Manifest
    private let files = FileWriter()
    private var faults = FaultPoints()

    init(plan: InstallPlan, output: @escaping (String) -> Void = { print($0) }) {
        self.plan = plan
        self.output = output
        manifest = plan.manifest
    }

    /// `earlybind install`: root on the real system, the plan, then its preview
    /// (`dryRun`) or its execution.
    static func install(_ request: InstallPlan.Request, dryRun: Bool, output: @escaping (String) -> Void) throws -> InstallOutcome {
        try Privileges.requireRoot("install changes boot files", onRealSystem: request.root.isSystemRoot, dryRun: dryRun,
                                   alternatives: "or try --dry-run, or --root DIR")
        let plan = try InstallPlan(request)
        (plan.leftoverNotes + plan.bootLoaderWarnings).forEach(output)
        if dryRun { return plan.preview(output) }
        var installer = Installer(plan: plan, output: output)
        return try installer.run()
    }

    private var root: InstallRoot { plan.root }

    mutating func run() throws -> InstallOutcome {
        var outcome = plan.outcome
        try saveManifestIfChanged()
        faults.step("manifest")
        try backUpReplacedFiles()
        try saveEditedCopies()
        try writeFiles()
        try removeFilesNoLongerWanted()
        try saveManifestIfChanged()
        if plan.runsCommands {
            outcome.commands = try runCommands()
            if plan.rebuilds {
                outcome.images = try checkImages()
                manifest.inputs = plan.inputs
            }
            outcome.rebuildNeeded = plan.rebuildWanted && !plan.request.rebuildInitramfs
        } else {
            // A staged root's images are the caller's to build: say so once, then count them as handed over.
            outcome.rebuildNeeded = plan.rebuildWanted
            manifest.inputs = plan.inputs
        }
        try saveManifestIfChanged()
        faults.step("done")
        return outcome
    }

    /// Saves the manifest unless it is the one on disk (a second install writes nothing).
    private func saveManifestIfChanged() throws {
        if manifest != plan.loadedManifest { try manifest.save(root: root) }
    }

    /// The files that were there before earlybind, saved where uninstall finds them.
    private mutating func backUpReplacedFiles() throws {
        for write in plan.writes where !write.file.createOnly {
            let path = write.file.path
            if let current = write.current, let entry = manifest.entry(path), entry.backup == SHA256.hex(current) {
                try files.write(root.resolve(Layout.backupPath(path)), current, mode: mode_t(entry.backupMode ?? 0o644), under: root.path)
                faults.step("backup " + path)
            }
        }
    }

    private func saveEditedCopies() throws {
        for copy in plan.editedCopies {
            let saved = Layout.editedPath(copy.path)
            try files.write(root.resolve(saved), copy.content, mode: 0o600, under: root.path)
            output("\(copy.path) was edited since earlybind wrote it: the edited copy is saved as \(saved)")
        }
    }

    private mutating func writeFiles() throws {
        for write in plan.writes {
            try files.write(root.resolve(write.file.path), write.file.content, mode: write.file.mode, under: root.path)
            faults.step("write " + write.file.path)
        }
    }

    /// Undoes the files of an earlier install the plan no longer has; every file now is
    /// the new version, so the previous ones are forgotten.
    private mutating func removeFilesNoLongerWanted() throws {
        for entry in plan.removals {
            _ = try Uninstaller.undo(entry, root: root)
            manifest.files.removeAll { $0.path == entry.path }
        }
        for index in manifest.files.indices { manifest.files[index].previous = nil }
    }

    /// The plan's commands, in order; update-grub is recorded as applied once it
    /// succeeded, proxmox-boot-tool's refresh struck from the pending commands.
    private mutating func runCommands() throws -> [BootCommand] {
        for command in plan.commands {
            output("running: \(command.commandLine)")
            try command.run()
            faults.step("run " + command.rawValue)
            if command == .updateGrub {
                manifest.grubApplied = plan.grubState
                try manifest.save(root: root)
            } else if command == .proxmoxBootRefresh {
                manifest.pending = manifest.pending?.filter { $0 != command }
                if manifest.pending?.isEmpty == true { manifest.pending = nil }
                try manifest.save(root: root)
            }
        }
        return plan.commands
    }

    /// Every rebuilt image, which must hold a working earlybind, recorded in the manifest
    /// (a broken one too, so that status names it). mkinitcpio's images need lsinitcpio,
    /// which only Arch has: they are recorded unchecked.
    private mutating func checkImages() throws -> [ImageCheck] {
        let images = try ImageCheck.all(plan.backend, root: root)
        manifest.images = records(images)
        let broken = (images ?? []).filter { !$0.problems.isEmpty }
        if !broken.isEmpty {
            try manifest.save(root: root)
            broken.forEach { output("  \($0.kernel): " + $0.problems.joined(separator: "; ")) }
            throw InstallError("\(broken.count) initramfs image(s) do not hold a working earlybind: see above")
        }
        return images ?? []
    }

    /// Each checked image (without checks, every image in /boot) as the manifest keeps it.
    private func records(_ checks: [ImageCheck]?) -> [Manifest.Image] {
        let config = SHA256.hex(((try? files.contents(root.resolve(Config.defaultPath))) ?? nil) ?? [])
        let images = checks.map { $0.map { (kernel: $0.kernel, path: $0.path, check: Optional($0)) } }
            ?? ImageCheck.bootImages(root).map { (kernel: $0.kernel, path: $0.path, check: nil) }
        return images.compactMap { image in
            let resolved = root.resolve(image.path)
            guard let stamp = ImageCheck.stamp(resolved), let bytes = try? PosixIO().read(resolved) else { return nil }
            return Manifest.Image(path: image.path, kernel: image.kernel, sha256: SHA256.hex(bytes), size: stamp.size,
                                  modified: stamp.modified, config: image.check?.config.map(SHA256.hex) ?? config,
                                  earlybind: image.check.map { $0.problems.isEmpty }, problems: image.check?.problems)
        }
    }
}
