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
