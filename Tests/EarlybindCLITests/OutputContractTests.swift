import EarlybindCore
@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

/// What scripts and pipes rely on: whole lines when piped, exit codes, `--json` of the
/// commands that change things, and messages that name the right thing.
@Suite struct OutputContractTests {
    /// A host bridge whose pci.ids name runs past 80 columns, the boot VGA configured (forced).
    static var longNames: [FakeDevice] {
        [FakeDevice("0000:00:00.0", id: "8086:3e30", class: "060000", group: 0, driver: "skl_uncore"),
         FakeDevice("0000:00:02.0", id: "8086:3e92", class: "030000", group: 1, driver: "i915", bootVGA: true),
         FakeDevice("0000:01:00.0", id: "10de:1b02", class: "030000", group: 2, driver: "nouveau")]
    }

    static let longProduct = "Intel Corporation 8th/9th Gen Core 8-core Desktop Processor Host Bridge/DRAM Registers [Coffee Lake S]"

    /// `earlybind ARGUMENTS` on a pseudo-terminal COLUMNS wide (util-linux's script).
    func onTerminal(_ machine: FakeMachine, columns: Int, _ arguments: [String]) throws -> [String] {
        let script = try #require(["/usr/bin/script", "/bin/script"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                  "script (util-linux) is needed")
        let command = ([earlybindExecutable.path] + arguments + ["--sysfs", machine.tree.root, "--root", machine.root]).joined(separator: " ")
        let output = try runProgram(script, ["-qec", "stty cols \(columns); \(command)", "/dev/null"], input: "").output
        return output.replacingOccurrences(of: "\r", with: "").split(separator: "\n").map(String.init)
    }

    @Test func pipedOutputIsNeverCut() throws {
        let machine = try FakeMachine(Self.longNames, config: "00:02.0 8086:3e92 force\n")
        let result = try machine.run(["groups"])
        #expect(result.lines.contains("               " + Self.longProduct))
        #expect(!result.output.contains("…"))
        let vga = try #require(result.lines.first { $0.hasPrefix("  0000:00:02.0 ") })
        #expect(vga.hasSuffix("boot VGA, configured"))
    }

    @Test func aTerminalCutsToItsWidthButNeverTheMarks() throws {
        let machine = try FakeMachine(Self.longNames, config: "00:02.0 8086:3e92 force\n")
        let lines = try onTerminal(machine, columns: 72, ["groups"])
        #expect(lines.count > 6)
        #expect(lines.allSatisfy { $0.count <= 72 }, "\(lines)")
        #expect(lines.contains { $0.hasSuffix("…") })
        #expect(lines.first { $0.hasPrefix("  0000:00:02.0 ") }?.hasSuffix("boot VGA, configured") == true)
        let full = try onTerminal(machine, columns: 72, ["groups", "--full"])
        #expect(full.contains("               " + Self.longProduct))
    }

    @Test func runtimeUsageErrorsShowTheSubcommandsUsage() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        for command in ["add", "vm-xml"] {
            let result = try machine.run([command, "07:00.0"])
            #expect(result.status == 64)
            #expect(result.errors.contains("Error: no PCI device at 0000:07:00.0"))
            #expect(result.errors.contains("Usage: earlybind \(command) "), "\(result.errors)")
            #expect(result.errors.contains("See 'earlybind \(command) --help'"))
        }
    }

    @Test func addJSONSaysWhatChangedAndNothingIsAnnouncedFirst() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "# mine\n")
        let dry = try machine.run(["add", "03:00.0", "--dry-run", "--json"])
        #expect(dry.status == 0)
        var json = try dry.json()
        #expect(json["changed"] as? Bool == true)
        #expect(json["dry_run"] as? Bool == true)
        #expect(json["entries"] as? [String] == ["0000:03:00.0 10de:1b02", "0000:03:00.1 10de:10ef"])
        #expect(json["config"] as? String == machine.root + "/etc/earlybind.conf")
        #expect((json["devices"] as? [[String: Any]])?.count == 2)
        #expect(dry.errors.contains("would add to \(machine.root)/etc/earlybind.conf:"))
        #expect(dry.errors.contains("dry run: \(machine.root)/etc/earlybind.conf was not changed"))
        #expect(try machine.read("/etc/earlybind.conf") == "# mine\n")

        json = try machine.run(["add", "03:00.0", "--json"]).json()
        #expect(json["changed"] as? Bool == true && json["dry_run"] as? Bool == false)
        #expect(try machine.read("/etc/earlybind.conf").contains("0000:03:00.1 10de:10ef"))

        let again = try machine.run(["add", "03:00.0"])
        #expect(again.status == 0)
        #expect(!again.output.contains("adding to"))
        #expect(again.lines.first == "already configured in \(machine.root)/etc/earlybind.conf:")
        #expect(again.output.contains("nothing to change"))
        json = try machine.run(["add", "03:00.0", "--json"]).json()
        #expect(json["changed"] as? Bool == false)
        #expect(json["entries"] as? [String] == [])
    }

    @Test func aFailedWriteAnnouncesNothing() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "# mine\n")
        // The config's directory is a file: the write fails.
        try FileManager.default.removeItem(atPath: machine.root + "/etc/earlybind.conf")
        try FileManager.default.removeItem(atPath: machine.root + "/etc")
        try machine.write("/etc", "")
        let result = try machine.run(["add", "03:00.0"])
        #expect(result.status == 1)
        #expect(result.output.isEmpty, "\(result.output)")
    }

    /// `earlybind ARGUMENTS` as nobody on the real root, whose /etc is, in a mount namespace
    /// of its own, a directory holding only `config` as earlybind.conf; returns the file after.
    func asNobodyOnTheSystemRoot(config: String?, _ arguments: [String]) throws -> (result: CLIResult, config: String?) {
        let etc = NSTemporaryDirectory() + "earlybind-etc-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: etc) }
        if let config { try config.write(toFile: etc + "/earlybind.conf", atomically: false, encoding: .utf8) }
        let script = "mount --bind \"$0\" /etc && exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\""
        let result = try runProgram("/usr/bin/unshare", ["--mount", "sh", "-c", script, etc, earlybindExecutable.path] + arguments)
        return (result, try? String(contentsOfFile: etc + "/earlybind.conf", encoding: .utf8))
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to drop it in a mount namespace of its own"))
    func addAndRemoveWithoutRootSayRunItAsRootAndWriteNothing() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        let added = try asNobodyOnTheSystemRoot(config: nil, ["add", "03:00.0", "--sysfs", machine.tree.root])
        #expect(added.result.status == 1)
        #expect(added.result.errors.contains("add writes /etc/earlybind.conf: run it as root (--dry-run shows what it would write)"),
                "\(added.result.errors)")
        #expect(added.result.output.isEmpty && added.config == nil)

        let entry = "0000:03:00.0 10de:1b02\n"
        let removed = try asNobodyOnTheSystemRoot(config: entry, ["remove", "03:00.0", "--sysfs", machine.tree.root])
        #expect(removed.result.status == 1)
        #expect(removed.result.errors.contains("remove writes /etc/earlybind.conf: run it as root (--dry-run shows what it would remove)"),
                "\(removed.result.errors)")
        #expect(removed.result.output.isEmpty && removed.config == entry)
    }

    @Test func removeIsIdempotentAndReportsJSON() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "# mine\n0000:03:00.0 10de:1b02\n0000:03:00.1 10de:10ef\n")
        var json = try machine.run(["remove", "03:00.0", "--dry-run", "--json"]).json()
        #expect(json["changed"] as? Bool == true && json["dry_run"] as? Bool == true)
        #expect(json["entries"] as? [String] == ["0000:03:00.0 10de:1b02", "0000:03:00.1 10de:10ef"])
        #expect(try machine.read("/etc/earlybind.conf").contains("0000:03:00.0"))
        json = try machine.run(["remove", "03:00.0", "--json"]).json()
        #expect(json["changed"] as? Bool == true)
        #expect(try machine.read("/etc/earlybind.conf") == "# mine\n")
        let again = try machine.run(["remove", "03:00.0"])
        #expect(again.status == 0)
        #expect(again.output.contains("nothing to change"))
        json = try machine.run(["remove", "03:00.0", "--json"]).json()
        #expect(json["changed"] as? Bool == false)
    }

    @Test func ownGroupMessagesDoNotNameTheDeviceAsItsOwnMate() throws {
        let machine = try FakeMachine(Self.longNames, config: "# none\n")
        let groups = try #require(try machine.run(["groups", "--json"]).json()["groups"] as? [[String: Any]])
        let devices = groups.flatMap { ($0["devices"] as? [[String: Any]]) ?? [] }
        let message = { (address: String) in devices.first { $0["address"] as? String == address }?["message"] as? String }
        #expect(message("0000:00:00.0") == "host bridge the host needs (add force to take it)")
        #expect(message("0000:00:02.0") == "boot VGA (add force to take it)")
    }

    @Test func statusJSONGivesConfigErrorsAsObjectsAndAnAbsentDeviceAsNulls() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "0000:07:00.0 10de:1b02\n")
        var json = try machine.run(["status", "--json"]).json()
        let devices = try #require(json["devices"] as? [[String: Any]])
        let absent = try #require(devices.first { $0["address"] as? String == "0000:07:00.0" })
        for key in ["vendor", "device", "class", "class_name", "product"] { #expect(absent[key] is NSNull, "\(key)") }
        #expect(absent["problem"] as? String == "absent")
        #expect(try machine.run(["status"]).output.contains("0000:07:00.0 (no device at this address)"))

        try machine.write("/etc/earlybind.conf", "# x\n00:20.0\n")
        json = try machine.run(["status", "--json"]).json()
        let errors = try #require((json["installation"] as? [String: Any])?["config_errors"] as? [[String: Any]])
        #expect(errors.count == 1)
        #expect(errors.first?["file"] as? String == machine.root + "/etc/earlybind.conf")
        #expect(errors.first?["line"] as? Int == 2)
        #expect((errors.first?["message"] as? String)?.hasPrefix("bad PCI address '00:20.0'") == true)
    }

    @Test func groupsJSONCarriesTheCaveatTheTextShows() throws {
        let nvme = FakeDevice("0000:04:00.0", id: "144d:a808", class: "010802", group: 5, driver: "nvme")
        let machine = try FakeMachine(Fixtures.gpuWithAudio + [nvme], config: "# none\n")
        let text = try machine.run(["groups"]).lines.filter { $0.contains("passable, but ") }
        let groups = try #require(try machine.run(["groups", "--json"]).json()["groups"] as? [[String: Any]])
        let caveats = groups.compactMap { $0["caveat"] as? String }
        #expect(!caveats.isEmpty)
        #expect(text.count == caveats.count)
        #expect(caveats.allSatisfy { caveat in text.contains { $0.hasSuffix("passable, but " + caveat) } })
    }

    @Test func applyExitsOneWhenItLeavesADeviceAlone() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0 10de:1b02\n")
        let console = machine.tree.root + "/class/graphics/fb0"
        try FileManager.default.createDirectory(atPath: console, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: console + "/device", withDestinationPath: "../../../devices/pci0000:00/0000:03:00.0")
        let result = try machine.run(["apply"])
        #expect(result.status == 1)
        #expect(result.output.contains("0000:03:00.0 [10de:1b02]: left alone: in use by the host"))
    }

    @Test func uninstallJSONAndItsDryRunRelease() throws {
        var devices = Fixtures.gpuWithAudio
        for index in devices.indices where devices[index].address.hasPrefix("0000:03:00.") { devices[index].driver = "vfio-pci" }
        let machine = try FakeMachine(devices, config: "03:00.0 10de:1b02\n")
        let result = try machine.run(["uninstall", "--dry-run", "--release-now", "--json"])
        #expect(result.status == 0, "\(result.errors)")
        let json = try result.json()
        #expect(json["dry_run"] as? Bool == true)
        #expect(json["changed"] as? Bool == false)
        #expect(json["released"] as? [String] == ["would release 0000:03:00.0 from vfio-pci", "would release 0000:03:00.1 from vfio-pci"])
        #expect(machine.tree.driver(of: "0000:03:00.0") == "vfio-pci")
        let purge = try machine.run(["uninstall", "--dry-run", "--purge", "--json"]).json()
        #expect(purge["changed"] as? Bool == true)
        #expect((purge["changes"] as? [[String: Any]])?.first?["path"] as? String == "/etc/earlybind.conf")
        #expect(try machine.read("/etc/earlybind.conf") == "03:00.0 10de:1b02\n")
    }

    /// A rebuild alone (the config changed, no file of install's did) is a change: the caller must reboot.
    @Test func installReportsARebuildAsAChange() throws {
        func changed(_ outcome: InstallOutcome) -> JSON? {
            guard case .object(let members) = outcome.json else { return nil }
            return members.first { $0.0 == "changed" }?.1
        }
        var outcome = InstallOutcome(backend: .initramfsTools, runsCommands: true)
        #expect(changed(outcome) == .bool(false))
        outcome.commands = [.updateGrub]
        #expect(changed(outcome) == .bool(false))
        outcome.commands = [.updateInitramfs]
        #expect(changed(outcome) == .bool(true))
    }

    /// A textfile for node_exporter: written whole through a rename, and exit 0 even when
    /// not ready, so that `status --format prometheus --output F` in a timer keeps F current.
    @Test func prometheusMetricsGoToTheFileWholeWhetherReadyOrNot() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0 10de:1b02\n0000:07:00.0 10de:1b02\n")
        #expect(try machine.run(["status"]).status == 1)
        let directory = machine.root + "/textfile"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "old\n".write(toFile: directory + "/earlybind.prom", atomically: false, encoding: .utf8)
        let result = try machine.run(["status", "--format", "prometheus", "--output", directory + "/earlybind.prom"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["earlybind.prom"])
        let text = try String(contentsOfFile: directory + "/earlybind.prom", encoding: .utf8)
        #expect(text.contains("earlybind_ready 0\n"))
        #expect(text.contains("earlybind_configured_devices 3\n"))
        #expect(text.contains("earlybind_device_on_vfio{address=\"0000:03:00.0\",id=\"10de:1b02\"} 0\n"))
        #expect(text.contains("earlybind_device_on_vfio{address=\"0000:07:00.0\",id=\"\"} 0\n"))
        #expect(text.contains("earlybind_group_viable{group=\"3\"} 0\n"))
        // Every sample line is NAME[{LABELS}] VALUE, every family typed before its samples.
        let lines = text.split(separator: "\n").map(String.init)
        let samples = lines.filter { !$0.hasPrefix("#") }
        #expect(samples.allSatisfy { $0.range(of: #"^earlybind_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+$"#, options: .regularExpression) != nil })
        #expect(samples.allSatisfy { sample in lines.contains("# TYPE " + sample.prefix { $0 != "{" && $0 != " " } + " gauge") })
        #expect(try machine.run(["status", "--output", directory + "/x"]).status == 64)
    }
}
