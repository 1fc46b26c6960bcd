import EarlybindTestSupport
import Foundation
import Testing

@Suite struct VMXMLTests {
    static let validator = ["/usr/bin/virt-xml-validate", "/bin/virt-xml-validate"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs virt-xml-validate on a definition; nil when it passes.
    static func validationFailure(_ path: String) throws -> String? {
        let validator = try #require(validator, "virt-xml-validate is needed (scripts/install-deps: libvirt-clients, libxml2-utils)")
        let result = try runProgram(validator, [path, "domain"])
        return result.status == 0 ? nil : result.output + result.errors
    }

    func xml(_ machine: FakeMachine, _ arguments: [String] = []) throws -> String {
        let result = try machine.run(["vm-xml"] + arguments)
        #expect(result.status == 0, "\(result.errors)")
        return result.output
    }

    @Test func oneHostdevPerFunctionOfTheConfiguredGroup() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let output = try xml(machine)
        #expect(output.contains("<address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>"))
        #expect(output.contains("<address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>"))
        #expect(output.components(separatedBy: "<hostdev mode='subsystem' type='pci' managed='yes'>").count == 3)
        #expect(output.components(separatedBy: "<driver name='vfio'/>").count == 3)
        #expect(output.contains("<!-- 1. Inside <devices>: one <hostdev> per function. -->"))
        #expect(output.contains("<!-- 2. Inside <features>: Hyper-V enlightenments for Windows; vendor_id and <kvm><hidden/> keep"))
        for element in ["<relaxed state='on'/>", "<vapic state='on'/>", "<spinlocks state='on' retries='8191'/>",
                        "<vendor_id state='on' value='earlybind001'/>", "<hidden state='on'/>"] {
            #expect(output.contains(element))
        }
    }

    @Test func selectorsWidenToTheGroup() throws {
        let machine = try FakeMachine(Fixtures.identicalGPUs)
        let output = try xml(machine, ["0000:00:05.1"])
        #expect(output.contains("slot='0x05' function='0x0'"))
        #expect(output.contains("slot='0x05' function='0x1'"))
        #expect(!output.contains("slot='0x03'"))
    }

    /// With five bad lines it printed a hostdev for the one line that still parsed: now it passes the config gate.
    @Test func aConfigWithBadLinesPrintsNothing() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n03:00.9\nnvidia\n")
        let result = try machine.run(["vm-xml"])
        #expect(result.status == 1)
        #expect(result.output.isEmpty)
        #expect(result.errors.contains("/etc/earlybind.conf:2: bad PCI address '03:00.9'"))
        #expect(result.errors.contains("has 2 bad line(s): fix them first; nothing was printed or applied"))
    }

    @Test func nothingConfiguredIsAnError() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        let result = try machine.run(["vm-xml"])
        #expect(result.status == 1)
        #expect(result.errors.contains("no configured device can be passed through"))
    }

    /// The snippets, placed where they say they go in a minimal domain, pass libvirt's schema.
    @Test(.enabled(if: validator != nil, "needs virt-xml-validate (libvirt-clients, libxml2-utils)"))
    func snippetsValidateInADomain() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let output = try xml(machine)
        let parts = output.components(separatedBy: "<!-- 2. Inside <features>")
        let devices = parts[0], features = "<!-- 2. Inside <features>" + parts[1]
        let domain = """
            <domain type='kvm'>
              <name>earlybind-test</name>
              <memory unit='MiB'>1024</memory>
              <os><type arch='x86_64' machine='q35'>hvm</type></os>
              <features>
                <acpi/>
            \(features)
              </features>
              <devices>
            \(devices)
              </devices>
            </domain>
            """
        let file = machine.root + "/domain.xml"
        try domain.write(toFile: file, atomically: false, encoding: .utf8)
let failure = try Self.validationFailure(file)
        #expect(failure == nil, "\(failure ?? "")")
    }
}
