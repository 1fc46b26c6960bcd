import EarlybindCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Takes back exactly what install wrote, per the manifest: its files are removed, or
/// replaced by the files that were there before, byte for byte; files changed since
/// are left alone and named.
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

    var runsCommands: Bool { root.isSystemRoot || FaultPoints.stagedRootActsAsSystem(root) }

    mutating func run() throws -> [Installer.Change] {
        try InstallError.requireRoot(for: "uninstall", root: root, dryRun: dryRun)
        var manifest = try Manifest.load(root: root) ?? Uninstaller.manifestFromMarkers(root: root)
        var changes: [Installer.Change] = []
        var kept: [Manifest.Entry] = []
        for entry in manifest.files {
            if !touchGrub && Layout.bootLoaderPaths.contains(entry.path) {
                kept.append(entry)
                continue
            }
            if dryRun {
                output("would undo \(entry.path)")
                continue
            }
            let result = try Uninstaller.undo(entry, root: root)
            output("  \(result.padding(13)) \(entry.path)")
            if result == "removed" { changes.append(Installer.Change(path: entry.path, action: .removed)) }
            if result == "restored" { changes.append(Installer.Change(path: entry.path, action: .replaced)) }
            if result.hasPrefix("kept") { kept.append(entry) }
            faults.step("undo " + entry.path)
        }
        if purge {
            let config = root.resolve(Config.defaultPath)
            if dryRun { output("would remove \(Config.defaultPath)") } else if unlink(config) == 0 {
                output("  \("removed".padding(13)) \(Config.defaultPath)")
                changes.append(Installer.Change(path: Config.defaultPath, action: .removed))
            }
        }
        if dryRun { return changes }

        // The commands still to run are recorded before they run: a failed or killed
        // uninstall runs them again next time instead of leaving earlybind in the images.
        var pending = manifest.pending ?? []
        if runsCommands {
            if touchGrub && changes.contains(where: { $0.path == Layout.grubDropInPath }) && ExternalCommand.find("update-grub") != nil
                && !pending.contains("update-grub") {
                pending.append("update-grub")
            }
            // The generator install wrote for rebuilds; a manifest from before backends existed is initramfs-tools'.
            let backend = Backend.current(root, manifest: manifest) ?? .initramfsTools
            let rebuild = backend.rebuildCommand[0]
            if rebuildInitramfs && !changes.isEmpty && !pending.contains(rebuild) { pending.append(rebuild) }
        }
        manifest.files = kept
        manifest.pending = pending
        try manifest.save(root: root)
        faults.step("pending")
        for command in pending {
            let arguments = Backend.allCases.first { $0.rebuildCommand[0] == command }?.rebuildCommand ?? [command]
            output("running: \(arguments.joined(separator: " "))")
            let status = try ExternalCommand.run(arguments)
            if status != 0 { throw InstallError("'\(arguments.joined(separator: " "))' failed with exit status \(status); run uninstall again") }
            manifest.pending?.removeAll { $0 == command }
            try manifest.save(root: root)
            faults.step("run " + command)
        }
        if !runsCommands && !changes.isEmpty {
            output("not rebuilding the initramfs or running update-grub: --root is not /")
        }
        if kept.isEmpty {
            // Copies of hand-edited files (edited/) stay: they are the admin's.
            unlink(root.resolve(Layout.manifestPath))
            try? FileManager.default.removeItem(atPath: root.resolve(Layout.backupDirectory))
            rmdir(root.resolve(Layout.stateDirectory))
        }
        rmdir(root.resolve(Layout.localDirectory))
        if kept.isEmpty {
            // Only an empty directory goes: whatever else was put there since stays.
            for directory in manifest.directories ?? [] { rmdir(root.resolve(directory)) }
        }
        return changes
    }

    /// Undoes one file; returns what was done: removed, restored, unchanged, gone, or kept.
    static func undo(_ entry: Manifest.Entry, root: InstallRoot) throws -> String {
        let files = FileWriter()
        let path = root.resolve(entry.path)
        // Refuses a symlink anywhere between the root and the file, as install does.
        try files.refuseSymlinks(path, under: root.path)
        let backupPath = root.resolve(Layout.backupPath(entry.path))
        let saved = try files.contents(backupPath).flatMap { SHA256.hex($0) == entry.backup ? $0 : nil }
        unlink(FileWriter.temporaryPath(path))
        let current = try files.contents(path)
        let currentHash = current.map(SHA256.hex)
        let ours = currentHash == entry.sha256 || (entry.previous != nil && currentHash == entry.previous)
        var result: String
        if ours || current == nil {
            if let saved {
                try files.write(path, saved, mode: mode_t(entry.backupMode ?? 0o644), under: root.path)
                result = "restored"
            } else if current != nil {
                guard unlink(path) == 0 else { throw InstallError.couldNot("remove", path, errno: errno) }
                result = "removed"
            } else {
                result = "gone"
            }
        } else if currentHash == entry.backup {
            result = "unchanged"
        } else {
            // Changed by hand since: left in place, with the original it replaced.
            return "kept (changed since earlybind wrote it)"
        }
        unlink(backupPath)
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
