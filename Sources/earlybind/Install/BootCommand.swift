/// A command install or uninstall runs to bring the boot files into effect: the
/// rebuild of every initramfs by one generator, or update-grub. The raw value is the
/// program's name, which is also how the manifest records a pending command.
enum BootCommand: String, Codable, Equatable {
    case updateGrub = "update-grub"
    case updateInitramfs = "update-initramfs"
    case dracut
    case mkinitcpio

    /// The full command line, program first.
    var arguments: [String] {
        switch self {
        case .updateGrub: return [rawValue]
        case .updateInitramfs: return [rawValue, "-u", "-k", "all"]
        case .dracut: return [rawValue, "--regenerate-all", "--force"]
        case .mkinitcpio: return [rawValue, "-P"]
        }
    }

    /// As it is shown and reported: `update-initramfs -u -k all`.
    var commandLine: String { arguments.joined(separator: " ") }

    /// Whether PATH has the program.
    var isAvailable: Bool { ExternalCommand.find(rawValue) != nil }

    /// Runs it; a non-zero exit status is an error, with `advice` after it.
    func run(advice: String = "") throws {
        let status = try ExternalCommand.run(arguments)
        if status != 0 { throw InstallError("'\(commandLine)' failed with exit status \(status)" + advice) }
    }
}
