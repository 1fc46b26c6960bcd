import EarlybindCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Takes back exactly what install wrote, per the manifest, whichever generator it
/// wrote for: its files are removed, or replaced by the files that were there before,
/// byte for byte; files changed since are left alone and named. Then it runs what
/// brings that into effect (update-grub, the rebuild with the generator install wrote
/// for, proxmox-boot-tool refresh), recorded in the manifest first so that a failed or killed uninstall runs it
/// next time.
struct Uninstaller {
    let root: InstallRoot
    var dryRun = false
    var purge = false
    var rebuildInitramfs = true
    var touchGrub = true
    var output: (String) -> Void = { print($0) }
    private var faults = FaultPoints()

    init(root: InstallRoot) {
        self.root = root
    }

    var runsCommands: Bool { root.actsAsRunningSystem }

    /// The files it changed (or would), and the commands it ran (or would run).
    mutating func run() throws -> (changes: [FileChange], commands: [BootCommand]) {
        try Privileges.requireRoot("uninstall changes boot files", onRealSystem: root.isSystemRoot, dryRun: dryRun,
                                   alternatives: "or try --dry-run, or --root DIR")
        var manifest = try Manifest.load(root: root) ?? Uninstaller.manifestFromMarkers(root: root)
        let (undone, kept) = try undoFiles(manifest.files)
        let changes = undone + purgeConfig()
        if dryRun {
            let commands = pendingCommands(manifest, after: changes)
            commands.forEach { output("would run: \($0.commandLine)") }
            return (changes, commands)
        }

        // The commands still to run are recorded before they run: a failed or killed
        // uninstall runs them again next time instead of leaving earlybind in the images.
        manifest.pending = pendingCommands(manifest, after: changes)
        manifest.files = kept
        try manifest.save(root: root)
        faults.step("pending")
        let commands = manifest.pending ?? []
        try runPendingCommands(&manifest)
        if !runsCommands && !changes.isEmpty {
            output("not rebuilding the initramfs or running update-grub: --root is not /")
        }
        removeWhatInstallCreated(manifest, keptFiles: !kept.isEmpty)
        return (changes, commands)
    }

    /// Undoes each file (--no-grub keeps the boot loader's); returns the changes and the
    /// entries that stay in the manifest.
    private mutating func undoFiles(_ entries: [Manifest.Entry]) throws -> (changes: [FileChange], kept: [Manifest.Entry]) {
        var changes: [FileChange] = []
        var kept: [Manifest.Entry] = []
        for entry in entries {
            if !touchGrub && (Layout.bootLoaderPaths.contains(entry.path) || entry.path.hasPrefix("/etc/default/grub")) {
                kept.append(entry)
                continue
            }
            let result = try Uninstaller.undo(entry, root: root, dryRun: dryRun)
            if dryRun {
                output("would undo \(entry.path)" + (result == .keptChanged ? " (it is kept: changed since earlybind wrote it)" : ""))
            } else if result == .keptChanged && entry.migrated == true {
                output("\(entry.path): left as it is: changed since 'install --migrate' edited it, so that edit is not undone "
                    + "(the file from before is \(Layout.backupPath(entry.path)))")
            } else if result == .keptChanged && entry.backup != nil {
                output(result.line(entry.path) + "; the file from before install is \(Layout.backupPath(entry.path))")
            } else {
                output(result.line(entry.path))
            }
            if let action = result.action { changes.append(FileChange(path: entry.path, action: action)) }
            if result == .keptChanged { kept.append(entry) }
            if !dryRun { faults.step("undo " + entry.path) }
        }
        return (changes, kept)
    }

    /// --purge: the config goes too.
    private func purgeConfig() -> [FileChange] {
        guard purge else { return [] }
        if dryRun {
            guard PosixIO().exists(root.resolve(Config.defaultPath)) else { return [] }
            output("would remove \(Config.defaultPath)")
            return [FileChange(path: Config.defaultPath, action: .removed)]
        }
        guard unlink(root.resolve(Config.defaultPath)) == 0 else { return [] }
        output(UndoResult.removed.line(Config.defaultPath))
        return [FileChange(path: Config.defaultPath, action: .removed)]
    }

    /// The manifest's pending commands, and on the real system those `changes` need:
    /// update-grub when the drop-in went, the rebuild by the generator install wrote for
    /// (initramfs-tools for a manifest from before backends existed).
    private func pendingCommands(_ manifest: Manifest, after changes: [FileChange]) -> [BootCommand] {
        var pending = manifest.pending ?? []
        guard runsCommands else { return pending }
        // The drop-in, or a GRUB file whose --migrate edit was undone.
        if touchGrub && changes.contains(where: { $0.path.hasPrefix("/etc/default/grub") }) && BootCommand.updateGrub.isAvailable
            && !pending.contains(.updateGrub) {
            pending.append(.updateGrub)
        }
        let rebuild = (Backend.current(root, manifest: manifest) ?? .initramfsTools).rebuild
        if rebuildInitramfs && !changes.isEmpty && !pending.contains(rebuild) { pending.append(rebuild) }
        // Last: Proxmox's ESPs get the rebuilt images and the restored command line from it.
        let refreshed = pending.filter { $0 != .proxmoxBootRefresh }
        if BootCommand.proxmoxRefreshApplies(root) && (!refreshed.isEmpty || changes.contains { $0.path == Layout.kernelCmdlinePath }) {
            pending = refreshed + [.proxmoxBootRefresh]
        }
        return pending
    }

    /// Each pending command, struck from the manifest once it has succeeded.
    private mutating func runPendingCommands(_ manifest: inout Manifest) throws {
        for command in manifest.pending ?? [] {
            output("running: \(command.commandLine)")
            try command.run(advice: "; run uninstall again")
            manifest.pending?.removeAll { $0 == command }
            try manifest.save(root: root)
            faults.step("run " + command.rawValue)
        }
    }

    /// The manifest, backups and directories install created, once no file is kept;
    /// the directory of the local binary whenever it is empty.
    private func removeWhatInstallCreated(_ manifest: Manifest, keptFiles: Bool) {
        if !keptFiles {
            // Copies of hand-edited files (edited/) stay: they are the admin's.
            unlink(root.resolve(Layout.manifestPath))
            try? FileManager.default.removeItem(atPath: root.resolve(Layout.backupDirectory))
            rmdir(root.resolve(Layout.stateDirectory))
        }
        rmdir(root.resolve(Layout.localDirectory))
        if !keptFiles {
            // Only an empty directory goes: whatever else was put there since stays.
            for directory in manifest.directories ?? [] { rmdir(root.resolve(directory)) }
        }
    }

    /// Undoes one file: puts back the file from before install, or removes earlybind's,
    /// unless it was changed since. A dry run says what it would do.
    static func undo(_ entry: Manifest.Entry, root: InstallRoot, dryRun: Bool = false) throws -> UndoResult {
        let files = FileWriter()
        let path = root.resolve(entry.path)
        // Refuses a symlink anywhere between the root and the file, as install does.
        try files.refuseSymlinks(path, under: root.path)
        let backupPath = root.resolve(Layout.backupPath(entry.path))
        let saved = try files.contents(backupPath).flatMap { SHA256.hex($0) == entry.backup ? $0 : nil }
        if !dryRun { unlink(FileWriter.temporaryPath(path)) }
        let current = try files.contents(path)
        let currentHash = current.map(SHA256.hex)
        let ours = currentHash == entry.sha256 || (entry.previous != nil && currentHash == entry.previous)
        let result: UndoResult
        if current == nil && entry.migrated == true {
            // The admin's file, deleted since migrate edited it: not brought back.
            result = .gone
        } else if ours || current == nil {
            if let saved {
                if !dryRun { try files.write(path, saved, mode: mode_t(entry.backupMode ?? 0o644), under: root.path) }
                result = .restored
            } else if current != nil {
                guard dryRun || unlink(path) == 0 else { throw InstallError.couldNot("remove", path, errno: errno) }
                result = .removed
            } else {
                result = .gone
            }
        } else if currentHash == entry.backup {
            result = .unchanged
        } else {
            // Changed by hand since: left in place, with the original it replaced.
            return .keptChanged
        }
        if !dryRun { unlink(backupPath) }
        return result
    }

    /// Without a manifest (it was lost, or never written), earlybind's files are the ones with its marker.
    static func manifestFromMarkers(root: InstallRoot) -> Manifest {
        var manifest = Manifest()
        for path in Backend.allCases.flatMap({ $0.scripts.map(\.path) }) + [Layout.grubDropInPath] {
            if let bytes = try? FileWriter().contents(root.resolve(path)),
               String(decoding: bytes, as: UTF8.self).contains(Layout.marker) {
                manifest.files.append(Manifest.Entry(path: path, sha256: SHA256.hex(bytes)))
            }
        }
        return manifest
    }
}
