import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// Options every command takes: where sysfs is, and the root everything else is read and written under.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read devices from this sysfs tree.", valueName: "DIR"))
    var sysfs: String = "/sys"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Read and write the config, installed files and boot/ under this root; a root other than / also gives proc/ and dev/kmsg in place of this machine's.",
            valueName: "DIR"))
    var root: String = "/"

    @Flag(name: .long, help: "Do not cut long lines to the terminal's width (piped or redirected output is never cut).")
    var full = false

    /// Names devices from this pci.ids instead of the system's: for output that does not
    /// depend on the machine's copy (the golden tests).
    @Option(name: .customLong("pci-ids"), help: .hidden)
    var pciIDs: String?

    func validate() throws {
        if full { OutputWidth.full = true }
        guard InstallRoot(GlobalOptions.absolute(root)) != nil else {
            throw ValidationError("--root '\(root)': must be a path of letters, digits and ._+-:,= only (it is printed into shell commands to paste)")
        }
        guard !GlobalOptions.absolute(sysfs).isEmpty else { throw ValidationError("--sysfs '\(sysfs)': no such directory") }
    }

    /// A relative path (`--root staged`) taken from the working directory, as dpkg and
    /// systemctl take theirs: an existing one as its real path, without . or .. An
    /// absolute path stays as given, for InstallRoot to judge.
    static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        if let real = realpath(path, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        var directory = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&directory, directory.count) != nil else { return "" }
        return String(cString: directory) + "/" + path
    }

    var host: Host { Host(root: InstallRoot(GlobalOptions.absolute(root))!, sysfsRoot: GlobalOptions.absolute(sysfs), pciIDsPath: pciIDs) }
}
