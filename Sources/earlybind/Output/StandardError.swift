import EarlybindCore

/// One line on standard error: warnings, and what `--json` moves off standard output.
func printError(_ line: String) {
    var standardError = StandardErrorLog()
    standardError.line(line)
}
