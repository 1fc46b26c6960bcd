import CKmod

/// Where boot lines go.
public protocol LogSink {
    mutating func line(_ text: String)
}

/// Writes each line to the kernel log. `/dev/kmsg` rate-limits every open file to
/// 10 lines per 5 s, so each line gets a fresh open: no line is dropped.
/// Falls back to standard error when `/dev/kmsg` cannot be opened.
public struct KernelLog: LogSink {
    let device: String

    public init(device: String = "/dev/kmsg") {
        self.device = device
    }

    public mutating func line(_ text: String) {
        // <5>: notice, shown on a default console and kept in `dmesg`.
        let record = Array(("<5>" + text + "\n").utf8)
        let fd = eb_open(device, O_WRONLY, 0)
        if fd < 0 {
            StandardErrorLog().write(record.dropFirst(3))
            return
        }
        _ = record.withUnsafeBytes { CKmod.write(fd, $0.baseAddress, $0.count) }
        close(fd)
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
