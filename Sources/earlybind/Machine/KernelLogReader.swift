import CKmod
import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads earlybind's boot lines back from the kernel log.
enum KernelLogReader {
    /// The messages of this boot, or nil when the log cannot be read (it needs root
    /// where `dmesg_restrict` is set). `/dev/kmsg` is read through syslog(2), in one
    /// call; another path is read as a file of kmsg records.
    static func messages(path: String = "/dev/kmsg") -> [String]? {
        if path == "/dev/kmsg" { return kernelBuffer().map(bufferMessages) }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = retryingInterrupts { buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            if count > 0 {
                bytes += buffer[0..<count]
                // /dev/kmsg returns one record per read, without a separator of its own.
                if bytes.last != 0x0A { bytes.append(0x0A) }
                continue
            }
            // EPIPE: records were overwritten while reading; the next read goes on.
            if count < 0 && errno == EPIPE { continue }
            if count < 0 && errno != EAGAIN { return nil }
            break
        }
        return messages(String(decoding: bytes, as: UTF8.self))
    }

    /// The `earlybind: …` messages among `messages`.
    static func earlybindLines(_ messages: [String]) -> [String] {
        messages.filter { $0.hasPrefix("earlybind: ") }
    }

    /// The messages of kmsg records (`6,339,5140900,-;text`); continuation lines
    /// (starting with a space: `SUBSYSTEM=pci`) are not messages.
    static func messages(_ records: String) -> [String] {
        records.split(separator: "\n").compactMap { record in
            if record.hasPrefix(" ") { return nil }
            return String(record.firstIndex(of: ";").map { record[record.index(after: $0)...] } ?? record[...])
        }
    }

    /// The kernel log buffer as syslog(2) gives it, or nil when that is not allowed.
    static func kernelBuffer() -> String? {
        let size = eb_klog_size()
        guard size > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(size))
        let count = buffer.withUnsafeMutableBufferPointer { eb_klog_read_all($0.baseAddress, Int32($0.count)) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer.prefix(Int(count)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The messages in syslog(2) text: `<5>[    3.677427] earlybind: …`.
    static func bufferMessages(_ text: String) -> [String] {
        text.split(separator: "\n").map { line in
            var rest = line[...]
            if rest.hasPrefix("<"), let end = rest.firstIndex(of: ">") { rest = rest[rest.index(after: end)...] }
            if rest.hasPrefix("["), let end = rest.firstIndex(of: "]") { rest = rest[rest.index(after: end)...].drop { $0 == " " } }
            return String(rest)
        }
    }
}
