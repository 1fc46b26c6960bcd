/// GRUB's `/etc/default/grub` and `grub.d/*.cfg`, as far as earlybind reads them.
enum GrubDefaults {
    /// The value of a `GRUB_CMDLINE_LINUX=` or `GRUB_CMDLINE_LINUX_DEFAULT=` line, quotes
    /// and all; nil for any other line.
    static func commandLineValue(_ line: Substring) -> Substring? {
        let text = line.drop { $0 == " " || $0 == "\t" }
        guard text.hasPrefix("GRUB_CMDLINE_LINUX=") || text.hasPrefix("GRUB_CMDLINE_LINUX_DEFAULT=") else { return nil }
        return text.drop { $0 != "=" }.dropFirst()
    }
}
