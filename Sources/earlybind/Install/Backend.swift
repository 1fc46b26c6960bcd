import ArgumentParser
import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

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

    /// The generator install last wrote for, or else the one installed.
    static func current(_ root: InstallRoot, manifest: Manifest?) -> Backend? {
        manifest?.backend.flatMap(Backend.init(rawValue:)) ?? detect(root)
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

    /// The scripts install lays down for this generator (templates get the root's paths
    /// filled in), with their modes. The package ships initramfs-tools' own copies.
    var scripts: [(path: String, text: String, mode: mode_t)] {
        switch self {
        case .initramfsTools:
            return [(Installer.hookPath, HookFiles.hookTemplate, 0o755), (Installer.initTopPath, HookFiles.initTopScript, 0o755)]
        case .dracut:
            return [
                (Backend.dracutModuleDirectory + "/module-setup.sh", HookFiles.dracutModuleSetup, 0o755),
                (Backend.dracutModuleDirectory + "/earlybind-pre-udev.sh", HookFiles.dracutPreUdev, 0o755),
                (Backend.dracutModuleDirectory + "/earlybind-run", HookFiles.initTopScript, 0o755),
                (Backend.dracutConfPath, HookFiles.dracutConf, 0o644),
            ]
        case .mkinitcpio:
            return [
                (Backend.runnerPath, HookFiles.initTopScript, 0o755),
                (Backend.unitPath, HookFiles.systemdUnit, 0o644),
                (Backend.mkinitcpioInstallPath, HookFiles.mkinitcpioInstall, 0o644),
                (Backend.mkinitcpioHookPath, HookFiles.mkinitcpioHook, 0o644),
                (Backend.mkinitcpioConfPath, HookFiles.mkinitcpioConf, 0o644),
            ]
        }
    }

    /// Where status looks for the file that copies earlybind into the image and the one
    /// that runs it at boot (the package's copies first), and what it calls the latter.
    var bootFiles: (hooks: [String], runners: [String], runnerName: String) {
        switch self {
        case .initramfsTools:
            return ([Installer.packagedHookPath, Installer.hookPath], [Installer.packagedInitTopPath, Installer.initTopPath], "init-top")
        case .dracut:
            return ([Backend.dracutModuleDirectory + "/module-setup.sh"], [Backend.dracutModuleDirectory + "/earlybind-pre-udev.sh"], "pre-udev")
        case .mkinitcpio:
            return ([Backend.mkinitcpioInstallPath], [Backend.mkinitcpioHookPath], "early hook")
        }
    }
}
