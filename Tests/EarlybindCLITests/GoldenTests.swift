@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

/// The output of `groups`, `status` and `vm-xml` in each format, byte for byte, kmod-testsuite style: each
/// directory of Tests/Fixtures/golden is one machine with the output expected beside it
/// (its README says what goes where). A change of wording shows up in review as a diff of
/// those files; `EARLYBIND_UPDATE_GOLDEN=1 swift test --filter Golden` rewrites them.
@Suite struct GoldenTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Fixtures/golden").path
    /// Names come from this excerpt, never from the system's pci.ids.
    static let pciIDs = fixtures + "/pci.ids"
    static let updating = ProcessInfo.processInfo.environment["EARLYBIND_UPDATE_GOLDEN"] == "1"

    /// The runs of each scenario, by the file that holds their expected output.
    static let runs: [(file: String, arguments: [String])] = [
        ("groups.txt", ["groups"]), ("groups.json", ["groups", "--json"]),
        ("status.txt", ["status"]), ("status.json", ["status", "--json"]), ("status.prom", ["status", "--format", "prometheus"]),
        ("vm-xml.txt", ["vm-xml"]), ("vm-xml-proxmox.txt", ["vm-xml", "--format", "proxmox"]),
        ("vm-xml-qemu.txt", ["vm-xml", "--format", "qemu"]),
    ]

    /// Every directory with a device spec.
    static var scenarios: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtures)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: fixtures + "/" + $0 + "/devices") }.sorted()
    }

    /// A wrong path must not pass by testing nothing.
    @Test func scenariosAreFound() {
        #expect(GoldenTests.scenarios.count >= 6, "no scenarios under \(GoldenTests.fixtures)")
        #expect(FileManager.default.fileExists(atPath: GoldenTests.pciIDs))
    }

    @Test(arguments: scenarios)
    func output(of scenario: String) throws {
        let source = GoldenTests.fixtures + "/" + scenario
        let machine = try StagedScenario(source)
        var exits = ""
        for run in GoldenTests.runs {
            let result = try runEarlybind(
                run.arguments + ["--sysfs", machine.sysfs, "--root", machine.root, "--pci-ids", GoldenTests.pciIDs],
                environment: ["EARLYBIND_TEST_SYSTEM_ROOT": ""])
            try compare(machine.normalised(result.output), with: source + "/" + run.file)
            // Expected on stderr: FILE.stderr, absent when nothing is.
            try compare(machine.normalised(result.errors), with: source + "/" + run.file + ".stderr", optional: true)
            exits += run.arguments.joined(separator: " ") + " " + String(result.status) + "\n"
        }
        try compare(exits, with: source + "/exit-status")
    }

    /// Compares `actual` with the golden file byte for byte, or rewrites the file when updating.
    /// An optional file that is absent expects empty output.
    func compare(_ actual: String, with path: String, optional: Bool = false) throws {
        let name = String(path.dropFirst(GoldenTests.fixtures.count + 1))
        let expected = try? String(contentsOfFile: path, encoding: .utf8)
        if GoldenTests.updating {
            if optional && actual.isEmpty {
                try? FileManager.default.removeItem(atPath: path)
            } else if expected != actual {
                try actual.write(toFile: path, atomically: true, encoding: .utf8)
            }
            return
        }
        guard let expected else {
            if optional && actual.isEmpty { return }
            Issue.record("\(name) is missing; EARLYBIND_UPDATE_GOLDEN=1 swift test --filter Golden writes it. Output:\n\(actual)")
            return
        }
        if expected != actual {
            var diff = UnifiedDiff.make(old: expected, new: actual, path: name)
            if diff.isEmpty { diff = "(the texts differ only in a trailing newline)" }
            Issue.record("""
                \(name) differs from the output (- expected, + actual); \
                if the change is meant, EARLYBIND_UPDATE_GOLDEN=1 swift test --filter Golden rewrites it:
                \(diff)
                """)
        }
    }
}

/// One scenario laid out in a new directory: SYSFS built from its `devices` spec with its
/// `sysfs/` laid over, ROOT a copy of its `root/`, every file of ROOT dated
/// `StagedScenario.baseTime` unless its `mtimes` says otherwise.
final class StagedScenario {
    /// 2023-11-14 22:13:20 UTC: status compares the config's and the images' dates.
    static let baseTime: TimeInterval = 1_700_000_000

    let base: String
    let sysfs: String
    let root: String
    private let tree: FakeSysfs

    init(_ source: String) throws {
        // In /tmp, not TMPDIR, so the paths have the same length on every machine: text
        // output wraps long paths to 80 columns, and the goldens hold the wrapping.
        var template = Array("/tmp/eb-golden.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        base = String(cString: made)
        sysfs = base + "/sysfs"
        root = base + "/root"
        let spec = try String(contentsOfFile: source + "/devices", encoding: .utf8)
        tree = try FakeSysfs(try FakeDevice.parse(spec: spec, file: source + "/devices"), at: sysfs)
        try StagedScenario.copy(source + "/sysfs", into: sysfs)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try StagedScenario.copy(source + "/root", into: root)
        try date(source + "/mtimes")
    }

    deinit {
        try? FileManager.default.removeItem(atPath: base)
    }

    /// The output with the staged paths as the tokens SYSFS and ROOT.
    func normalised(_ text: String) -> String {
        text.replacingOccurrences(of: sysfs, with: "SYSFS").replacingOccurrences(of: root, with: "ROOT")
    }

    /// Copies a tree into `destination`, merging with what is there. A `.keep` file only
    /// keeps its (otherwise empty) directory in git and is not copied.
    static func copy(_ source: String, into destination: String) throws {
        let manager = FileManager.default
        guard manager.fileExists(atPath: source) else { return }
        for name in try manager.contentsOfDirectory(atPath: source).sorted() where name != ".keep" {
            let from = source + "/" + name, to = destination + "/" + name
            if let target = try? manager.destinationOfSymbolicLink(atPath: from) {
                try manager.createSymbolicLink(atPath: to, withDestinationPath: target)
                continue
            }
            var isDirectory: ObjCBool = false
            _ = manager.fileExists(atPath: from, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                try manager.createDirectory(atPath: to, withIntermediateDirectories: true)
                try copy(from, into: to)
            } else {
                if manager.fileExists(atPath: to) { try manager.removeItem(atPath: to) }
                try manager.copyItem(atPath: from, toPath: to)
            }
        }
    }

    /// Dates every file of ROOT at baseTime, then each `PATH SECONDS` line of `mtimes`
    /// (PATH under ROOT) at baseTime + SECONDS.
    private func date(_ mtimes: String) throws {
        let manager = FileManager.default
        let start = Date(timeIntervalSince1970: StagedScenario.baseTime)
        for path in manager.subpaths(atPath: root) ?? [] {
            let full = root + "/" + path
            if (try? manager.destinationOfSymbolicLink(atPath: full)) != nil { continue }
            try manager.setAttributes([.modificationDate: start], ofItemAtPath: full)
        }
        guard let text = try? String(contentsOfFile: mtimes, encoding: .utf8) else { return }
        for line in text.split(separator: "\n") {
            let words = line.prefix { $0 != "#" }.split(separator: " ")
            if words.isEmpty { continue }
            guard words.count == 2, let offset = TimeInterval(words[1]) else {
                throw FakeSpecError(description: "\(mtimes): expected PATH SECONDS, not '\(line)'")
            }
            try manager.setAttributes([.modificationDate: start.addingTimeInterval(offset)], ofItemAtPath: root + "/" + words[0])
        }
    }
}
