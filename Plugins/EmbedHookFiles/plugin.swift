import Foundation
import PackagePlugin

/// Embeds the shell files of `hooks/` into the CLI as string constants, so the
/// installed binary carries exactly what the repository holds.
@main
struct EmbedHookFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let script = package.appending(path: "scripts/embed-files")
        let files = [
            ("hookTemplate", package.appending(path: "hooks/earlybind-hook.in")),
            ("initTopScript", package.appending(path: "hooks/init-top-earlybind")),
            ("dracutModuleSetup", package.appending(path: "hooks/dracut-module-setup.sh.in")),
            ("dracutPreUdev", package.appending(path: "hooks/dracut-pre-udev.sh")),
            ("dracutConf", package.appending(path: "hooks/dracut.conf")),
            ("mkinitcpioInstall", package.appending(path: "hooks/mkinitcpio-install.in")),
            ("mkinitcpioHook", package.appending(path: "hooks/mkinitcpio-hook")),
            ("mkinitcpioConf", package.appending(path: "hooks/mkinitcpio.conf")),
            ("systemdUnit", package.appending(path: "hooks/earlybind.service")),
            ("confirmUnit", package.appending(path: "hooks/earlybind-confirm.service")),
            ("confirmDropIn", package.appending(path: "hooks/earlybind-confirm.conf")),
        ]
        let output = context.pluginWorkDirectoryURL.appending(path: "HookFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding hooks/ into \(target.name)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, output.path] + files.map { "\($0.0)=\($0.1.path)" },
                inputFiles: [script] + files.map(\.1),
                outputFiles: [output]
            )
        ]
    }
}
