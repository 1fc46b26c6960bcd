import EarlybindCore

/// Edits the config text line by line, so the admin's comments and layout survive.
struct ConfigEditor {
    private(set) var lines: [String]

    init(_ text: [UInt8]) {
        let string = String(decoding: text, as: UTF8.self)
        var lines = string.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if string.hasSuffix("\n") { lines.removeLast() }
        self.lines = lines
    }

    var text: [UInt8] {
        Array((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8)
    }

    mutating func append(_ line: String) {
        lines.append(line)
    }

    /// Removes the given 1-based line numbers.
    mutating func remove(lines numbers: [Int]) {
        for number in numbers.sorted(by: >) where number >= 1 && number <= lines.count {
            lines.remove(at: number - 1)
        }
    }
}
