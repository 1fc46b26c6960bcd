#if canImport(Glibc)
import Glibc
#endif

/// Test-only switches, compiled into debug builds alone: the shipped (release)
/// binary has none of them.
struct FaultPoints {
    private var completed = 0

    /// Marks the end of one step of a multi-step change. In a debug build with
    /// EARLYBIND_TEST_KILL_AFTER_STEP=N the process is killed (SIGKILL, no cleanup)
    /// right after step N, to prove a killed run leaves nothing half-done.
    mutating func step(_ name: String) {
        #if DEBUG
        completed += 1
        if let limit = getenv("EARLYBIND_TEST_KILL_AFTER_STEP"), Int(String(cString: limit)) == completed {
            kill(getpid(), SIGKILL)
        }
        #endif
    }

    /// In a debug build, EARLYBIND_TEST_SYSTEM_ROOT=DIR makes a staged root behave as /
    /// (commands are run, from PATH), so tests drive the real-root path with stubs.
    static func stagedRootActsAsSystem(_ root: InstallRoot) -> Bool {
        #if DEBUG
        return getenv("EARLYBIND_TEST_SYSTEM_ROOT").map { String(cString: $0) } == root.path
        #else
        return false
        #endif
    }
}
