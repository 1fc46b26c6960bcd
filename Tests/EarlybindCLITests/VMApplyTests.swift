@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

/// vm-xml's merge into libvirt definitions (--merge, --apply) and its Proxmox and QEMU formats.
@Suite struct VMApplyTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Fixtures/vm").path
    static let virtManager = fixtures + "/virt-manager-win10.xml"

    func file(_ machine: FakeMachine, _ name: String, _ text: String) throws -> String {
        let path = machine.root + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    func validationFailure(_ path: String) throws -> String? { try VMXMLTests.validationFailure(path) }

    /// virt-manager's Windows 10 definition (q35, OVMF, hyperv mode='custom'), merged: the golden
    /// file holds the result; it validates, and merging it again changes nothing.
    @Test func virtManagersWindowsDefinitionMergesAndValidates() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let result = try machine.run(["vm-xml", "--merge", Self.virtManager])
        #expect(result.status == 0, "\(result.errors)")
        let golden = Self.fixtures + "/virt-manager-win10.merged.xml"
        if ProcessInfo.processInfo.environment["EARLYBIND_UPDATE_GOLDEN"] == "1" {
            try result.output.write(toFile: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: golden, encoding: .utf8)
        #expect(result.output == expected, "\(UnifiedDiff.make(old: expected, new: result.output, path: "virt-manager-win10.merged.xml"))")
        // Only one <hyperv>: a second one fails libvirt's schema.
        #expect(result.output.components(separatedBy: "<hyperv").count == 2)
        #expect(result.output.contains("passwd='s3cr&amp;t'"))
        #expect(result.output.contains("<libosinfo:os id='http://microsoft.com/win/10'/>"))
        let merged = try file(machine, "merged.xml", result.output)
        #expect(try validationFailure(merged) == nil)
        let again = try machine.run(["vm-xml", "--merge", merged])
        #expect(again.status == 0)
        #expect(again.output == result.output)
        #expect(again.errors.contains("already has every device and feature: nothing to change"))
    }

    @Test func theMergeLaysACardOutOnARootPortOfItsOwn() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let output = try machine.run(["vm-xml", "--merge", Self.virtManager]).output
        // virt-manager's controllers go up to index 5: the card gets 6, function 0 marked multifunction.
        #expect(output.contains("<controller type='pci' index='6' model='pcie-root-port'/>"))
        #expect(output.contains("<address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0' multifunction='on'/>"))
        #expect(output.contains("<address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x1'/>"))
        #expect(output.components(separatedBy: "<driver name='vfio'/>").count == 3)
    }

    /// Two cards: a root port each, at the next free indices, in address order.
    @Test func twoCardsGetARootPortEach() throws {
        let machine = try FakeMachine(Fixtures.identicalGPUs)
        let result = try machine.run(["vm-xml", "00:03.0", "00:05.0", "--merge", Self.virtManager])
        #expect(result.status == 0, "\(result.errors)")
        let output = result.output
        #expect(output.contains("<controller type='pci' index='6' model='pcie-root-port'/>"))
        #expect(output.contains("<controller type='pci' index='7' model='pcie-root-port'/>"))
        #expect(output.contains("<address domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>\n      </source>\n      <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0'/>"))
        #expect(output.contains("<address domain='0x0000' bus='0x00' slot='0x05' function='0x1'/>\n      </source>\n      <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x1'/>"))
        let qemu = try machine.run(["vm-xml", "00:03.0", "00:05.0", "--format", "qemu"]).output
        #expect(qemu.contains("-device pcie-root-port,id=earlybind.1,chassis=129,bus=pcie.0"))
        #expect(qemu.contains("-device vfio-pci,host=0000:00:05.1,bus=earlybind.1,addr=00.1"))
        // A merge read from standard input.
        let piped = try runEarlybind(["vm-xml", "00:03.0", "--merge", "-", "--sysfs", machine.tree.root, "--root", machine.root],
                                     input: try String(contentsOfFile: Self.virtManager, encoding: .utf8))
        #expect(piped.status == 0)
        #expect(piped.output.contains("bus='0x00' slot='0x03' function='0x0'/>"))
    }

    @Test func noHideLeavesOutKVMHiddenAndVendorID() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let result = try machine.run(["vm-xml", "--merge", Self.virtManager, "--no-hide"])
        #expect(result.status == 0)
        #expect(!result.output.contains("<kvm>"))
        #expect(!result.output.contains("vendor_id"))
        #expect(result.output.contains("<spinlocks state='on' retries='8191'/>"))
        let snippet = try machine.run(["vm-xml", "--no-hide"]).output
        #expect(!snippet.contains("hidden") && !snippet.contains("vendor_id") && snippet.contains("<relaxed state='on'/>"))
    }

    /// A hand-written i440fx definition: a hostdev without driver or guest address is completed,
    /// its card's second function joins it at a free slot of bus 0, an admin's vendor_id stays,
    /// weaker spinlocks are raised, and no root port is added.
    @Test func anExistingHostdevIsCompletedNotDuplicated() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let domain = try file(machine, "pc.xml", """
            <?xml version="1.0"?>
            <!-- kept by hand -->
            <domain type="kvm">
              <name>old-pc</name>
              <memory unit="MiB">2048</memory>
              <os><type arch="x86_64" machine="pc-i440fx-7.2">hvm</type></os>
              <features><hyperv><spinlocks state="on" retries="4096"/><vendor_id state="on" value="mine"/></hyperv></features>
              <devices>
                <video><model type="vga"/><address type="pci" domain="0x0000" bus="0x00" slot="0x10" function="0x0"/></video>
                <hostdev mode="subsystem" type="pci" managed="yes">
                  <source><address domain="0x0000" bus="0x03" slot="0x00" function="0x0"/></source>
                </hostdev>
              </devices>
            </domain>
            """)
        let result = try machine.run(["vm-xml", "--merge", domain])
        #expect(result.status == 0, "\(result.errors)")
        let output = result.output
        #expect(output.hasPrefix("<?xml version=\"1.0\"?>\n<!-- kept by hand -->\n<domain type='kvm'>"))
        #expect(output.components(separatedBy: "<hostdev ").count == 3)
        #expect(!output.contains("pcie-root-port"))
        // Slot 0x10 is the video's: the card takes 0x11.
        #expect(output.contains("<address type='pci' domain='0x0000' bus='0x00' slot='0x11' function='0x0' multifunction='on'/>"))
        #expect(output.contains("<address type='pci' domain='0x0000' bus='0x00' slot='0x11' function='0x1'/>"))
        #expect(output.contains("<vendor_id state='on' value='mine'/>"))
        #expect(output.contains("<spinlocks state='on' retries='8191'/>"))
        let merged = try file(machine, "merged.xml", output)
        #expect(try validationFailure(merged) == nil)
        #expect(try machine.run(["vm-xml", "--merge", merged]).output == output)
    }

    /// A function already placed by the admin keeps its guest address; the rest of its card joins it there.
    @Test func aPlacedFunctionKeepsItsSlotAndTheCardJoinsIt() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let domain = try file(machine, "q35.xml", """
            <domain type='kvm'>
              <name>placed</name>
              <memory unit='MiB'>2048</memory>
              <os><type arch='x86_64' machine='q35'>hvm</type></os>
              <devices>
                <controller type='pci' index='0' model='pcie-root'/>
                <controller type='pci' index='7' model='pcie-root-port'/>
                <hostdev mode='subsystem' type='pci' managed='yes'>
                  <driver name='vfio'/>
                  <source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source>
                  <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/>
                </hostdev>
              </devices>
            </domain>
            """)
        let output = try machine.run(["vm-xml", "--merge", domain]).output
        #expect(!output.contains("index='8'"))
        #expect(output.contains("bus='0x07' slot='0x00' function='0x0' multifunction='on'/>"))
        #expect(output.contains("bus='0x07' slot='0x00' function='0x1'/>"))
    }

    /// virt-manager adds each function on a root port of its own: the card is gathered at one new
    /// slot, its functions moved, not duplicated, and libvirt accepts the result.
    @Test(arguments: [
        ("<address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>", "<address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>"),
        (nil, "<address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>"),
    ] as [(String?, String)])
    func aSplitOrMisplacedCardIsGatheredAtOneSlot(gpu: String?, audio: String) throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let hostdev = { (function: Int, address: String) in """
                <hostdev mode='subsystem' type='pci' managed='yes'>
                  <source><address domain='0x0000' bus='0x03' slot='0x00' function='0x\(function)'/></source>
                  \(address)
                </hostdev>
            """ }
        let domain = try file(machine, "split.xml", """
            <domain type='kvm'>
              <name>split</name>
              <memory unit='MiB'>2048</memory>
              <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
              <devices>
                <controller type='pci' index='0' model='pcie-root'/>
                <controller type='pci' index='1' model='pcie-root-port'/>
                <controller type='pci' index='2' model='pcie-root-port'/>
                <controller type='pci' index='3' model='pcie-root-port'/>
            \(gpu.map { hostdev(0, $0) } ?? "")
            \(hostdev(1, audio))
              </devices>
            </domain>
            """)
        let result = try machine.run(["vm-xml", "--merge", domain])
        #expect(result.status == 0, "\(result.errors)")
        let output = result.output
        #expect(output.components(separatedBy: "<hostdev ").count == 3)
        #expect(output.contains("<controller type='pci' index='4' model='pcie-root-port'/>"))
        #expect(output.contains("bus='0x04' slot='0x00' function='0x0' multifunction='on'/>"))
        #expect(output.contains("bus='0x04' slot='0x00' function='0x1'/>"))
        #expect(!output.contains("bus='0x02' slot='0x00'") && !output.contains("bus='0x03' slot='0x00' function='0x0'/>\n    </hostdev>"))
        let merged = try file(machine, "merged.xml", output)
        #expect(try validationFailure(merged) == nil)
        #expect(try machine.run(["vm-xml", "--merge", merged]).output == output)
    }

    @Test func hypervPassthroughModeIsLeftAsItIs() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let domain = try file(machine, "pt.xml", """
            <domain type='kvm'><name>pt</name><memory>1048576</memory>
            <os><type arch='x86_64' machine='q35'>hvm</type></os>
            <features><hyperv mode='passthrough'/></features><devices/></domain>
            """)
        let output = try machine.run(["vm-xml", "--merge", domain]).output
        #expect(output.contains("<hyperv mode='passthrough'/>"))
        #expect(output.contains("<hidden state='on'/>"))
    }

    /// Broken input is refused with the file and line, and nothing reaches standard output.
    @Test(arguments: [
        ("<domain>\n  <name>x</name>\n  <devices>\n</domain>\n", ":4: </domain> closes <devices>"),
        ("<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/shadow'>]>\n<domain/>", ":1: a DOCTYPE is not accepted"),
        ("<network><name>default</name></network>", "not a libvirt domain definition: its root element is <network>"),
        ("<domain>\n<name a='1' a='2'/></domain>", ":2: attribute 'a' given twice in <name>"),
        ("<domain><name>x</name></domain><domain/>", ":1: content after the root element </domain>"),
        ("<domain><name>x", ":1: <name> is not closed"),
        // libvirt's parser refuses a bare '&': a merge must not write one it turned into "&amp;"-less text.
        ("<domain>\n<name a=\"x&ap'os;y\"/></domain>", ":2: '&' in the value of 'a' starts no entity (write &amp;)"),
        ("<domain><name>R&D</name></domain>", ":1: '&' in the text of <name> starts no entity (write &amp;)"),
    ])
    func brokenDefinitionsAreRefusedWithTheLine(text: String, message: String) throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let path = try file(machine, "broken.xml", text)
        let result = try machine.run(["vm-xml", "--merge", path])
        #expect(result.status == 1)
        #expect(result.output.isEmpty)
        #expect(result.errors.contains(message), "\(result.errors)")
    }

    /// What libvirt writes comes back byte for byte (text, comments, CDATA, entities, mixed content).
    @Test func theTreeWritesLibvirtsLayoutBack() throws {
        let text = """
            <domain type='kvm'>
              <name>a&amp;b</name>
              <description>line one
            line &lt;two&gt;</description>
              <metadata>
                <app:data xmlns:app='urn:x'><![CDATA[<raw>]]> and <b>bold</b> text</app:data>
              </metadata>
              <!-- a comment -->
              <devices/>
            </domain>

            """
        let document = try XMLDocument(parsing: text, source: "t.xml")
        #expect(document.rendered() == text)
        #expect(document.root.first("name")?.text == "a&b")
    }

    @Test func depthIsLimited() throws {
        let deep = String(repeating: "<a>", count: 200) + String(repeating: "</a>", count: 200)
        #expect(throws: XMLError.self) { try XMLDocument(parsing: deep, source: "deep.xml") }
    }

    // MARK: Proxmox and QEMU

    @Test func proxmoxEntryPerCard() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        var result = try machine.run(["vm-xml", "--format", "proxmox"])
        #expect(result.status == 0)
        #expect(result.output == "hostpci0: 0000:03:00,pcie=1\n")
        #expect(result.errors.contains("pcie=1 needs 'machine: q35'"))
        result = try machine.run(["vm-xml", "--format", "proxmox", "--primary"])
        #expect(result.output == "hostpci0: 0000:03:00,pcie=1,x-vga=1\n")
        // One function of a slot that has more: named, not the slot.
        let single = try FakeMachine(Fixtures.identicalGPUs)
        result = try single.run(["vm-xml", "00:03.0", "--format", "proxmox"])
        #expect(result.output == "hostpci0: 0000:00:03.0,pcie=1\n")
    }

    /// `qm set` after the indices the VM's config uses (snapshot sections are not the VM's), nothing
    /// for a card it already passes, and no pcie=1 for a VM that is not q35.
    @Test func proxmoxQmSetFollowsTheVMsConfig() throws {
        let machine = try FakeMachine(Fixtures.identicalGPUs, config: "00:05.0\n")
        try machine.write("/etc/pve/qemu-server/100.conf", """
            boot: order=scsi0
            hostpci0: 0000:00:1f.3
            hostpci2: 01:00,pcie=1
            machine: pc-q35-8.1
            [snap1]
            hostpci1: 0000:00:1f.4
            machine: pc-i440fx-7.0

            """)
        var result = try machine.run(["vm-xml", "--format", "proxmox", "--vmid", "100"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output == "qm set 100 --hostpci1 0000:00:05,pcie=1\n")
        try machine.write("/etc/pve/qemu-server/101.conf", "hostpci0: 00:05,x-vga=1\nmachine: q35\n")
        result = try machine.run(["vm-xml", "--format", "proxmox", "--vmid", "101"])
        #expect(result.output.isEmpty)
        #expect(result.errors.contains("VM 101 already passes 0000:00:05"))
        try machine.write("/etc/pve/qemu-server/102.conf", "ostype: win10\n")
        result = try machine.run(["vm-xml", "--format", "proxmox", "--vmid", "102"])
        #expect(result.output == "qm set 102 --hostpci0 0000:00:05\n")
        #expect(result.errors.contains("warning: VM 102 is not q35"))
        result = try machine.run(["vm-xml", "--format", "proxmox", "--vmid", "103"])
        #expect(result.output == "qm set 103 --hostpci0 0000:00:05,pcie=1\n")
        #expect(result.errors.contains("cannot read"))
    }

    /// Part of a slot: the functions as a ';' list, quoted in the command so a shell keeps it whole.
    @Test func aPartOfASlotIsListedAndQuoted() throws {
        let machine = try FakeMachine([
            FakeDevice("0000:00:00.0", id: "8086:29c0", class: "060000", group: 0),
            FakeDevice("0000:00:02.0", id: "8086:3e92", class: "030000", group: 1, driver: "i915", bootVGA: true),
            FakeDevice("0000:01:00.0", id: "10de:1b80", class: "030000", group: 2, driver: "vfio-pci"),
            FakeDevice("0000:01:00.1", id: "10de:10f0", class: "040300", group: 2, driver: "vfio-pci"),
            FakeDevice("0000:01:00.2", id: "10de:1ad8", class: "118000", group: 3),
        ], config: "01:00.0\n")
        var result = try machine.run(["vm-xml", "--format", "proxmox"])
        #expect(result.output == "hostpci0: 0000:01:00.0;0000:01:00.1,pcie=1\n", "\(result.errors)")
        result = try machine.run(["vm-xml", "--format", "proxmox", "--vmid", "100"])
        #expect(result.output == "qm set 100 --hostpci0 '0000:01:00.0;0000:01:00.1,pcie=1'\n")
    }

    @Test func qemuArgumentsPutTheCardOnARootPort() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let result = try machine.run(["vm-xml", "--format", "qemu", "--primary"])
        #expect(result.status == 0)
        #expect(result.output == """
            -device pcie-root-port,id=earlybind.0,chassis=128,bus=pcie.0 \\
            -device vfio-pci,host=0000:03:00.0,bus=earlybind.0,addr=00.0,multifunction=on,x-vga=on \\
            -device vfio-pci,host=0000:03:00.1,bus=earlybind.0,addr=00.1

            """)
        #expect(result.errors.contains("note: for -machine q35 (bus pcie.0); with x-vga=on also give QEMU -vga none"))
        // x-vga needs a VGA controller: a 3D controller alone is not marked.
        let threeD = try FakeMachine(Fixtures.identicalGPUs)
        let other = try threeD.run(["vm-xml", "00:05.0", "--format", "qemu", "--primary"])
        #expect(!other.output.contains("x-vga"))
        #expect(other.errors.contains("no VGA controller (class 0300) among the devices"))
    }

    @Test(arguments: [
        ["--format", "proxmox", "--apply", "win10"],
        ["--dry-run"],
        ["--json"],
        ["--vmid", "100"],
        ["--primary"],
        ["--apply", "a", "--merge", "b"],
    ])
    func optionsThatDoNotGoTogetherAreRefused(arguments: [String]) throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let result = try machine.run(["vm-xml"] + arguments)
        #expect(result.status == 64)
        #expect(result.output.isEmpty)
        #expect(result.errors.contains("Usage: earlybind vm-xml"))
    }

    /// add's rules hold for every format: the boot GPU's group is refused alike.
    @Test(arguments: ["libvirt", "proxmox", "qemu"])
    func everyFormatRefusesWhatAddRefuses(format: String) throws {
        let machine = try FakeMachine(Fixtures.groupWithSATA)
        let result = try machine.run(["vm-xml", "00:1f.4", "--format", format])
        #expect(result.status != 0)
        #expect(result.output.isEmpty)
        #expect(result.errors.contains("nothing was printed or applied"))
    }

    // MARK: --apply, against a stand-in for virsh

    /// A virsh that keeps domains in DIR/NAME.xml, logs its arguments to DIR/calls, refuses a
    /// define while DIR/refuse exists, lists the names in DIR/transient as not persistent, gives
    /// the VM an id when DIR/running exists, and with DIR/edit runs it after each dumpxml.
    final class StandInVirsh {
        let directory: String

        init(_ machine: FakeMachine) throws {
            directory = machine.root + "/virsh"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let script = directory + "/virsh"
            try """
                #!/bin/sh
                dir=$(dirname "$0")
                echo "$*" >>"$dir/calls"
                shift 3   # --quiet --connect URI
                case $1 in
                dumpxml) eval "name=\\${$#}"; cat "$dir/$name.xml" 2>/dev/null || { echo "error: failed to get domain '$name'" >&2; exit 1; }
                    [ ! -e "$dir/edit" ] || dir=$dir sh "$dir/edit" ;;
                list) for file in "$dir"/*.xml; do name=$(basename "$file" .xml); grep -qx "$name" "$dir/transient" 2>/dev/null || echo "$name"; done ;;
                define) [ ! -e "$dir/refuse" ] || { echo "error: XML document failed to validate" >&2; exit 1; }
                    name=$(sed -n 's:.*<name>\\(.*\\)</name>.*:\\1:p' "$3" | head -n 1); cp "$3" "$dir/$name.xml" ;;
                domid) if [ -e "$dir/running" ]; then echo 7; else echo -; fi ;;
                esac

                """.write(toFile: script, atomically: false, encoding: .utf8)
            chmod(script, 0o755)
        }

        var environment: [String: String] {
            ["PATH": directory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        }

        var calls: String { (try? String(contentsOfFile: directory + "/calls", encoding: .utf8)) ?? "" }

        func domain(_ name: String) -> String? { try? String(contentsOfFile: directory + "/" + name + ".xml", encoding: .utf8) }
    }

    func apply(_ machine: FakeMachine, _ virsh: StandInVirsh, _ arguments: [String]) throws -> CLIResult {
        try runEarlybind(["vm-xml", "--apply"] + arguments + ["--sysfs", machine.tree.root, "--root", machine.root],
                         environment: virsh.environment)
    }

    func backups(_ machine: FakeMachine) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: machine.root + "/var/lib/earlybind/vm")) ?? []).sorted()
    }

    @Test func applyReadsThePersistentDefinitionBacksItUpAndDefinesTheMerge() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let virsh = try StandInVirsh(machine)
        let original = try String(contentsOfFile: Self.virtManager, encoding: .utf8)
        try original.write(toFile: virsh.directory + "/win10.xml", atomically: false, encoding: .utf8)

        var result = try apply(machine, virsh, ["win10", "--dry-run"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("would change VM 'win10' (qemu:///system):"))
        #expect(result.output.contains("+      <hidden state='on'/>"))
        #expect(virsh.domain("win10") == original)
        #expect(backups(machine).isEmpty)
        let dryJSON = try apply(machine, virsh, ["win10", "--dry-run", "--json"]).json()
        #expect(dryJSON["changed"] as? Bool == true)
        #expect(dryJSON["dry_run"] as? Bool == true)
        #expect(dryJSON["backup"] is NSNull)
        #expect(virsh.domain("win10") == original)

        result = try apply(machine, virsh, ["win10", "--json"])
        #expect(result.status == 0, "\(result.errors)")
        let json = try result.json()
        #expect(json["changed"] as? Bool == true)
        let backup = try #require(json["backup"] as? String)
        #expect(try String(contentsOfFile: backup, encoding: .utf8) == original)
        let attributes = try FileManager.default.attributesOfItem(atPath: backup)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let directory = try FileManager.default.attributesOfItem(atPath: machine.root + "/var/lib/earlybind/vm")
        #expect((directory[.posixPermissions] as? Int) == 0o700)
        #expect(virsh.calls.contains("--quiet --connect qemu:///system dumpxml --inactive --security-info -- win10"))
        #expect(virsh.calls.contains("define --validate"))
        let merged = try String(contentsOfFile: Self.fixtures + "/virt-manager-win10.merged.xml", encoding: .utf8)
        #expect(virsh.domain("win10") == merged)
        // The staged copy on its way to libvirt does not stay.
        #expect(backups(machine) == [(backup as NSString).lastPathComponent])

        result = try apply(machine, virsh, ["win10"])
        #expect(result.status == 0)
        #expect(result.output.contains("VM 'win10' already has every device and feature: nothing to change"))
        #expect(backups(machine).count == 1)
    }

    @Test func aRunningVMIsToldWhenItGetsTheDevices() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let virsh = try StandInVirsh(machine)
        try FileManager.default.copyItem(atPath: Self.virtManager, toPath: virsh.directory + "/win10.xml")
        try "".write(toFile: virsh.directory + "/running", atomically: false, encoding: .utf8)
        let result = try apply(machine, virsh, ["win10", "--connect", "qemu:///session", "--json"])
        #expect(result.status == 0)
        #expect(result.errors.contains("changed VM 'win10' (qemu:///session):"))
        #expect(result.errors.contains("the VM is running: it gets the devices when it is shut down and started again"))
        #expect(try result.json()["running"] as? Bool == true)
        // Nothing left to change: still reported as running, without the advice.
        let again = try apply(machine, virsh, ["win10", "--connect", "qemu:///session", "--json"])
        #expect(try again.json()["running"] as? Bool == true)
        #expect(!again.errors.contains("the VM is running"))
    }

    /// The devices are this machine's: another host's libvirt is refused before anything runs.
    @Test func anotherHostsLibvirtIsRefused() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let virsh = try StandInVirsh(machine)
        let result = try apply(machine, virsh, ["win10", "--connect", "qemu+ssh://root@box/system"])
        #expect(result.status == 1)
        #expect(result.errors.contains("qemu+ssh://root@box/system is libvirt on box, but the devices are this machine's"))
        #expect(virsh.calls.isEmpty)
    }

    /// A transient VM has no definition to change: defining its live state would make it persistent.
    @Test func aTransientVMIsRefused() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let virsh = try StandInVirsh(machine)
        try FileManager.default.copyItem(atPath: Self.virtManager, toPath: virsh.directory + "/win10.xml")
        try "win10\n".write(toFile: virsh.directory + "/transient", atomically: false, encoding: .utf8)
        let result = try apply(machine, virsh, ["win10"])
        #expect(result.status == 1)
        #expect(result.errors.contains("VM 'win10' is transient: libvirt keeps no definition of it to change; nothing was changed"))
        #expect(!virsh.calls.contains("define"))
        #expect(backups(machine).isEmpty)
    }

    /// An edit made between earlybind's read and its define (virt-manager, virsh edit) is not overwritten.
    @Test func anEditMeanwhileIsNotOverwritten() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let virsh = try StandInVirsh(machine)
        try FileManager.default.copyItem(atPath: Self.virtManager, toPath: virsh.directory + "/win10.xml")
        try "sed -i 's/<vcpu placement=.static.>4/<vcpu placement=\"static\">8/' \"$dir/win10.xml\"; rm \"$dir/edit\"\n"
            .write(toFile: virsh.directory + "/edit", atomically: false, encoding: .utf8)
        let result = try apply(machine, virsh, ["win10"])
        #expect(result.status == 1)
        #expect(result.errors.contains("VM 'win10' was changed while earlybind merged it; nothing was changed: run vm-xml again"))
        #expect(!virsh.calls.contains("define"))
        #expect(backups(machine).isEmpty)
        #expect(virsh.domain("win10")?.contains(">8</vcpu>") == true)
    }

    /// A definition libvirt refuses leaves the VM and /var/lib/earlybind/vm as they were.
    @Test func aRefusedDefineLeavesNoBackup() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let virsh = try StandInVirsh(machine)
        let original = try String(contentsOfFile: Self.virtManager, encoding: .utf8)
        try original.write(toFile: virsh.directory + "/win10.xml", atomically: false, encoding: .utf8)
        try "".write(toFile: virsh.directory + "/refuse", atomically: false, encoding: .utf8)
        var result = try apply(machine, virsh, ["win10"])
        #expect(result.status == 1)
        #expect(result.errors.contains("libvirt refused the merged definition of 'win10'"))
        #expect(result.errors.contains("the VM is unchanged"))
        #expect(backups(machine).isEmpty)
        #expect(virsh.domain("win10") == original)
        result = try apply(machine, virsh, ["nosuchvm"])
        #expect(result.status == 1)
        #expect(result.errors.contains("virsh could not read VM 'nosuchvm' from qemu:///system"))
        #expect(backups(machine).isEmpty)
    }

    @Test func withoutVirshNothingIsTried() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let result = try runEarlybind(["vm-xml", "--apply", "win10", "--sysfs", machine.tree.root, "--root", machine.root],
                                      environment: ["PATH": machine.root + "/nowhere"])
        #expect(result.status == 1)
        #expect(result.errors.contains("virsh is not installed (apt install libvirt-clients); nothing was changed"))
    }
}
