/// Text helpers for the 80-column output of every command.
extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    /// Padded or cut (with an ellipsis) to exactly `width` characters.
    func fitted(_ width: Int) -> String {
        truncated(width).padding(width)
    }

    /// Cut with an ellipsis when longer than `width` characters.
    func truncated(_ width: Int) -> String {
        count > width ? String(prefix(width - 1)) + "…" : self
    }

    func trimmedRight() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }

    func trimmingNewlines() -> String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

extension Substring {
    func trimmingBlanks() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// Word-wrapped to 80 columns; a word longer than a line (a path) stays whole.
func wrapped(_ text: String, indent: String, continuation: String) -> [String] {
    var lines: [String] = []
    var current = indent
    for word in text.split(separator: " ") {
        let prefix = lines.isEmpty ? indent : continuation
        if current.count > prefix.count && current.count + 1 + word.count > 80 {
            lines.append(current)
            current = continuation + word
        } else {
            current += (current.count > prefix.count ? " " : "") + word
        }
    }
    lines.append(current)
    return lines
}

/// One row of `status`: the label and a colon in 18 columns after two spaces, the value
/// wrapped beside it.
func labelled(_ label: String, _ value: String) -> [String] {
    wrapped(value, indent: "  " + (label + ":").padding(18), continuation: String(repeating: " ", count: 20))
}
