import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Runs an external program, found through PATH, with the terminal's output.
enum ExternalCommand {
    /// The program's full path, or nil when PATH does not have it.
    static func find(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Runs it and returns its exit status (128 + signal when killed).
    static func run(_ arguments: [String]) throws -> Int32 {
        var pid = pid_t()
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawnp(&pid, arguments[0], nil, nil, argv, environ)
        if spawned != 0 {
            throw InstallError(description: "could not run '\(arguments[0])': \(errorText(spawned))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { throw InstallError(description: "could not wait for '\(arguments[0])': \(errorText(errno))") }
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
