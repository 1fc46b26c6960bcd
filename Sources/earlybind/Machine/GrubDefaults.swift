import EarlybindCore

/// GRUB's `/etc/default/grub` and `grub.d/*.cfg`, as far as earlybind reads them.
enum GrubDefaults {
    static let dropInDirectory = "/etc/default/grub.d"

    /// A word of the command line the files give GRUB, with the file and line it comes from.
    struct Word: Equatable {
        let text: String
        let file: String
        let line: Int
        var location: String { file + ":" + String(line) }
    }

    /// The value of a `GRUB_CMDLINE_LINUX=` or `GRUB_CMDLINE_LINUX_DEFAULT=` line, quotes
    /// and all; nil for any other line.
    static func commandLineValue(_ line: Substring) -> Substring? {
        assignment(line)?.value
    }

    /// /etc/default/grub, then the drop-ins grub-mkconfig sources after it (*.cfg, in
    /// name order); earlybind's own only when asked for.
    static func files(_ root: InstallRoot, includingEarlybind: Bool = false) -> [String] {
        let dropIns = ((try? PosixIO().list(root.resolve(dropInDirectory))) ?? []).sorted()
            .filter { $0.hasSuffix(".cfg") }.map { dropInDirectory + "/" + $0 }
        return [Layout.grubDefaultsPath] + dropIns.filter { includingEarlybind || $0 != Layout.grubDropInPath }
    }

    /// The words grub-mkconfig puts on a normal entry's `linux` line: GRUB_CMDLINE_LINUX,
    /// then GRUB_CMDLINE_LINUX_DEFAULT, as `files` (path, content; absent ones left out)
    /// leave them when sourced in order. As in sh, a later assignment replaces the value,
    /// and `$VAR` or `${VAR}` of either variable brings in its value so far.
    static func commandLine(_ files: [(path: String, bytes: [UInt8])]) -> [Word] {
        var values: [String: [Word]] = [linux: [], linuxDefault: []]
        for (path, bytes) in files {
            for (index, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                guard let (name, value) = assignment(line) else { continue }
                values[name] = value.filter { $0 != "\"" && $0 != "'" }.split(whereSeparator: { $0 == " " || $0 == "\t" }).flatMap { word in
                    let reference = word.hasPrefix("${") && word.hasSuffix("}") ? word.dropFirst(2).dropLast() : word.dropFirst()
                    if word.hasPrefix("$"), let earlier = values[String(reference)] { return earlier }
                    return [Word(text: String(word), file: path, line: index + 1)]
                }
            }
        }
        return values[linux]! + values[linuxDefault]!
    }

    /// `commandLine` of the files under `root`.
    static func commandLine(_ root: InstallRoot, includingEarlybind: Bool = false) -> [Word] {
        commandLine(files(root, includingEarlybind: includingEarlybind).compactMap { path in
            (try? PosixIO().read(root.resolve(path))).map { (path, $0) }
        })
    }

    private static let linux = "GRUB_CMDLINE_LINUX"
    private static let linuxDefault = "GRUB_CMDLINE_LINUX_DEFAULT"

    private static func assignment(_ line: Substring) -> (name: String, value: Substring)? {
        let text = line.drop { $0 == " " || $0 == "\t" }
        for name in [linux, linuxDefault] where text.hasPrefix(name + "=") {
            return (name, text.dropFirst(name.count + 1))
        }
        return nil
    }
}
