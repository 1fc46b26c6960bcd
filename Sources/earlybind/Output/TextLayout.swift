#if canImport(Glibc)
import Glibc
#endif

/// How wide a listing's line may be: the terminal's width when standard output is one;
/// no limit when it is piped or redirected (grep and saved listings see whole names),
/// or with --full, as systemctl does.
enum OutputWidth {
    /// Set once from --full, before a command runs.
    nonisolated(unsafe) static var full = false

    static var columns: Int? {
        guard !full, isatty(STDOUT_FILENO) == 1 else { return nil }
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return max(40, Int(size.ws_col))
    }
}

/// Text helpers for the output of every command.
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

    /// Cut to `width` when there is one (OutputWidth.columns).
    func cut(to width: Int?) -> String {
        width.map { truncated($0) } ?? self
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
