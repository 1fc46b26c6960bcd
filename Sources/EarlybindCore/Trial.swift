import CKmod

/// Where a trial boot stands, kept in one EFI variable so that it survives a boot that
/// never finished, whatever the boot loader.
public enum TrialState: Sendable, CaseIterable {
    /// Set by `install --trial` or `trial`: the next boot is the trial.
    case armed
    /// The trial boot bound the devices and waits for `earlybind confirm`.
    case pending
    /// A trial boot went unconfirmed: boots bind nothing until a new trial or a confirm.
    case reverted
    /// Set by `earlybind confirm`: boots bind as usual.
    case confirmed

    /// The variable's data, and the name status and the boot report show.
    public var code: String {
        switch self {
        case .armed: return "armed"
        case .pending: return "pending"
        case .reverted: return "reverted"
        case .confirmed: return "confirmed"
        }
    }

    public init?(code bytes: ArraySlice<UInt8>) {
        guard let state = TrialState.allCases.first(where: { bytes.elementsEqual($0.code.utf8) }) else { return nil }
        self = state
    }
}

/// The file operations on efivarfs a trial needs, beyond reading.
public protocol EFIVariableIO: FileIO {
    /// Clears the immutable flag efivarfs puts on a variable, so it can be rewritten or removed.
    func makeMutable(_ path: String) throws(SystemError)
    /// `open(O_WRONLY|O_CREAT)` + one `write`: efivarfs takes a variable's
    /// attributes and data in a single write.
    func writeVariable(_ path: String, _ bytes: [UInt8]) throws(SystemError)
    func remove(_ path: String) throws(SystemError)
    func mountEFIVariables(_ directory: String) throws(SystemError)
    func unmount(_ directory: String) throws(SystemError)
}

extension PosixIO: EFIVariableIO {
    public func makeMutable(_ path: String) throws(SystemError) {
        if eb_clear_immutable(path) != 0 { throw SystemError(.write, path, errno: eb_errno()) }
    }

    public func writeVariable(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        let fd = eb_open(path, O_WRONLY | O_CREAT | O_NOFOLLOW, 0o644)
        if fd < 0 { throw SystemError(.write, path, errno: eb_errno()) }
        let written = retryingInterrupts { bytes.withUnsafeBytes { CKmod.write(fd, $0.baseAddress, $0.count) } }
        let failure = eb_errno()
        let closed = close(fd)
        if written < 0 { throw SystemError(.write, path, errno: failure) }
        if written != bytes.count { throw SystemError(.write, path, errno: 0, shortWrite: true) }
        if closed != 0 { throw SystemError(.write, path, errno: eb_errno()) }
    }

    public func remove(_ path: String) throws(SystemError) {
        if unlink(path) != 0 { throw SystemError(.remove, path, errno: eb_errno()) }
    }

    public func mountEFIVariables(_ directory: String) throws(SystemError) {
        if eb_mount_efivarfs(directory) != 0 { throw SystemError(.mount, directory, errno: eb_errno()) }
    }

    public func unmount(_ directory: String) throws(SystemError) {
        if eb_unmount(directory) != 0 { throw SystemError(.unmount, directory, errno: eb_errno()) }
    }
}

/// earlybind's one EFI variable, `EarlybindTrial-<earlybind's vendor GUID>`, in efivarfs:
/// four attribute bytes, then the state's name.
public struct TrialVariable<IO: EFIVariableIO> {
    public static var name: String { "EarlybindTrial-63e78999-89f5-4f1b-aae3-9a0b7b19caf2" }
    /// Non-volatile, boot-service and runtime access (EFI_VARIABLE_*), little-endian.
    static var attributes: [UInt8] { [0x07, 0, 0, 0] }

    /// The firmware's directory under a sysfs root; present only on a machine booted by UEFI.
    public static func firmwareDirectory(sysfs: String) -> String { sysfs + "/firmware/efi" }
    public static func variablesDirectory(sysfs: String) -> String { firmwareDirectory(sysfs: sysfs) + "/efivars" }

    /// Whether efivarfs is mounted there: a mounted one always lists the firmware's own variables.
    public static func variablesMounted(sysfs: String, io: IO) -> Bool {
        !((try? io.list(variablesDirectory(sysfs: sysfs))) ?? []).isEmpty
    }

    public let path: String
    public let io: IO

    public init(sysfs: String, io: IO) {
        path = TrialVariable.variablesDirectory(sysfs: sysfs) + "/" + TrialVariable.name
        self.io = io
    }

    /// What the variable holds: nothing, a state, or data that is no state.
    public enum Contents: Equatable, Sendable {
        case absent
        case state(TrialState)
        case garbled
    }

    public func contents() throws(SystemError) -> Contents {
        let bytes: [UInt8]
        do { bytes = try io.read(path) } catch {
            if error.errno == ENOENT { return .absent }
            throw error
        }
        guard bytes.count > 4, let state = TrialState(code: bytes[4...]) else { return .garbled }
        return .state(state)
    }

    /// The stored state; nil when there is no variable. Data that is no state is
    /// refused (EINVAL) rather than guessed at.
    public func read() throws(SystemError) -> TrialState? {
        switch try contents() {
        case .absent: return nil
        case .state(let state): return state
        case .garbled: throw SystemError(.read, path, errno: EINVAL)
        }
    }

    public func write(_ state: TrialState) throws(SystemError) {
        if io.exists(path) { try io.makeMutable(path) }
        try io.writeVariable(path, TrialVariable.attributes + Array(state.code.utf8))
    }

    /// Deletes the variable; true when there was one.
    @discardableResult
    public func remove() throws(SystemError) -> Bool {
        guard io.exists(path) else { return false }
        try io.makeMutable(path)
        try io.remove(path)
        return true
    }
}

/// What one boot did with the trial variable: the state it found, the state it left,
/// and whether it binds.
public struct TrialStep: Sendable {
    public let found: TrialState?
    public let left: TrialState?
    public let binds: Bool
    /// The kernel-log line, without `earlybind: `; nil for a boot with no trial.
    public let message: String?

    public static var notConfirmedMessage: String { "trial boot not confirmed: skipped (earlybind trial to try again)" }
    public static var trialBootMessage: String { "trial boot: run 'earlybind confirm' once the host works" }

    /// Reads the state and writes the next one. A store that cannot be read or written
    /// gives a normal boot, except that a trial known to be unconfirmed is never bound.
    public static func advance<IO: EFIVariableIO>(_ variable: TrialVariable<IO>) -> TrialStep {
        let found: TrialState?
        do { found = try variable.read() } catch { return unreachable(error.description) }
        switch found {
        case nil, .confirmed?:
            return TrialStep(found: found, left: found, binds: true, message: nil)
        case .armed?:
            do { try variable.write(.pending) } catch {
                return TrialStep(found: found, left: found, binds: true,
                                 message: "trial boot not recorded (" + error.description + "): a normal boot")
            }
            return TrialStep(found: found, left: .pending, binds: true, message: trialBootMessage)
        case .pending?:
            let recorded = (try? variable.write(.reverted)) != nil
            return TrialStep(found: found, left: recorded ? .reverted : .pending, binds: false, message: notConfirmedMessage)
        case .reverted?:
            return TrialStep(found: found, left: found, binds: false,
                             message: "an earlier trial boot was not confirmed: skipped (earlybind trial to try again, earlybind confirm to bind)")
        }
    }

    /// The step for a store that could not be read (efivarfs missing, not mountable, or the variable unreadable).
    public static func unreachable(_ cause: String) -> TrialStep {
        TrialStep(found: nil, left: nil, binds: true, message: "trial state unreadable (" + cause + "): a normal boot")
    }

    var json: JSON {
        .object([
            ("found", .optional(found?.code)),
            ("left", .optional(left?.code)),
            ("binds", .bool(binds)),
            ("message", .optional(message)),
        ])
    }
}
