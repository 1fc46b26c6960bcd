import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// `install --migrate`: the edits that take the manual recipe's conflicting leftovers
/// out of the admin's files, worked out read-only. Only the IDs of configured devices
/// go: from `options vfio-pci ids=…` in /etc/modprobe.d/*.conf (the `ids=` word once
/// its list is empty, the whole line once nothing but `options vfio-pci` is left), and
/// from `vfio-pci.ids=` in GRUB_CMDLINE_LINUX(_DEFAULT) of the GRUB files and in
/// /etc/kernel/cmdline. Words are edited, every other byte is kept. A file owned by a
/// package, a symlink, or a file under a symlinked directory is left alone, and
/// `blacklist` lines are never touched (`RecipeLeftovers` reports them).
///
/// Package ownership is read from the root's package databases, not by running
/// `dpkg -S`: `ROOT/var/lib/dpkg/info/*.list` (what dpkg -S searches) and
/// `ROOT/var/lib/pacman/local/*/files`. This works the same for the real root and a
/// staged one, and runs nothing.
struct Migration {
    struct Edit {
        let path: String
        let current: [UInt8]
        let content: [UInt8]
    }

    /// Files with a conflicting leftover that are left alone, and why.
    struct Skip {
        let path: String
        let reason: String
    }

    let edits: [Edit]
    let skipped: [Skip]

    var paths: Set<String> { Set(edits.map(\.path)) }

    /// `base`: the content already planned for a path (the IOMMU flags in
    /// /etc/kernel/cmdline), edited instead of the file on disk.
    init(root: InstallRoot, configuredIDs: Set<String>, bootLoader: Bool, base: [String: [UInt8]] = [:]) {
        var candidates = RecipeLeftovers.list(root, RecipeLeftovers.modprobeDirectory)
            .filter { $0.hasSuffix(".conf") }.map { RecipeLeftovers.modprobeDirectory + "/" + $0 }
        if bootLoader { candidates += GrubDefaults.files(root) + [Layout.kernelCmdlinePath] }
        var edits: [Edit] = []
        var skipped: [Skip] = []
        var owners: PackageFiles? = nil
        for path in candidates {
            guard let current = try? FileWriter().contents(root.resolve(path)) else { continue }
            let content = Migration.edited(path, base[path] ?? current, configuredIDs)
            guard content != (base[path] ?? current) else { continue }
            if let reason = Migration.unsafe(path, root: root) {
                skipped.append(Skip(path: path, reason: reason))
                continue
            }
            if owners == nil { owners = PackageFiles(root: root) }
            if let owner = owners?.owner(of: path) {
                skipped.append(Skip(path: path, reason: "it belongs to \(owner): change it there or by hand"))
                continue
            }
            edits.append(Edit(path: path, current: current, content: content))
        }
        self.edits = edits
        self.skipped = skipped
    }

    /// Why `path` must not be written: a symlink, or a symlinked directory on the way.
    static func unsafe(_ path: String, root: InstallRoot) -> String? {
        if FileWriter().isSymlink(root.resolve(path)) { return "it is a symlink" }
        do { try FileWriter().refuseSymlinks(root.resolve(path), under: root.path) } catch { return "a directory on its path is a symlink" }
        return nil
    }

    // MARK: Editing words

    enum WordEdit: Equatable {
        case keep
        case remove
        case replace([UInt8])
    }

    static let blanks: Set<UInt8> = [0x20, 0x09, 0x0D]
    /// What ends a word: blanks and, in GRUB's shell assignments, quotes.
    static let separators: Set<UInt8> = blanks.union([0x22, 0x27])

    /// `bytes` with the configured IDs taken out of the leftovers `path` may hold.
    static func edited(_ path: String, _ bytes: [UInt8], _ configuredIDs: Set<String>) -> [UInt8] {
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        var index = 0
        while index < lines.count {
            let line = lines[index]
            let text = String(decoding: line, as: UTF8.self)
            let words = RecipeLeftovers.words(text)
            if path.hasPrefix(RecipeLeftovers.modprobeDirectory + "/") {
                if words.count > 2, words[0] == "options", RecipeLeftovers.isVFIOPCI(words[1]) {
                    let new = editWords(line, from: 0) { dropIDs($0, prefix: "ids=", configuredIDs) }
                    if new != line && RecipeLeftovers.words(String(decoding: new, as: UTF8.self)).count <= 2 {
                        lines.remove(at: index)
                        continue
                    }
                    lines[index] = new
                }
            } else if path.hasPrefix("/etc/default/") {
                let start = line.prefix { blanks.contains($0) }.count
                let rest = String(decoding: line[start...], as: UTF8.self)
                if rest.hasPrefix("GRUB_CMDLINE_LINUX=") || rest.hasPrefix("GRUB_CMDLINE_LINUX_DEFAULT="),
                   let equals = line[start...].firstIndex(of: 0x3D) {
                    lines[index] = editWords(line, from: equals + 1) { cmdlineWord($0, configuredIDs) }
                }
            } else if !(words.first?.hasPrefix("#") ?? true) {
                lines[index] = editWords(line, from: 0) { cmdlineWord($0, configuredIDs) }
            }
            index += 1
        }
        return Array(lines.joined(separator: [0x0A]))
    }

    static func cmdlineWord(_ word: [UInt8], _ configuredIDs: Set<String>) -> WordEdit {
        for prefix in ["vfio-pci.ids=", "vfio_pci.ids="] {
            let edit = dropIDs(word, prefix: prefix, configuredIDs)
            if edit != .keep { return edit }
        }
        return .keep
    }

    /// A `PREFIXids` word without the configured IDs: removed once none is left.
    static func dropIDs(_ word: [UInt8], prefix: String, _ configuredIDs: Set<String>) -> WordEdit {
        let prefixBytes = Array(prefix.utf8)
        guard word.starts(with: prefixBytes) else { return .keep }
        let listed = word.dropFirst(prefixBytes.count).split(separator: 0x2C, omittingEmptySubsequences: false)
        let kept = listed.filter { !configuredIDs.contains(String(decoding: $0, as: UTF8.self).lowercased()) }
        if kept.count == listed.count { return .keep }
        if kept.allSatisfy(\.isEmpty) { return .remove }
        return .replace(prefixBytes + Array(kept.joined(separator: [0x2C])))
    }

    /// `line` with each word from `start` on edited; a removed word takes the blanks
    /// before it (or, first in its value, those after it) along, and nothing else.
    static func editWords(_ line: [UInt8], from start: Int, _ edit: ([UInt8]) -> WordEdit) -> [UInt8] {
        var words: [Range<Int>] = []
        var index = start
        while index < line.count {
            if separators.contains(line[index]) { index += 1; continue }
            let begin = index
            while index < line.count && !separators.contains(line[index]) { index += 1 }
            words.append(begin..<index)
        }
        var result = line
        for word in words.reversed() {
            switch edit(Array(line[word])) {
            case .keep: continue
            case .replace(let bytes): result.replaceSubrange(word, with: bytes)
            case .remove:
                var lower = word.lowerBound
                var upper = word.upperBound
                while lower > start && blanks.contains(result[lower - 1]) { lower -= 1 }
                if lower == word.lowerBound {
                    while upper < result.count && blanks.contains(result[upper]) { upper += 1 }
                }
                result.removeSubrange(lower..<upper)
            }
        }
        return result
    }
}

/// Which package owns a file, from the root's dpkg and pacman databases.
struct PackageFiles {
    private var owners: [String: String] = [:]

    init(root: InstallRoot) {
        let dpkg = "/var/lib/dpkg/info"
        for name in RecipeLeftovers.list(root, dpkg) where name.hasSuffix(".list") {
            guard let bytes = try? PosixIO().read(root.resolve(dpkg + "/" + name)) else { continue }
            let package = "the package " + name.dropLast(5)
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("/etc/") {
                owners[String(line)] = package
            }
        }
        let pacman = "/var/lib/pacman/local"
        for name in RecipeLeftovers.list(root, pacman) {
            guard let bytes = try? PosixIO().read(root.resolve(pacman + "/" + name + "/files")) else { continue }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("etc/") {
                owners["/" + line] = "the package " + name
            }
        }
    }

    func owner(of path: String) -> String? { owners[path] }
}
