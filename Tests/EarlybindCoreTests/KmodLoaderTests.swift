import EarlybindCore
import Foundation
import Testing

/// Real libkmod against an installed kernel's module directory. Only lookups that
/// insert nothing: a module that does not exist, and one that is built in.
@Suite(.enabled(if: installedModulesDirectory() != nil, "needs a kernel under /lib/modules"))
struct KmodLoaderTests {
    static let modulesDirectory = installedModulesDirectory()

    @Test func unknownModuleIsReportedNotFound() {
        let loader = KmodLoader(modulesDirectory: Self.modulesDirectory)
        #expect(loader.load("earlybind_no_such_module", options: "").description == "module 'earlybind_no_such_module' not found")
    }

    @Test func builtInModuleIsReportedBuiltIn() throws {
        let directory = try #require(Self.modulesDirectory)
        let builtin = try String(contentsOfFile: directory + "/modules.builtin", encoding: .utf8)
        try #require(builtin.contains("/unix.ko"), "this kernel builds unix as a module")
        #expect(KmodLoader(modulesDirectory: directory).load("unix", options: "").description == "built in")
    }
}

private func installedModulesDirectory() -> String? {
    let base = "/lib/modules"
    let kernels = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
    return kernels.sorted().last { FileManager.default.fileExists(atPath: "\(base)/\($0)/modules.builtin.bin") }
        .map { "\(base)/\($0)" }
}
