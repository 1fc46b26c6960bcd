import CKmod

/// How loading one kernel module ended.
public enum ModuleLoadResult: Sendable {
    case inserted
    case alreadyLoaded
    case builtIn
    case blacklisted
    case failed(String)

    public var isAvailable: Bool {
        switch self {
        case .inserted, .alreadyLoaded, .builtIn: return true
        case .blacklisted, .failed: return false
        }
    }

    public var description: String {
        switch self {
        case .inserted: return "inserted"
        case .alreadyLoaded: return "already loaded"
        case .builtIn: return "built in"
        case .blacklisted: return "blacklisted"
        case .failed(let cause): return cause
        }
    }
}

/// Where a kernel module stands.
public enum ModuleState: Sendable {
    case loaded, builtIn, available, notFound
    /// libkmod could not be set up (no module directory, or no libkmod to load).
    case unknown

    public var code: String {
        switch self {
        case .loaded: return "loaded"
        case .builtIn: return "built_in"
        case .available: return "not_loaded"
        case .notFound: return "missing"
        case .unknown: return "unknown"
        }
    }
}

/// Loads kernel modules; the binder's only way to reach the module system.
public protocol ModuleLoader {
    /// Loads the module with its dependencies; `options` go after those of modprobe.d, so they win.
    mutating func load(_ name: String, options: String) -> ModuleLoadResult
}

/// Loads modules through libkmod like `modprobe`, except that a blacklist entry
/// is honoured even for a module named directly: an admin who blacklisted vfio-pci
/// does not want it.
public final class KmodLoader: ModuleLoader {
    private let modulesDirectory: String?
    private let configDirectories: [String]?
    /// Created on first use: `kmod_new` reads every modprobe.d file, work a boot with nothing to bind skips.
    private var context: OpaquePointer? = nil

    /// Uses `modulesDirectory` (default `/lib/modules/$(uname -r)`) and `configDirectories`
    /// (default libkmod's: /etc/modprobe.d, /run/modprobe.d, /usr/local/lib/modprobe.d, /lib/modprobe.d).
    public init(modulesDirectory: String? = nil, configDirectories: [String]? = nil) {
        self.modulesDirectory = modulesDirectory
        self.configDirectories = configDirectories
    }

    deinit {
        if let context { kmod_unref(context) }
    }

    /// Where a module stands, without loading anything. `ignoringRunningKernel` is for a
    /// staged root: libkmod answers loaded from this machine's /sys/module, which says
    /// nothing of that root, so a module it lists is only built in, not loaded, or missing.
    public func state(_ name: String, ignoringRunningKernel: Bool = false) -> ModuleState {
        guard let context = openContext() else { return .unknown }
        var list: OpaquePointer? = nil
        if kmod_module_new_from_lookup(context, name, &list) < 0 { return .notFound }
        guard let list else { return .notFound }
        defer { kmod_module_unref_list(list) }
        guard let module = kmod_module_get_module(list) else { return .notFound }
        defer { kmod_module_unref(module) }
        switch kmod_module_get_initstate(module) {
        case Int32(KMOD_MODULE_BUILTIN.rawValue): return .builtIn
        case Int32(KMOD_MODULE_LIVE.rawValue), Int32(KMOD_MODULE_COMING.rawValue) where !ignoringRunningKernel: return .loaded
        default: return kmod_module_get_path(module) == nil ? .notFound : .available
        }
    }

    private func openContext() -> OpaquePointer? {
        guard context == nil else { return context }
        guard let configDirectories else {
            context = modulesDirectory.map { kmod_new($0, nil) } ?? kmod_new(nil, nil)
            return context
        }
        // kmod_new reads the configuration at once and keeps copies of the paths.
        let paths: [UnsafeMutablePointer<CChar>?] = configDirectories.map { strdup($0) } + [nil]
        defer { paths.forEach { free($0) } }
        context = paths.map { UnsafePointer($0) }.withUnsafeBufferPointer { configs in
            modulesDirectory.map { kmod_new($0, configs.baseAddress) } ?? kmod_new(nil, configs.baseAddress)
        }
        return context
    }

    public func load(_ name: String, options: String) -> ModuleLoadResult {
        guard let context = openContext() else { return .failed("could not create a libkmod context") }
        var list: OpaquePointer? = nil
        let lookup = kmod_module_new_from_lookup(context, name, &list)
        if lookup < 0 { return .failed("could not look up '" + name + "': " + errorText(-lookup)) }
        guard let list else { return .failed("module '" + name + "' not found") }
        defer { kmod_module_unref_list(list) }

        var result = ModuleLoadResult.failed("module '" + name + "' not found")
        var entry: OpaquePointer? = list
        while let current = entry {
            guard let module = kmod_module_get_module(current) else { break }
            defer { kmod_module_unref(module) }
            let moduleName = String(cString: kmod_module_get_name(module))
            let state = kmod_module_get_initstate(module)
            if state == Int32(KMOD_MODULE_BUILTIN.rawValue) {
                return .builtIn
            } else if state == Int32(KMOD_MODULE_LIVE.rawValue) {
                return .alreadyLoaded
            }
            // IGNORE_COMMAND: an `install vfio-pci …` line in modprobe.d (a common manual
            // recipe's override script) must not run a shell command from the initramfs.
            let blacklist = Int32(KMOD_PROBE_APPLY_BLACKLIST.rawValue)
            let flags = blacklist | Int32(KMOD_PROBE_IGNORE_COMMAND.rawValue)
            let inserted = kmod_module_probe_insert_module(module, UInt32(flags), options, nil, nil, nil)
            if inserted == 0 { return .inserted }
            if inserted == blacklist {
                result = .blacklisted
            } else {
                result = .failed("could not insert '" + moduleName + "': " + errorText(-inserted))
            }
            entry = kmod_list_next(list, current)
        }
        return result
    }
}
