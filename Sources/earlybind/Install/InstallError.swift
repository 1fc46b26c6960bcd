import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// The one error of install, uninstall, the manifest, the image checks and the
/// external commands they run. It carries one full sentence, in kmod's manner: what
/// could not be done, to what, and why (`could not create '/etc/kernel': Permission
/// denied`), or what is wrong and what to do about it; it is printed as it is.
struct InstallError: Error, CustomStringConvertible {
    let description: String

    init(_ sentence: String) {
        description = sentence
    }

    /// `could not VERB 'PATH': strerror(errno)`.
    static func couldNot(_ verb: String, _ path: String, errno: Int32) -> InstallError {
        InstallError("could not \(verb) '\(path)': \(errorText(errno))")
    }

    /// A failed system call, in the core's words.
    init(_ error: SystemError) {
        self.init(error.description)
    }
}

