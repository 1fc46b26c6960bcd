import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Changing the real /sys needs root; a fake tree (tests) does not.
func requireRoot(_ host: Host, dryRun: Bool, what: String) throws {
    if host.sysfs.root == "/sys" && !dryRun && geteuid() != 0 {
        throw InstallError(description: "\(what) changes drivers in /sys: run it as root")
    }
}
