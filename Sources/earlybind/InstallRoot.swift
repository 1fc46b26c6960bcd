/// The root directory install writes under: `/` on a real system, a staging
/// directory in tests. Its path goes into a generated shell script, so only
/// plain characters are accepted.
struct InstallRoot: Equatable {
    let path: String

    init?(_ path: String) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-@:,=")
        guard path.hasPrefix("/"), path.allSatisfy(allowed.contains), !path.split(separator: "/").contains("..")
        else { return nil }
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.path = trimmed
    }

    var isSystemRoot: Bool { path == "/" }

    /// Where `/absolute/path` of the target system lives on this machine.
    func resolve(_ absolute: String) -> String {
        isSystemRoot ? absolute : path + absolute
    }
}
