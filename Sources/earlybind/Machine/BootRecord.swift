import EarlybindCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The report the boot binder left in `/run/earlybind/boot.json` (see `BootReport` in
/// the core, which writes it): what this boot did, device by device.
struct BootRecord: Decodable {
    struct Device: Decodable {
        let address: String
        let id: String?
        /// bound, already_bound, left or failed.
        let action: String
        let reason: String?
        let cause: String?
        let forced: Bool
        let driverBefore: String?
        let driverAfter: String?
        /// The kernel-log line of this outcome, without `earlybind: `.
        let message: String

        enum CodingKeys: String, CodingKey {
            case address, id, action, reason, cause, forced, message
            case driverBefore = "driver_before", driverAfter = "driver_after"
        }
    }

    /// What the boot did with the trial variable (`TrialStep` in the core).
    struct Trial: Decodable {
        let found: String?
        let left: String?
        let binds: Bool
        let message: String?
    }

    let format: Int
    let version: String
    let configSHA256: String?
    /// `earlybind=off`, `config_error` or `trial_not_confirmed`; nil when the boot ran the config.
    let skipped: String?
    let devices: [Device]
    /// nil when the binder never got that far (no UEFI, earlybind=off, no or a bad config, no
    /// devices), and from an earlybind before trials.
    let trial: Trial?

    enum CodingKeys: String, CodingKey {
        case format, version, skipped, devices, trial
        case configSHA256 = "config_sha256"
    }

    /// The report under the host's root; nil when there is none (an older boot, `/run`
    /// lost, the boot binder cut off) or it is of a format this CLI does not know.
    static func load(_ host: Host) -> BootRecord? {
        guard let bytes = host.file(BootReport.defaultPath) else { return nil }
        guard let record = try? JSONDecoder().decode(BootRecord.self, from: Data(bytes)), record.format == 1 else { return nil }
        return record
    }

    func device(_ address: String) -> Device? { devices.first { $0.address == address } }
}
