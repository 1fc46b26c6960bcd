import ArgumentParser
import EarlybindCore

/// The initramfs generator earlybind installs into. Each gets the same boot binary and
/// config; what differs is how the generator is told to copy them and to run the
/// binder before udev, and how every image is rebuilt.
enum Backend: String, CaseIterable, ExpressibleByArgument, Sendable {
    case initramfsTools = "initramfs-tools"
    case dracut
    case mkinitcpio

    static let dracutModuleDirectory = "/usr/lib/dracut/modules.d/90earlybind"
    static let dracutConfPath = "/etc/dracut.conf.d/earlybind.conf"
    static let mkinitcpioInstallPath = "/etc/initcpio/install/earlybind"
    static let mkinitcpioHookPath = "/etc/initcpio/hooks/earlybind"
    static let mkinitcpioConfPath = "/etc/mkinitcpio.conf.d/zz-earlybind.conf"
    /// The time-boxed runner (the init-top script) and the systemd unit mkinitcpio's install hook copies.
    static let runnerPath = "/usr/local/lib/earlybind/earlybind-run"
    static let unitPath = "/usr/local/lib/earlybind/earlybind.service"

    /// The generator under `root`. Packages are told apart by files they alone ship, so
    /// a config left behind by a removed generator does not count; a staged root with
    /// only /etc/initramfs-tools (as the tests build) is initramfs-tools.
    static func detect(_ root: InstallRoot) -> Backend? {
        let io = PosixIO()
        if io.exists(root.resolve("/usr/share/initramfs-tools/hook-functions")) { return .initramfsTools }
        if io.exists(root.resolve("/usr/lib/dracut/modules.d")) { return .dracut }
        if io.exists(root.resolve("/etc/mkinitcpio.conf")) || io.exists(root.resolve("/usr/lib/initcpio")) { return .mkinitcpio }
        if io.exists(root.resolve(Installer.confDir + "/initramfs.conf")) { return .initramfsTools }
        return nil
    }

    /// What must exist under the root before install can lay its files down.
    var requirement: (path: String, package: String) {
        switch self {
        case .initramfsTools: return (Installer.confDir + "/initramfs.conf", "initramfs-tools")
        case .dracut: return ("/usr/lib/dracut/modules.d", "dracut")
        case .mkinitcpio: return ("/etc/mkinitcpio.conf", "mkinitcpio")
        }
    }

    /// Rebuilds the image of every installed kernel.
    var rebuildCommand: [String] {
        switch self {
        case .initramfsTools: return ["update-initramfs", "-u", "-k", "all"]
        case .dracut: return ["dracut", "--regenerate-all", "--force"]
        case .mkinitcpio: return ["mkinitcpio", "-P"]
        }
    }

    /// The file that copies earlybind into the image, and the one that runs it at boot, as status shows them.
    var bootFiles: (hook: String, runner: String) {
        switch self {
        case .initramfsTools: return (Installer.hookPath, Installer.initTopPath)
        case .dracut: return (Backend.dracutModuleDirectory + "/module-setup.sh", Backend.dracutModuleDirectory + "/earlybind-pre-udev.sh")
        case .mkinitcpio: return (Backend.mkinitcpioInstallPath, Backend.mkinitcpioHookPath)
        }
    }
}
