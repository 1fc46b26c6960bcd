import EarlybindCore

/// A command install or uninstall runs to bring the boot files into effect: the
/// rebuild of every initramfs by one generator, update-grub, or Proxmox's copy of
/// kernels, images and command line to its ESPs. The raw value is the program's name,
/// which is also how the manifest records a pending command.
enum BootCommand: String, Codable, Equatable {
    case updateGrub = "update-grub"
    case updateInitramfs = "update-initramfs"
    case dracut
    case mkinitcpio
    case proxmoxBootRefresh = "proxmox-boot-tool"

    /// The full command line, program first.
    var arguments: [String] {
        switch self {
        case .updateGrub: return [rawValue]
        case .updateInitramfs: return [rawValue, "-u", "-k", "all"]
        case .dracut: return [rawValue, "--regenerate-all", "--force"]
        case .mkinitcpio: return [rawValue, "-P"]
        case .proxmoxBootRefresh: return [rawValue, "refresh"]
        }
    }

    /// As it is shown and reported: `update-initramfs -u -k all`.
    var commandLine: String { arguments.joined(separator: " ") }

    /// Whether PATH has the program.
    var isAvailable: Bool { ExternalCommand.find(rawValue) != nil }

    /// Whether `root` boots from ESPs that proxmox-boot-tool keeps, and PATH has it:
    /// after a rebuild or a command-line change, only its refresh brings them up to date.
    static func proxmoxRefreshApplies(_ root: InstallRoot) -> Bool {
        PosixIO().exists(root.resolve(Layout.proxmoxBootUUIDsPath)) && proxmoxBootRefresh.isAvailable
    }

    /// Runs it; a non-zero exit status is an error, with `advice` after it.
    func run(advice: String = "") throws {
        let status = try ExternalCommand.run(arguments)
        if status != 0 { throw InstallError("'\(commandLine)' failed with exit status \(status)" + advice) }
    }
}
