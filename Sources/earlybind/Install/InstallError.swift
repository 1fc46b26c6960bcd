/// An install-time file operation that failed.
struct InstallError: Error, CustomStringConvertible {
    let description: String
}
