import EarlybindTestSupport
import Foundation
import Testing

/// One verdict of `Tests/Fixtures/real/NAME/expected`: what a correct `add SELECTOR` does on
/// that machine, the machine being the IOMMU groups its owner published (`NAME/devices`).
struct RealMachineCase: Sendable, CustomTestStringConvertible {
    let fixture: String
    let selector: String
    /// The addresses a correct add configures; nil when it must refuse.
    let takes: Set<String>?
    let line: Int

    var testDescription: String { "\(fixture): add \(selector)" }
}

@Suite struct RealMachineTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Fixtures/real").path

    static let cases: [RealMachineCase] = {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        var cases: [RealMachineCase] = []
        for name in names {
            guard let text = try? String(contentsOfFile: directory + "/" + name + "/expected", encoding: .utf8) else { continue }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let content = line.prefix { $0 != "#" }.trimmingCharacters(in: .whitespaces)
                if content.isEmpty { continue }
                cases.append(parse(content, fixture: name, line: number + 1))
            }
        }
        return cases
    }()

    /// `add SELECTOR -> takes ADDR ADDR ...` or `add SELECTOR -> refuses`; anything else becomes a
    /// case that fails, naming the line.
    static func parse(_ content: String, fixture: String, line: Int) -> RealMachineCase {
        let halves = content.components(separatedBy: "->").map { $0.split(separator: " ").map(String.init) }
        guard halves.count == 2, halves[0].count == 2, halves[0][0] == "add", let verdict = halves[1].first,
              (verdict == "refuses" && halves[1].count == 1) || (verdict == "takes" && halves[1].count > 1)
        else { return RealMachineCase(fixture: fixture, selector: "<bad line \(line)>", takes: [], line: line) }
        let takes = verdict == "takes" ? Set(halves[1].dropFirst().map(fullAddress)) : nil
        return RealMachineCase(fixture: fixture, selector: halves[0][1], takes: takes, line: line)
    }

    static func fullAddress(_ address: String) -> String {
        address.split(separator: ":").count == 2 ? "0000:" + address : address
    }

    @Test(arguments: cases)
    func addMatchesTheVerdict(_ verdict: RealMachineCase) throws {
        try check(verdict)
    }

    @Test func everyFixtureHasVerdicts() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.directory).filter {
            FileManager.default.fileExists(atPath: Self.directory + "/" + $0 + "/devices")
        }
        #expect(names.count >= 15)
        for name in names {
            #expect(Self.cases.contains { $0.fixture == name }, "\(name) has no verdicts")
        }
    }

    /// `parent=` puts a device below its upstream bridge, with every link resolving there.
    @Test func parentPlacesTheDeviceBelowItsBridge() throws {
        let spec = try String(contentsOfFile: Self.directory + "/arc-a310/devices", encoding: .utf8)
        let tree = try FakeSysfs(try FakeDevice.parse(spec: spec))
        let nested = "/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:04.0/0000:04:00.0"
        #expect(FileManager.default.fileExists(atPath: tree.root + nested + "/vendor"))
        let manager = FileManager.default
        #expect(try manager.destinationOfSymbolicLink(atPath: tree.root + "/bus/pci/devices/0000:04:00.0") == "../../.." + nested)
        let group = tree.root + nested + "/iommu_group"
        #expect(URL(fileURLWithPath: group).resolvingSymlinksInPath().path == tree.root + "/kernel/iommu_groups/7")
        #expect(URL(fileURLWithPath: tree.root + "/kernel/iommu_groups/7/devices/0000:04:00.0").resolvingSymlinksInPath().path
            == tree.root + nested)
        #expect(tree.driver(of: "0000:04:00.0") == "snd_hda_intel")
        try tree.detach("0000:04:00.0")
        try tree.attach("0000:04:00.0", to: "vfio-pci")
        #expect(URL(fileURLWithPath: tree.root + nested + "/driver").resolvingSymlinksInPath().path == tree.root + "/bus/pci/drivers/vfio-pci")
        #expect(throws: FakeSpecError.self) { try FakeDevice.parse(spec: "0000:01:00.0 10de:1b02 030000 1 - parent=0000:00:01.0\n") }
    }

    func check(_ verdict: RealMachineCase) throws {
        let source = Self.directory + "/" + verdict.fixture
        let where_ = "\(verdict.fixture)/expected:\(verdict.line): add \(verdict.selector)"
        #expect(!verdict.selector.hasPrefix("<bad line"), "\(where_): not 'add SELECTOR -> takes ADDR ...' or '-> refuses'")
        let spec = try String(contentsOfFile: source + "/devices", encoding: .utf8)
        let cpu = spec.split(separator: "\n").compactMap { line -> String? in
            line.hasPrefix("# cpu:") ? line.dropFirst("# cpu:".count).trimmingCharacters(in: .whitespaces) : nil
        }.first
        let machine = try FakeMachine(try FakeDevice.parse(spec: spec, file: source + "/devices"),
                                      cmdline: "intel_iommu=on iommu=pt", cpu: try #require(cpu, "\(verdict.fixture): no '# cpu:' line"))
        try FileManager.default.createDirectory(atPath: machine.root + "/etc", withIntermediateDirectories: true)
        let result = try machine.run(["add", "--dry-run", verdict.selector])
        let listed = Set(result.lines.compactMap(Self.listedAddress))
        let got = result.status == 0 ? "exit 0, takes \(listed.sorted().joined(separator: " "))"
            : "exit \(result.status): \(result.errors.split(separator: "\n").joined(separator: " / "))"
        if let takes = verdict.takes {
            #expect(result.status == 0 && listed == takes,
                    "\(where_): expected takes \(takes.sorted().joined(separator: " ")); got \(got)")
        } else {
            #expect(result.status != 0, "\(where_): expected refuses; got \(got)")
        }
        // vm-xml gives the same answer: a hostdev for exactly those devices, or a refusal.
        let xml = try machine.run(["vm-xml", verdict.selector])
        let hostdevs = Set(xml.output.split(separator: "\n").compactMap(Self.hostdevAddress))
        if let takes = verdict.takes {
            #expect(xml.status == 0 && hostdevs == takes, "\(where_): vm-xml exit \(xml.status), hostdevs \(hostdevs.sorted()): \(xml.errors)")
        } else {
            #expect(xml.status != 0 && xml.output.isEmpty, "\(where_): vm-xml printed \(hostdevs.sorted()) where add refuses")
        }
    }

    /// `0000:03:00.0` from a hostdev's `<address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>`.
    static func hostdevAddress(_ line: Substring) -> String? {
        let values = line.split(separator: "'").enumerated().filter { $0.offset % 2 == 1 }.map { $0.element.dropFirst(2) }
        guard line.contains("<address domain="), values.count == 4 else { return nil }
        return "\(values[0]):\(values[1]):\(values[2]).\(values[3])"
    }

    /// The address of a device line of add's listing (`  0000:03:00.0 [10de:1b02] ...`).
    static func listedAddress(_ line: String) -> String? {
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard line.hasPrefix("  "), words.count >= 2, words[1].hasPrefix("["),
              words[0].count == 12, words[0].split(separator: ":").count == 3
        else { return nil }
        return String(words[0])
    }
}
