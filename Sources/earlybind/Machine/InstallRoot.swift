/// The root directory install writes under: `/` on a real system, a staging
/// directory in tests. Its path goes into a generated shell script, so only
/// plain characters are accepted.
struct InstallRoot: Equatable {
    let path: String

    /// `@` is refused because the hook template's placeholders use it; `.` and `..`
    /// components because `/.` must not pass for a staging root.
    init?(_ path: String) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-:,=")
        let components = path.split(separator: "/")
        guard path.hasPrefix("/"), path.allSatisfy(allowed.contains), !components.contains("."), !components.contains("..")
        else { return nil }
        self.path = "/" + components.joined(separator: "/")
    }

    var isSystemRoot: Bool { path == "/" }

    /// Where `/absolute/path` of the target system lives on this machine.
    func resolve(_ absolute: String) -> String {
        isSystemRoot ? absolute : path + absolute
    }
}
