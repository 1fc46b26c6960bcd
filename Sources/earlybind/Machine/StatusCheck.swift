import EarlybindCore

/// One finding of `status`: a stable code, how much it matters, the device it is about,
/// a sentence, and the exact fix. `ready` is false exactly when one has severity error.
struct StatusCheck: Equatable {
    enum Severity: String {
        /// The VM will not start, or will not get the device.
        case error
        /// The VM starts, but something may bite later (a restart, the next kernel, the host console).
        case warning
    }

    let code: String
    let severity: Severity
    /// The device the finding is about; nil for one about the machine.
    let device: PCIAddress?
    let message: String
    /// What to run or change; nil only where nothing the admin can do helps.
    let fix: String?

    static func error(_ code: String, _ device: PCIAddress? = nil, _ message: String, fix: String?) -> StatusCheck {
        StatusCheck(code: code, severity: .error, device: device, message: message, fix: fix)
    }

    static func warning(_ code: String, _ device: PCIAddress? = nil, _ message: String, fix: String?) -> StatusCheck {
        StatusCheck(code: code, severity: .warning, device: device, message: message, fix: fix)
    }

    var json: JSON {
        .object([
            ("code", .string(code)),
            ("severity", .string(severity.rawValue)),
            ("device", .optional(device?.description)),
            ("message", .string(message)),
            ("fix", .optional(fix)),
        ])
    }

    /// `error [code] 0000:03:00.0: message`, then `fix: ...`, within 80 columns.
    var lines: [String] {
        let subject = device.map { $0.description + ": " } ?? ""
        var lines = wrapped(severity.rawValue + " [" + code + "] " + subject + message, indent: "  ", continuation: "      ")
        if let fix { lines += wrapped("fix: " + fix, indent: "    ", continuation: "      ") }
        return lines
    }
}
