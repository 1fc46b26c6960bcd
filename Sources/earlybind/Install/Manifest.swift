import EarlybindCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What install wrote, so uninstall removes exactly that and a killed install can be finished.
/// Kept at `Layout.manifestPath` (/var/lib/earlybind/manifest.json) under the root.
struct Manifest: Codable, Equatable {
    struct Entry: Codable, Equatable {
        /// Absolute path on the target system.
        var path: String
        /// SHA-256 of the content earlybind writes there.
        var sha256: String
        /// SHA-256 of the file that was there before, saved at `Layout.backupPath`; nil when there was none.
        var backup: String?
        /// Mode of the file that was there before, restored with it.
        var backupMode: UInt32?
        /// While a new version is being written: SHA-256 of the version earlybind wrote
        /// before, which is still ours if a kill left it in place.
        var previous: String?
        /// An admin's file `install --migrate` edited (the backup is the file before):
        /// kept until uninstall, which puts it back only while it is unchanged since.
        var migrated: Bool?
    }

    /// One initramfs image as install last rebuilt and checked it: `status` tells by size
    /// and modification time (and, when those differ, the hash) that it is still that image.
    struct Image: Codable, Equatable {
        /// Absolute path on the target system (`/boot/initrd.img-6.1.0-18-amd64`).
        var path: String
        var kernel: String
        var sha256: String
        var size: Int
        /// Modification time, in nanoseconds since the epoch.
        var modified: Int
        /// SHA-256 of the config the image was built with: the copy inside it where the
        /// check reads one, else /etc/earlybind.conf as the rebuild left it.
        var config: String
        /// Whether ImageCheck found a working earlybind inside; nil where nothing can look (mkinitcpio).
        var earlybind: Bool?
        var problems: [String]?
    }

    var version = 1
    var files: [Entry] = []
    /// SHA-256 of the inputs of the initramfs (config, binary, hook, script) when it was
    /// last rebuilt, or handed to the caller to rebuild (staged roots).
    var inputs: String?
    /// SHA-256 of the GRUB drop-in ("none" when there is none) that update-grub last ran for.
    var grubApplied: String?
    /// Commands uninstall still has to run; a failed or killed uninstall runs them next time.
    /// Recorded by program name ("update-grub", "update-initramfs", "dracut", "mkinitcpio",
    /// "proxmox-boot-tool"). install records its proxmox-boot-tool refresh here too, so a
    /// failed or killed one is run again by the next install or uninstall.
    var pending: [BootCommand]?
    /// The initramfs generator install wrote for, so uninstall rebuilds with the same one.
    var backend: String?
    /// Directories install created for its files, deepest first: uninstall removes them once empty.
    var directories: [String]?
    /// The kernel flags install keeps in the boot-loader files: the IOMMU flags, and
    /// `initcall_blacklist=sysfb_init` from --firmware-framebuffer-off on, which every
    /// later install keeps until --firmware-framebuffer-on; nil until an install without
    /// --no-grub. `status` checks this boot's command line for them.
    var bootFlags: [String]?
    /// install --auto-confirm laid down earlybind-confirm.service; later installs keep it
    /// until --no-auto-confirm or uninstall.
    var autoConfirm: Bool?

    /// Whether the boot-loader flags keep the firmware framebuffer off.
    var firmwareFramebufferOff: Bool { bootFlags?.contains(Layout.firmwareFramebufferFlag) ?? false }
    /// Every image the last rebuild checked, in kernel order.
    var images: [Image]?

    func entry(_ path: String) -> Entry? { files.first { $0.path == path } }

    mutating func set(_ entry: Entry) {
        if let index = files.firstIndex(where: { $0.path == entry.path }) { files[index] = entry } else { files.append(entry) }
    }

    static func load(root: InstallRoot) throws -> Manifest? {
        let path = root.resolve(Layout.manifestPath)
        guard let bytes = try FileWriter().contents(path) else { return nil }
        do {
            return try JSONDecoder().decode(Manifest.self, from: Data(bytes))
        } catch {
            throw InstallError("\(path) is damaged (\(error)); move it away to start afresh")
        }
    }

    func save(root: InstallRoot) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        try FileWriter().write(root.resolve(Layout.manifestPath), Array(data) + [0x0A], mode: 0o644, under: root.path)
    }
}
