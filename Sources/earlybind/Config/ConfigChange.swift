import EarlybindCore

/// What `add` or `remove` did to the config, as their `--json` reports it.
struct ConfigChange {
    /// The config differs, or would in a dry run.
    let changed: Bool
    let dryRun: Bool
    /// The entries written or updated (add), or the lines taken out (remove).
    let entries: [String]
    var extra: [(String, JSON)] = []

    func json(config path: String) -> JSON {
        .object([
            ("changed", .bool(changed)),
            ("dry_run", .bool(dryRun)),
            ("config", .string(path)),
            ("entries", .array(entries.map(JSON.string))),
        ] + extra)
    }
}
