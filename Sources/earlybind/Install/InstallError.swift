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

    /// The spelling of the callers outside Install/, which are to move to their own errors.
    init(description: String) {
        self.init(description)
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

extension InstallError {
    /// Refuses `command` (install, uninstall) on the real system without root: it changes boot files.
    static func requireRoot(for command: String, root: InstallRoot, dryRun: Bool) throws {
        if root.isSystemRoot && !dryRun && geteuid() != 0 {
            throw InstallError("\(command) changes boot files: run it as root (or try --dry-run, or --root DIR)")
        }
    }
}
