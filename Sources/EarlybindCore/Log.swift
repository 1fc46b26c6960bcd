import CKmod

/// Where boot lines go.
public protocol LogSink {
    mutating func line(_ text: String)
}

/// Writes each line to the kernel log. `/dev/kmsg` rate-limits every open file to
/// 10 lines per 5 s, so each line gets a fresh open: no line is dropped. A line the
/// kernel log does not take goes to standard error (the console) instead.
public struct KernelLog: LogSink {
    let device: String

    /// The kernel refuses records over 1024 bytes; stay well below with the prefix.
    static let maximumText = 960

    public init(device: String = "/dev/kmsg") {
        self.device = device
    }

    public mutating func line(_ text: String) {
        var bytes = Array(text.utf8)
        if bytes.count > KernelLog.maximumText { bytes = Array(bytes[0..<KernelLog.maximumText]) + Array("...".utf8) }
        // <5>: notice, shown on a default console and kept in `dmesg`.
        let record = Array("<5>".utf8) + bytes + [ASCII.newline]
        let fd = eb_open(device, O_WRONLY | O_APPEND, 0)
        var written = -1
        if fd >= 0 {
            written = record.withUnsafeBytes { CKmod.write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        if written != record.count { StandardErrorLog().write(record.dropFirst(3)) }
    }
}

public struct StandardErrorLog: LogSink {
    public init() {}

    public mutating func line(_ text: String) {
        write(Array((text + "\n").utf8)[...])
    }

    func write(_ bytes: ArraySlice<UInt8>) {
        _ = bytes.withUnsafeBytes { CKmod.write(2, $0.baseAddress, $0.count) }
    }
}
