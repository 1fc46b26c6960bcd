import EarlybindCore

/// Writes the config atomically.
enum ConfigFile {
    static func write(_ bytes: [UInt8], host: Host) throws {
        try FileWriter().write(host.configPath, bytes, mode: 0o644, under: host.root.path)
    }
}
