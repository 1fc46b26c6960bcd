/// The version of earlybind, shown by both binaries and written into each boot report.
public let earlybindVersion = "0.1.0"

/// What the boot binder did with one device. The kernel log line, the boot report
/// and `earlybind apply`'s exit status are all rendered from these values.
public struct DeviceOutcome: Sendable {
    public enum Action: Sendable {
        case bound
        case alreadyBound
        case left(LeaveReason)
        case failed(BindFailure)

        /// The report's `action`.
        public var code: String {
            switch self {
            case .bound: return "bound"
            case .alreadyBound: return "already_bound"
            case .left: return "left"
            case .failed: return "failed"
            }
        }
    }

    public let address: PCIAddress
    /// Nil when the device could not be found or read.
    public let id: PCIID?
    public let action: Action
    public let forced: Bool
    public let driverBefore: DriverName?
    public let driverAfter: DriverName?

    public init(address: PCIAddress, id: PCIID?, action: Action, forced: Bool, driverBefore: DriverName?, driverAfter: DriverName?) {
        self.address = address
        self.id = id
        self.action = action
        self.forced = forced
        self.driverBefore = driverBefore
        self.driverAfter = driverAfter
    }

    /// How binding a device ended; `driverBefore` is its driver as the plan read it.
    public init(binding address: PCIAddress, id: PCIID?, outcome: BindOutcome, forced: Bool, driverBefore: DriverName?) {
        switch outcome {
        case .bound(let previous):
            self.init(address: address, id: id, action: .bound, forced: forced, driverBefore: previous, driverAfter: .vfioPCI)
        case .alreadyBound:
            self.init(address: address, id: id, action: .alreadyBound, forced: forced, driverBefore: .vfioPCI, driverAfter: .vfioPCI)
        case .failed(let cause, let nowOn):
            self.init(address: address, id: id, action: .failed(.refused(cause: cause)), forced: forced,
                      driverBefore: driverBefore, driverAfter: nowOn)
        }
    }

    /// `0000:03:00.0 [10de:1b02]`, or the address alone for a device that could not be read.
    public var subject: String {
        guard let id else { return address.description }
        return address.description + " [" + id.description + "]"
    }

    /// The kernel log line, without the `earlybind: ` prefix.
    public var logText: String {
        let forcedNote = forced ? " (forced)" : ""
        switch action {
        case .bound:
            return subject + ": bound to vfio-pci" + (driverBefore.map { " (was " + $0.description + ")" } ?? "") + forcedNote
        case .alreadyBound:
            return subject + ": already on vfio-pci" + forcedNote
        case .left(let reason):
            return subject + ": left alone: " + reason.description(of: address)
        case .failed(let failure):
            let after = driverAfter.map { "back on " + $0.description } ?? "no driver took it back"
            switch failure {
            case .refused(let cause):
                return subject + ": not bound: " + cause + "; " + after + forcedNote
            case .givenBack(let mate, let group, let errors):
                return subject + ": given back: " + mate.description + " of IOMMU group " + decimalString(group)
                    + " was not bound; " + after + (errors.isEmpty ? "" : " (" + errors.joined(separator: "; ") + ")")
            }
        }
    }

    var json: JSON {
        var reason: JSON = .null
        var cause: JSON = .null
        switch action {
        case .left(let leave): reason = .string(leave.code)
        case .failed(let failure): cause = .string(failure.cause)
        case .bound, .alreadyBound: break
        }
        return .object([
            ("address", .string(address.description)),
            ("id", .optional(id?.description)),
            ("action", .string(action.code)),
            ("reason", reason),
            ("cause", cause),
            ("forced", .bool(forced)),
            ("driver_before", .optional(driverBefore?.description)),
            ("driver_after", .optional(driverAfter?.description)),
            ("message", .string(logText)),
        ])
    }
}

/// Why a device that was to be bound is not on vfio-pci.
public enum BindFailure: Sendable {
    /// Binding it failed; the cause includes any failure of the give-back.
    case refused(cause: String)
    /// It was bound, then given back because `mate` of its IOMMU group was not:
    /// a group is never left split between vfio-pci and the host.
    case givenBack(mate: PCIAddress, group: Int, errors: [String])

    /// A sentence for the report's `cause`.
    public var cause: String {
        switch self {
        case .refused(let cause): return cause
        case .givenBack(let mate, let group, let errors):
            return mate.description + " of IOMMU group " + decimalString(group) + " was not bound"
                + (errors.isEmpty ? "" : "; " + errors.joined(separator: "; "))
        }
    }
}

/// One boot's outcome: what `earlybind-boot` writes to `/run/earlybind/boot.json`
/// for `earlybind status` (initramfs-tools, dracut and mkinitcpio all move `/run`
/// into the real root).
public struct BootReport: Sendable {
    public enum Skip: Sendable {
        case switchedOff
        case configError
        /// A trial boot went unconfirmed (`TrialStep`).
        case trialNotConfirmed

        public var code: String {
            switch self {
            case .switchedOff: return "earlybind=off"
            case .configError: return "config_error"
            case .trialNotConfirmed: return "trial_not_confirmed"
            }
        }
    }

    public static let defaultPath = "/run/earlybind/boot.json"
    /// Bumped when a key changes meaning; readers refuse formats they do not know.
    public static let format = 1

    /// SHA-256 of the config's raw bytes; nil when there was no config to read.
    public var configSHA256: String? = nil
    public var skipped: Skip? = nil
    public var configErrors: [ConfigError] = []
    public var devices: [DeviceOutcome] = []
    public var unmatchedIDs: [PCIID] = []
    /// What this boot did with the trial variable; nil when it never got that far (no UEFI,
    /// earlybind=off, no config, a bad one, or no devices).
    public var trial: TrialStep? = nil

    public init() {}

    public var boundCount: Int {
        devices.filter { if case .bound = $0.action { return true }; if case .alreadyBound = $0.action { return true }; return false }.count
    }
    public var leftCount: Int { devices.filter { if case .left = $0.action { return true } else { return false } }.count }
    public var failedCount: Int { devices.filter { if case .failed = $0.action { return true } else { return false } }.count }

    /// The closing log line.
    public var summary: String {
        "done: " + decimalString(boundCount) + " on vfio-pci, " + decimalString(leftCount) + " left alone, "
            + decimalString(failedCount) + " failed"
    }

    public var json: JSON {
        .object([
            ("format", .int(BootReport.format)),
            ("version", .string(earlybindVersion)),
            ("config_sha256", .optional(configSHA256)),
            ("skipped", .optional(skipped?.code)),
            ("config_errors", .array(configErrors.map { error in
                .object([("file", .string(error.file)), ("line", .int(error.line)), ("message", .string(error.message))])
            })),
            ("unmatched_ids", .array(unmatchedIDs.map { .string($0.description) })),
            ("devices", .array(devices.map { $0.json })),
            ("trial", trial?.json ?? .null),
        ])
    }
}
