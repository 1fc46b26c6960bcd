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
        try wait(for: spawn(arguments, actions: nil), arguments)
    }

    /// Runs it with standard output captured; standard error goes to the terminal.
    static func capture(_ arguments: [String]) throws -> (status: Int32, output: String) {
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { throw InstallError("could not create a pipe: \(errorText(errno))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipe[0])
        let spawned = Result { try spawn(arguments, actions: &actions) }
        close(pipe[1])
        defer { close(pipe[0]) }
        let pid = try spawned.get()
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = retryingInterrupts { buffer.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) } }
            if count <= 0 { break }
            output += buffer[0..<count]
        }
        return (try wait(for: pid, arguments), String(decoding: output, as: UTF8.self))
    }

    private static func spawn(_ arguments: [String], actions: UnsafePointer<posix_spawn_file_actions_t>?) throws -> pid_t {
        var pid = pid_t()
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawnp(&pid, arguments[0], actions, nil, argv, environ)
        if spawned != 0 { throw InstallError("could not run '\(arguments[0])': \(errorText(spawned))") }
        return pid
    }

    /// Its exit status, 128 + signal when it was killed.
    private static func wait(for pid: pid_t, _ arguments: [String]) throws -> Int32 {
        var status: Int32 = 0
        if retryingInterrupts({ waitpid(pid, &status, 0) }) < 0 {
            throw InstallError("could not wait for '\(arguments[0])': \(errorText(errno))")
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}

extension InstallRoot {
    /// Whether this is the running system's root, the only one where commands run and a
    /// trial can be armed (its EFI variables): a staged root only reports what is needed.
    /// In a debug build a test may declare a staged root the system (see FaultPoints),
    /// with --sysfs on a stand-in for the variables.
    var actsAsRunningSystem: Bool { isSystemRoot || FaultPoints.stagedRootActsAsSystem(self) }
}
