import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads earlybind's boot lines back from the kernel log.
enum KernelLogReader {
    /// The `earlybind: …` messages of this boot, or nil when the log cannot be read
    /// (`/dev/kmsg` needs root where `dmesg_restrict` is set).
    static func earlybindLines(path: String = "/dev/kmsg") -> [String]? {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes += buffer[0..<count]
                // /dev/kmsg returns one record per read, without a separator of its own.
                if bytes.last != 0x0A { bytes.append(0x0A) }
                continue
            }
            // EPIPE: records were overwritten while reading; the next read goes on.
            if count < 0 && (errno == EINTR || errno == EPIPE) { continue }
            if count < 0 && errno != EAGAIN { return nil }
            break
        }
        return messages(String(decoding: bytes, as: UTF8.self))
    }

    /// The messages in kmsg records (`6,339,5140900,-;text`) that come from earlybind.
    static func messages(_ records: String) -> [String] {
        records.split(separator: "\n").compactMap { record in
            let text = record.firstIndex(of: ";").map { record[record.index(after: $0)...] } ?? record[...]
            return text.hasPrefix("earlybind: ") ? String(text) : nil
        }
    }
}
