import EarlybindTestSupport
import Foundation
import Testing

/// Every malformed selector, path or option: one clear sentence naming the bad value,
/// exit 64, never a crash or a backtrace.
@Suite struct MalformedInputTests {
    static let cases: [([String], String)] = [
        (["add", "03:00"], "'03:00'"),
        (["add", "0000:03:00.0:1"], "'0000:03:00.0:1'"),
        (["add", "gg:00.0"], "'gg:00.0'"),
        (["add", "10de:1b02:00"], "'10de:1b02:00'"),
        (["add", ""], "''"),
        (["add", "03:00.0", "--forse"], "'--forse'"),
        (["remove", "1b02"], "'1b02'"),
        (["remove", "03:00.0\n04:00.0"], "'03:00.0\n04:00.0'"),
        (["vm-xml", "-"], "'-'"),
        (["release", "03:00.0 force"], "'03:00.0 force'"),
        (["status", "--root", "/tmp/a b"], "'/tmp/a b'"),
        (["install", "--root", "/tmp/x;reboot"], "'/tmp/x;reboot'"),
        (["install", "--root"], "--root"),
        (["groups", "--json=yes"], "--json"),
        (["frobnicate"], "'frobnicate'"),
        (["status", "extra"], "'extra'"),
    ]

    @Test(arguments: cases)
    func clearErrorAndExit64(arguments: [String], bad: String) throws {
        let result = try runEarlybind(arguments)
        #expect(result.status == 64, "\(arguments): exit \(result.status)")
        #expect(result.errors.contains(bad), "\(arguments): \(result.errors)")
        for crash in ["Fatal error", "Stack dump", "backtrace", "Illegal instruction", "Segmentation"] {
            #expect(!result.errors.contains(crash))
        }
    }
}
