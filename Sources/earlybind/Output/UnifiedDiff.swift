/// A unified diff of two texts, for `install --dry-run`. Line-based LCS: the files
/// install writes are a few dozen lines.
enum UnifiedDiff {
    static func make(old: String, new: String, path: String, context: Int = 3) -> String {
        let a = old.isEmpty ? [] : old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLastIfEmpty()
        let b = new.isEmpty ? [] : new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLastIfEmpty()
        // lengths[i][j]: longest common subsequence of a[i...] and b[j...].
        var lengths = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lengths[i][j] = a[i] == b[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
            }
        }
        enum Edit { case same(String), removed(String), added(String) }
        var edits: [Edit] = []
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count && j < b.count && a[i] == b[j] {
                edits.append(.same(a[i])); i += 1; j += 1
            } else if i < a.count && (j == b.count || lengths[i + 1][j] >= lengths[i][j + 1]) {
                edits.append(.removed(a[i])); i += 1
            } else {
                edits.append(.added(b[j])); j += 1
            }
        }
        let changed = edits.indices.filter { if case .same = edits[$0] { return false } else { return true } }
        guard !changed.isEmpty else { return "" }

        var out = ["--- " + (a.isEmpty ? "/dev/null" : path), "+++ " + path]
        var start = 0
        while start < changed.count {
            var end = start
            while end + 1 < changed.count && changed[end + 1] - changed[end] <= 2 * context + 1 { end += 1 }
            let low = max(0, changed[start] - context), high = min(edits.count - 1, changed[end] + context)
            var oldLine = 1, newLine = 1
            for edit in edits[..<low] {
                switch edit {
                case .same: oldLine += 1; newLine += 1
                case .removed: oldLine += 1
                case .added: newLine += 1
                }
            }
            var oldCount = 0, newCount = 0, body: [String] = []
            for edit in edits[low...high] {
                switch edit {
                case .same(let line): body.append(" " + line); oldCount += 1; newCount += 1
                case .removed(let line): body.append("-" + line); oldCount += 1
                case .added(let line): body.append("+" + line); newCount += 1
                }
            }
            out.append("@@ -\(oldCount == 0 ? oldLine - 1 : oldLine),\(oldCount) +\(newCount == 0 ? newLine - 1 : newLine),\(newCount) @@")
            out += body
            start = end + 1
        }
        return out.joined(separator: "\n")
    }
}

extension Array where Element == String {
    func dropLastIfEmpty() -> [String] { last == "" ? Array(dropLast()) : self }
}
