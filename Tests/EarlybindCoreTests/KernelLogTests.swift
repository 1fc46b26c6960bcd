@testable import EarlybindCore
import Foundation
import Testing

@Suite struct KernelLogTests {
    let path = NSTemporaryDirectory() + "earlybind-kmsg-" + UUID().uuidString

    /// A regular file stands in for /dev/kmsg: every line is its own record, with a level.
    @Test func everyLineIsOneRecordWithALevel() throws {
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var log = KernelLog(device: path)
        for index in 1...25 { log.line("earlybind: line \(index)") }
        let records = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(records.count == 25)
        #expect(records.first == "<5>earlybind: line 1")
        #expect(records.last == "<5>earlybind: line 25")
    }

    @Test func longLinesAreCutBelowTheKernelLimit() throws {
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var log = KernelLog(device: path)
        log.line("earlybind: " + String(repeating: "x", count: 3000))
        let record = try String(contentsOfFile: path, encoding: .utf8)
        #expect(record.utf8.count < 1024)
        #expect(record.hasSuffix("...\n"))
    }
}
