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

    /// The generator under `root`. Packages are told apart by files they alone ship, so
    /// a config left behind by a removed generator does not count; a staged root with
    /// only /etc/initramfs-tools (as the tests build) is initramfs-tools.
    static func detect(_ root: InstallRoot) -> Backend? {
        let io = PosixIO()
        if io.exists(root.resolve(Layout.initramfsToolsHookFunctionsPath)) { return .initramfsTools }
        if io.exists(root.resolve(Layout.dracutModulesDirectory)) { return .dracut }
        if io.exists(root.resolve(Layout.mkinitcpioMainConfPath)) || io.exists(root.resolve(Layout.mkinitcpioLibraryDirectory)) {
            return .mkinitcpio
        }
        if io.exists(root.resolve(Layout.initramfsToolsConfPath)) { return .initramfsTools }
        return nil
    }

    /// The generator install last wrote for, or else the one installed.
    static func current(_ root: InstallRoot, manifest: Manifest?) -> Backend? {
        manifest?.backend.flatMap(Backend.init(rawValue:)) ?? detect(root)
    }

    /// What must exist under the root before install can lay its files down.
    var requirement: (path: String, package: String) {
        switch self {
        case .initramfsTools: return (Layout.initramfsToolsConfPath, rawValue)
        case .dracut: return (Layout.dracutModulesDirectory, rawValue)
        case .mkinitcpio: return (Layout.mkinitcpioMainConfPath, rawValue)
        }
    }

    /// Rebuilds the image of every installed kernel.
    var rebuild: BootCommand {
        switch self {
        case .initramfsTools: return .updateInitramfs
        case .dracut: return .dracut
        case .mkinitcpio: return .mkinitcpio
        }
    }

    /// The scripts install lays down for this generator (templates get the root's paths
    /// filled in), with their modes. The package ships initramfs-tools' own copies.
    var scripts: [(path: String, text: String, mode: mode_t)] {
        switch self {
        case .initramfsTools:
            return [(Layout.hookPath, HookFiles.hookTemplate, 0o755), (Layout.initTopPath, HookFiles.initTopScript, 0o755)]
        case .dracut:
            return [
                (Layout.dracutModuleSetupPath, HookFiles.dracutModuleSetup, 0o755),
                (Layout.dracutPreUdevPath, HookFiles.dracutPreUdev, 0o755),
                (Layout.dracutRunnerPath, HookFiles.initTopScript, 0o755),
                (Layout.dracutConfPath, HookFiles.dracutConf, 0o644),
            ]
        case .mkinitcpio:
            return [
                (Layout.runnerPath, HookFiles.initTopScript, 0o755),
                (Layout.unitPath, HookFiles.systemdUnit, 0o644),
                (Layout.mkinitcpioInstallPath, HookFiles.mkinitcpioInstall, 0o644),
                (Layout.mkinitcpioHookPath, HookFiles.mkinitcpioHook, 0o644),
                (Layout.mkinitcpioConfPath, HookFiles.mkinitcpioConf, 0o644),
            ]
        }
    }

    /// Where status looks for the file that copies earlybind into the image and the one
    /// that runs it at boot (the package's copies first), and what it calls the latter.
    var bootFiles: (hooks: [String], runners: [String], runnerName: String) {
        switch self {
        case .initramfsTools:
            return ([Layout.packagedHookPath, Layout.hookPath], [Layout.packagedInitTopPath, Layout.initTopPath], "init-top")
        case .dracut:
            return ([Layout.dracutModuleSetupPath], [Layout.dracutPreUdevPath], "pre-udev")
        case .mkinitcpio:
            return ([Layout.mkinitcpioInstallPath], [Layout.mkinitcpioHookPath], "early hook")
        }
    }
}
