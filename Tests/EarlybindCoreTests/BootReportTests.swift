import EarlybindCore
import EarlybindTestSupport
import Foundation
import Testing

/// The boot program's outcomes as values, and the report file rendered from them.
extension BootProgramTests {
    /// Each device's action, reason code or failure cause, and drivers, as one line.
    func summary(_ report: BootReport) -> [String] {
        report.devices.map { device in
            var detail = ""
            switch device.action {
            case .left(let reason): detail = " " + reason.code
            case .failed(let failure): detail = " (" + failure.cause + ")"
            case .bound, .alreadyBound: break
            }
            return "\(device.address) \(device.action.code)\(detail) \(device.driverBefore?.description ?? "-") -> \(device.driverAfter?.description ?? "-")"
        }
    }

    @Test func outcomesAreValuesTheLogIsRenderedFrom() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0 10de:1b02\n00:01.0\n07:00.0\n")
        #expect(summary(run.report) == [
            "0000:00:01.0 left boot_vga bochs-drm -> bochs-drm",
            "0000:03:00.0 bound nouveau -> vfio-pci",
            "0000:03:00.1 bound snd_hda_intel -> vfio-pci",
            "0000:07:00.0 left absent - -> -",
        ])
        for device in run.report.devices {
            #expect(run.lines.contains("earlybind: " + device.logText))
        }
        #expect(run.lines.last == "earlybind: " + run.report.summary)
        #expect(run.report.skipped == nil)
        #expect(run.report.configSHA256 == SHA256.hex(Array("03:00.0 10de:1b02\n00:01.0\n07:00.0\n".utf8)))
    }

    @Test func aGivenBackGroupIsFailedWithItsCause() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0\n", vfioRefuses: ["0000:03:00.1"])
        #expect(summary(run.report) == [
            "0000:03:00.0 failed (0000:03:00.1 of IOMMU group 3 was not bound) nouveau -> nouveau",
            "0000:03:00.1 failed (vfio-pci did not take it) snd_hda_intel -> snd_hda_intel",
        ])
        #expect((run.report.boundCount, run.report.leftCount, run.report.failedCount) == (0, 0, 2))
    }

    @Test func skippedBootsSayWhy() throws {
        let off = try boot(Fixtures.gpuWithAudio, config: "03:00.0\n", cmdline: "earlybind=off")
        #expect(off.report.skipped?.code == "earlybind=off")
        #expect(off.report.devices.isEmpty)
        let bad = try boot(Fixtures.gpuWithAudio, config: "03:00.0\nnvidia\n")
        #expect(bad.report.skipped?.code == "config_error")
        #expect(bad.report.configErrors.map(\.line) == [2])
        let none = try boot(Fixtures.gpuWithAudio, config: nil)
        #expect(none.report.skipped == nil && none.report.configSHA256 == nil && none.report.devices.isEmpty)
    }

    /// Runs the boot program with `config` on the GPU-with-audio machine and saves its report.
    func bootAndSave(config: String, prepare: (FakeSysfs) throws -> Void = { _ in }) throws
        -> (program: BootProgram<SimulatedKernel, FakeModuleLoader, MemoryLog>, tree: FakeSysfs) {
        let tree = try FakeSysfs(Fixtures.gpuWithAudio)
        var options = BootOptions()
        options.sysfs = tree.root
        options.config = tree.root + "/earlybind.conf"
        options.cmdline = tree.root + "/cmdline"
        options.report = tree.root + "/run/earlybind/boot.json"
        try tree.write(options.cmdline, "quiet\n")
        try tree.write(options.config, config)
        try prepare(tree)
        var program = BootProgram(options: options, io: SimulatedKernel(tree),
                                  loader: FakeModuleLoader(onLoad: { _ in try? tree.addDriver("vfio-pci") }), log: MemoryLog())
        program.run()
        program.saveReport()
        return (program, tree)
    }

    @Test func theReportFileIsWholeJSONWithTheDocumentedKeys() throws {
        let (program, _) = try bootAndSave(config: "03:00.0\nnvidia\n")
        let options = program.options
        let data = try Data(contentsOf: URL(fileURLWithPath: options.report))
        let object = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["format", "version", "config_sha256", "skipped", "config_errors", "unmatched_ids", "devices", "trial"])
        #expect(object["format"] as? Int == 1)
        #expect(object["skipped"] as? String == "config_error")
        let errors = try #require(object["config_errors"] as? [[String: Any]])
        #expect(errors.first?["line"] as? Int == 2)
        #expect(errors.first?["file"] as? String == options.config)
        #expect(!FileManager.default.fileExists(atPath: options.report + ".earlybind-new"))
        #expect(program.log.lines.allSatisfy { !$0.contains("no boot report") })
    }

    @Test func anUnwritableReportIsLoggedAndChangesNothingElse() throws {
        // A file where the report's directory should be.
        let (program, tree) = try bootAndSave(config: "03:00.0\n") { try $0.write($0.root + "/run", "not a directory") }
        #expect(program.log.lines.last?.hasPrefix("earlybind: no boot report: could not create '\(tree.root)/run/earlybind': Not a directory") == true)
        #expect(tree.driver(of: "0000:03:00.0") == "vfio-pci")
    }

    /// `--report` by hand with a relative path lands where it says, relative to the working directory.
    @Test func aRelativeReportPathStaysRelative() throws {
        #expect(parentDirectory("/run/earlybind/boot.json") == "/run/earlybind")
        #expect(parentDirectory("/boot.json") == "/")
        #expect(parentDirectory("boot.json") == ".")
        #expect(parentDirectory("run/earlybind/boot.json") == "run/earlybind")
        // The built binary, in its own working directory: tests run side by side in one process.
        let tree = try FakeSysfs(Fixtures.gpuWithAudio)
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let process = Process()
        process.executableURL = [bundle, bundle.deletingLastPathComponent()].map { $0.appending(path: "earlybind-boot") }
            .first { FileManager.default.fileExists(atPath: $0.path) }
        process.arguments = ["--sysfs", tree.root, "--config", "none.conf", "--cmdline", "none", "--log", "stderr",
                             "--no-modules", "--report", "relative/run/earlybind/boot.json"]
        process.currentDirectoryURL = URL(fileURLWithPath: tree.root)
        process.standardError = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(FileManager.default.fileExists(atPath: tree.root + "/relative/run/earlybind/boot.json"))
    }
}
