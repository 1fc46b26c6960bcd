/// The root directory install writes under: `/` on a real system, a staging
/// directory in tests. No generated file names it, but it is printed into commands
/// for the admin to paste (`EARLYBIND_ROOT=DIR mkinitramfs …`), so only plain
/// characters are accepted.
struct InstallRoot: Equatable {
    let path: String

    /// `.` and `..` components are refused because `/.` must not pass for a staging root;
    /// `@` since the hook templates' placeholders are spelled with it.
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
