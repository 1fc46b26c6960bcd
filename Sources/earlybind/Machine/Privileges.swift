#if canImport(Glibc)
import Glibc
#endif

/// A command that needs root was run without it.
struct PermissionError: Error, CustomStringConvertible {
    let description: String
}

/// The one root check. Changing the real system needs root; a staged root or a fake
/// sysfs tree (the tests) does not, and neither does a dry run.
enum Privileges {
    /// `change` says what the command changes ("install changes boot files"),
    /// `alternatives` what works without root.
    static func requireRoot(_ change: String, onRealSystem: Bool, dryRun: Bool, alternatives: String? = nil) throws(PermissionError) {
        guard onRealSystem && !dryRun && geteuid() != 0 else { return }
        throw PermissionError(description: "\(change): run it as root" + (alternatives.map { " (\($0))" } ?? ""))
    }
}
