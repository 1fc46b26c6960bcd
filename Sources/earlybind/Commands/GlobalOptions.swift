import ArgumentParser

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
        guard InstallRoot(root) != nil else {
            throw ValidationError("--root '\(root)': must be an absolute path of letters, digits and ._+-:,= only, without . or .. (it is printed into shell commands to paste)")
        }
        guard sysfs.hasPrefix("/") else {
            throw ValidationError("--sysfs '\(sysfs)': must be an absolute path")
        }
    }

    var host: Host { Host(root: InstallRoot(root)!, sysfsRoot: sysfs, pciIDsPath: pciIDs) }
}
