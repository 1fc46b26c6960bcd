import CKmod
import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Where a kernel module of a staged root stands, from that root alone.
///
/// `KmodLoader` reads this machine's modprobe.d, and libkmod's initstate reads this
/// machine's /sys/module. For a staged root, SYSFS/module has already said what is loaded
/// (`StatusReport` looks there first), so here libkmod gets ROOT's module directory and
/// ROOT's modprobe.d only, and a module is built in (ROOT's modules.builtin lists it),
/// not loaded (it has a path), or missing; nothing this machine has loaded counts.
final class StagedModules {
    /// libkmod's default configuration directories, looked for under the root.
    static let configDirectories = ["/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d"]

    private let modulesDirectory: String
    private let configPaths: [UnsafeMutablePointer<CChar>?]
    /// Created on first use, as KmodLoader does: kmod_new reads every modprobe.d file.
    private var context: OpaquePointer? = nil
    private var opened = false

    init(root: InstallRoot, modulesDirectory: String) {
        self.modulesDirectory = modulesDirectory
        configPaths = StagedModules.configDirectories.map { strdup(root.resolve($0)) } + [nil]
    }

    deinit {
        if let context { kmod_unref(context) }
        configPaths.forEach { free($0) }
    }

    func state(_ name: String) -> ModuleState {
        if !opened {
            opened = true
            context = configPaths.map { UnsafePointer($0) }.withUnsafeBufferPointer { kmod_new(modulesDirectory, $0.baseAddress) }
        }
        guard let context else { return .unknown }
        var list: OpaquePointer? = nil
        if kmod_module_new_from_lookup(context, name, &list) < 0 { return .notFound }
        guard let list else { return .notFound }
        defer { kmod_module_unref_list(list) }
        guard let module = kmod_module_get_module(list) else { return .notFound }
        defer { kmod_module_unref(module) }
        // libkmod answers built-in from the module directory's modules.builtin before it
        // looks at /sys/module; its other answers (live, coming) are this machine's.
        if kmod_module_get_initstate(module) == Int32(KMOD_MODULE_BUILTIN.rawValue) { return .builtIn }
        return kmod_module_get_path(module) == nil ? .notFound : .available
    }
}
