import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Why a command could not use the config. The config domain's one error type.
struct ConfigFileError: Error, CustomStringConvertible {
    let description: String
}

/// `/etc/earlybind.conf` under the host's root: read as it stands, written atomically,
/// and the gate every command that acts on the config passes first.
enum ConfigFile {
    /// The config and its bytes as they stand, errors and all; nil when there is none.
    static func load(_ host: Host) throws(ConfigFileError) -> (config: Config, text: [UInt8])? {
        try load(host.configPath)
    }

    static func load(_ path: String) throws(ConfigFileError) -> (config: Config, text: [UInt8])? {
        do {
            let text = try PosixIO().read(path)
            return (Config.parse(text, file: path), text)
        } catch {
            if error.errno == ENOENT { return nil }
            throw ConfigFileError(description: error.description)
        }
    }

    /// The config for a command that acts on it: safe permissions and no bad line, or an
    /// error naming each bad line and that `nothing` happened ("nothing was bound").
    /// Nil when there is none.
    static func gate(_ host: Host, otherwise nothing: String) throws(ConfigFileError) -> (config: Config, text: [UInt8])? {
        try gate(host.configPath, otherwise: nothing)
    }

    static func gate(_ path: String, otherwise nothing: String) throws(ConfigFileError) -> (config: Config, text: [UInt8])? {
        try checkPermissions(path)
        guard let loaded = try load(path) else { return nil }
        let errors = loaded.config.errors
        if !errors.isEmpty {
            throw ConfigFileError(description: errors.map(\.description).joined(separator: "\n")
                + "\n\(path) has \(errors.count) bad line(s): fix them first; \(nothing)")
        }
        return loaded
    }

    static func write(_ bytes: [UInt8], host: Host) throws {
        try FileWriter().write(host.configPath, bytes, mode: 0o644, under: host.root.path)
    }

    /// The config decides what the kernel hands to a VM: only root (or, for a staged
    /// root, the user running earlybind) may be able to change it.
    static func checkPermissions(_ path: String) throws(ConfigFileError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFLNK {
            throw ConfigFileError(description: "refusing \(path): it is a symlink")
        }
        if info.st_uid != 0 && info.st_uid != geteuid() {
            throw ConfigFileError(description: "refusing \(path): it is owned by uid \(info.st_uid), not root (chown root:root \(path))")
        }
        if info.st_mode & 0o022 != 0 {
            throw ConfigFileError(description: "refusing \(path): group or others may write it (chmod 644 \(path))")
        }
    }
}
