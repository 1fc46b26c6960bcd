import EarlybindCore

/// Edits the config as bytes, line by line, split exactly as `Config.parse` splits
/// it, so line numbers agree and the admin's text (any encoding, CRLF) survives.
struct ConfigEditor {
    private(set) var lines: [[UInt8]]

    init(_ text: [UInt8]) {
        var lines = text.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        if text.last == 0x0A || text.isEmpty { lines.removeLast() }
        self.lines = lines
    }

    var text: [UInt8] {
        lines.flatMap { $0 + [0x0A] }
    }

    /// Line `number` (1-based) for display, without a carriage return.
    func display(_ number: Int) -> String {
        var line = lines[number - 1]
        if line.last == 0x0D { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }

    mutating func append(_ line: String) {
        lines.append(Array(line.utf8))
    }

    /// Replaces the entry of line `number`, keeping its comment and line ending.
    mutating func replaceEntry(line number: Int, with entry: String) {
        let old = lines[number - 1]
        let comment = old.firstIndex(of: 0x23).map { Array(old[$0...]) } ?? (old.last == 0x0D ? [0x0D] : [])
        lines[number - 1] = Array(entry.utf8) + (comment.first == 0x23 ? Array("  ".utf8) : []) + comment
    }

    /// Removes the given 1-based line numbers.
    mutating func remove(lines numbers: [Int]) {
        for number in Set(numbers).sorted(by: >) where number >= 1 && number <= lines.count {
            lines.remove(at: number - 1)
        }
    }
}
