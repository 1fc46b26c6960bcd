import EarlybindTestSupport
import Foundation
import Testing

/// Every key any `--json` emits is documented in the README's JSON section: a new key
/// without a line there fails here.
@Suite struct JSONKeyTableTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The names the README's JSON section writes as "key" or `key`.
    static func documentedKeys() throws -> Set<String> {
        let readme = try String(contentsOfFile: repository + "/README.md", encoding: .utf8)
        let start = try #require(readme.range(of: "\n### JSON\n"))
        let rest = readme[start.upperBound...]
        let section = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
        var keys: Set<String> = []
        for pattern in ["\"([a-z][a-z0-9_]*)\"", "`([a-z][a-z0-9_]*)`"] {
            let expression = try NSRegularExpression(pattern: pattern)
            let text = String(section)
            for match in expression.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                keys.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        return keys
    }

    /// Every object key, at any depth.
    static func keys(of value: Any) -> Set<String> {
        if let object = value as? [String: Any] { return Set(object.keys).union(object.values.flatMap { keys(of: $0) }) }
        if let array = value as? [Any] { return array.reduce(into: []) { $0.formUnion(keys(of: $1)) } }
        return []
    }

    static func parsed(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    @Test func everyEmittedKeyIsInTheREADME() throws {
        var emitted: Set<String> = []
        // status and groups of every golden scenario (GoldenTests holds them to the real output).
        let golden = Self.repository + "/Tests/Fixtures/golden"
        for scenario in try FileManager.default.contentsOfDirectory(atPath: golden) {
            for file in ["status.json", "groups.json"] {
                guard let text = try? String(contentsOfFile: "\(golden)/\(scenario)/\(file)", encoding: .utf8) else { continue }
                emitted.formUnion(Self.keys(of: try Self.parsed(text)))
            }
        }
        #expect(emitted.contains("ready") && emitted.contains("iommu_enabled"))

        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "# none\n")
        try machine.write("/etc/initramfs-tools/initramfs.conf", "MODULES=most\n")
        for arguments in [["add", "03:00.0", "--json"], ["install", "--no-grub", "--json"], ["remove", "03:00.0", "--json"],
                          ["uninstall", "--json"]] {
            let result = try machine.run(arguments)
            #expect(result.status == 0, "\(arguments): \(result.errors)")
            emitted.formUnion(Self.keys(of: try Self.parsed(result.output)))
        }
        let virsh = try VMApplyTests.StandInVirsh(machine)
        try String(contentsOfFile: VMApplyTests.virtManager, encoding: .utf8).write(toFile: virsh.directory + "/win10.xml", atomically: false, encoding: .utf8)
        try machine.write("/etc/earlybind.conf", "03:00.0\n")
        let applied = try VMApplyTests().apply(machine, virsh, ["win10", "--json"])
        #expect(applied.status == 0, "\(applied.errors)")
        emitted.formUnion(Self.keys(of: try Self.parsed(applied.output)))

        let documented = try Self.documentedKeys()
        #expect(emitted.subtracting(documented).isEmpty, "keys emitted but not in the README's JSON section: \(emitted.subtracting(documented).sorted())")
        #expect(!documented.contains("no_such_key"))
    }
}
