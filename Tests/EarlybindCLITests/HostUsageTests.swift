import EarlybindCore
@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

/// What the host is using: storage below its mounts and swap, NICs carrying its routes and SSH,
/// on fake sysfs block and net trees with fake proc files in a staged root.
@Suite struct HostUsageTests {
    /// Two NVMe drives below a root port, an onboard NIC, a two-port NIC, beside a GPU.
    static var devices: [FakeDevice] {
        Fixtures.gpuWithAudio + [
            FakeDevice("0000:00:1d.0", id: "8086:a330", class: "060400", group: 19, driver: "pcieport", headerType: 0x01),
            FakeDevice("0000:02:00.0", id: "144d:a808", class: "010802", group: 20, driver: "nvme", parent: "0000:00:1d.0"),
            FakeDevice("0000:04:00.0", id: "144d:a808", class: "010802", group: 21, driver: "nvme", parent: "0000:00:1d.0"),
            FakeDevice("0000:00:1f.6", id: "8086:15bc", class: "020000", group: 22, driver: "e1000e"),
            FakeDevice("0000:05:00.0", id: "8086:1521", class: "020000", group: 23, driver: "igb"),
            FakeDevice("0000:05:00.1", id: "8086:1521", class: "020000", group: 24, driver: "igb"),
        ]
    }

    let machine: FakeMachine
    let host: earlybind.Host

    init() throws {
        machine = try FakeMachine(HostUsageTests.devices)
        host = earlybind.Host(root: InstallRoot(machine.root)!, sysfsRoot: machine.tree.root)
    }

    var sysfs: String { machine.tree.root }

    // MARK: - Building the fake trees

    func make(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func link(_ path: String, to target: String) throws {
        try make((path as NSString).deletingLastPathComponent)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
    }

    /// The device's directory relative to sysfs (`devices/pci0000:00/0000:00:1d.0/0000:02:00.0`).
    func location(_ address: String) throws -> String {
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: sysfs + "/bus/pci/devices/" + address)
        return String(target.dropFirst("../../../".count))
    }

    /// A block device at `directory` (relative to sysfs), linked from `class/block/NAME` and `dev/block/MAJ:MIN`.
    func block(_ name: String, at directory: String, dev: String, slaves: [String] = []) throws {
        try make(sysfs + "/" + directory)
        try machine.tree.write(sysfs + "/" + directory + "/dev", dev + "\n")
        try link(sysfs + "/class/block/" + name, to: "../../" + directory)
        try link(sysfs + "/dev/block/" + dev, to: "../../" + directory)
        for slave in slaves { try link(sysfs + "/" + directory + "/slaves/" + slave, to: "../../" + slave) }
    }

    /// `nvmeNn1` of a controller and its partitions: `nvme0n1p1` is `259:1`, and so on.
    func nvme(_ index: Int, at address: String, partitions: Int, major: Int = 259) throws {
        let disk = "nvme\(index)n1"
        let directory = try location(address) + "/nvme/nvme\(index)/" + disk
        try block(disk, at: directory, dev: "\(major):\(index * 10)")
        for partition in 1...max(partitions, 1) where partitions > 0 {
            try block(disk + "p\(partition)", at: directory + "/" + disk + "p\(partition)", dev: "\(major):\(index * 10 + partition)")
        }
    }

    /// A dm device (LVM, LUKS) over its slaves.
    func dm(_ index: Int, name: String, slaves: [String]) throws {
        try block("dm-\(index)", at: "devices/virtual/block/dm-\(index)", dev: "253:\(index)", slaves: slaves)
        try make(sysfs + "/devices/virtual/block/dm-\(index)/dm")
        try machine.tree.write(sysfs + "/devices/virtual/block/dm-\(index)/dm/name", name + "\n")
    }

    /// A network interface: on a PCI device, or virtual (a bridge with ports, a bond or VLAN with lowers).
    func interface(_ name: String, on address: String? = nil, ports: [String] = [], lowers: [String] = []) throws {
        let directory: String
        if let address {
            directory = try location(address) + "/net/" + name
            try make(sysfs + "/" + directory)
            try link(sysfs + "/" + directory + "/device", to: "../../../" + address)
        } else {
            directory = "devices/virtual/net/" + name
            try make(sysfs + "/" + directory)
        }
        try link(sysfs + "/class/net/" + name, to: "../../" + directory)
        for port in ports { try link(sysfs + "/" + directory + "/brif/" + port, to: "../../" + port + "/brport") }
        for lower in lowers { try link(sysfs + "/" + directory + "/lower_" + lower, to: "../" + lower) }
    }

    func mountinfo(_ lines: [String]) throws {
        try machine.write("/proc/self/mountinfo", lines.enumerated().map { index, line in "\(20 + index) 1 " + line }.joined(separator: "\n") + "\n")
    }

    static let pseudo = ["0:22 / /proc rw,nosuid - proc proc rw", "0:5 / /dev rw - devtmpfs udev rw", "0:26 / /run rw - tmpfs tmpfs rw"]

    func findings(_ addresses: [String]) -> [String] {
        HostUsage.findings(host: host, addresses: addresses.map { PCIAddress($0)! }).map(\.sentence)
    }

    func routes(_ lines: [String]) throws {
        try machine.write("/proc/net/route", (["Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"] + lines)
            .joined(separator: "\n") + "\n")
    }

    // MARK: - Storage

    @Test func rootOnANVMePartition() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 3)
        try mountinfo(HostUsageTests.pseudo + ["259:2 / / rw,relatime - ext4 /dev/nvme0n1p2 rw", "259:1 / /boot/efi rw - vfat /dev/nvme0n1p1 rw"])
        #expect(findings(["0000:02:00.0"]) == ["0000:02:00.0 holds / (nvme0n1p2) and /boot/efi (nvme0n1p1)"])
    }

    @Test func manyMountsAreSummarized() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 1)
        try mountinfo(["259:1 / / rw - ext4 /dev/nvme0n1p1 rw"] + (1...7).map { "259:1 /var/lib/c\($0) /srv/c\($0) rw - ext4 /dev/nvme0n1p1 rw" })
        #expect(findings(["0000:02:00.0"]) == ["0000:02:00.0 holds / (nvme0n1p1), /srv/c1 (nvme0n1p1), /srv/c2 (nvme0n1p1), /srv/c3 (nvme0n1p1) and 4 more"])
    }

    @Test func rootOnLVMOverLUKSOverANVMePartition() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 3)
        try dm(0, name: "luks-1234", slaves: ["nvme0n1p3"])
        try dm(1, name: "vg-root", slaves: ["dm-0"])
        try mountinfo(HostUsageTests.pseudo + ["253:1 / / rw - ext4 /dev/mapper/vg-root rw"])
        #expect(findings(["0000:02:00.0", "0000:04:00.0"]) == ["0000:02:00.0 holds / (nvme0n1p3 under dm-1)"])
    }

    @Test func mdOverTwoDrivesHoldsBoth() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 1)
        try nvme(1, at: "0000:04:00.0", partitions: 1)
        try block("md0", at: "devices/virtual/block/md0", dev: "9:0", slaves: ["nvme0n1p1", "nvme1n1p1"])
        try mountinfo(["9:0 / /srv rw - xfs /dev/md0 rw"])
        #expect(findings(["0000:02:00.0", "0000:04:00.0"]) == ["0000:02:00.0 holds /srv (nvme0n1p1 under md0)", "0000:04:00.0 holds /srv (nvme1n1p1 under md0)"])
    }

    @Test func swapPartition() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 3)
        try mountinfo(["259:2 / / rw - ext4 /dev/nvme0n1p2 rw"])
        try machine.write("/proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/nvme0n1p3                          partition\t8388604\t\t0\t\t-2\n")
        #expect(findings(["0000:02:00.0"]) == ["0000:02:00.0 holds / (nvme0n1p2) and swap (nvme0n1p3)"])
        #expect(HostUsage.findings(host: host, addresses: [PCIAddress("0000:02:00.0")!]).first?.cost
            == "/ (nvme0n1p2) and swap (nvme0n1p3) on 0000:02:00.0")
    }

    @Test func swapFileLivesOnTheFilesystemHoldingIt() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 1)
        try nvme(1, at: "0000:04:00.0", partitions: 1)
        try mountinfo(["259:1 / / rw - ext4 /dev/nvme0n1p1 rw", "259:11 / /data rw - ext4 /dev/nvme1n1p1 rw"])
        try machine.write("/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/data/swap\\040file file\t1048572\t0\t-2\n")
        #expect(findings(["0000:04:00.0"]) == ["0000:04:00.0 holds /data (nvme1n1p1) and swap file /data/swap file (nvme1n1p1)"])
    }

    @Test func btrfsCountsEveryMemberOfTheFilesystem() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 2)
        try nvme(1, at: "0000:04:00.0", partitions: 1)
        let uuid = "5f1c8a2e-0d3b-4c1a-9e7f-2b6d8c4a1e90"
        try link(sysfs + "/fs/btrfs/" + uuid + "/devices/nvme0n1p2", to: "../../../../devices/" + "x")
        try link(sysfs + "/fs/btrfs/" + uuid + "/devices/nvme1n1p1", to: "../../../../devices/" + "y")
        try make(sysfs + "/fs/btrfs/features")
        try mountinfo(["0:31 /@ / rw,relatime - btrfs /dev/nvme0n1p2 rw,subvol=/@", "0:31 /@home /home rw - btrfs /dev/nvme0n1p2 rw,subvol=/@home"])
        #expect(findings(["0000:02:00.0", "0000:04:00.0"]) == ["0000:02:00.0 holds / (nvme0n1p2) and /home (nvme0n1p2)",
                                                               "0000:04:00.0 holds / (nvme1n1p1) and /home (nvme1n1p1)"])
    }

    @Test func zfsCountsThePoolsMembers() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 1)
        try nvme(1, at: "0000:04:00.0", partitions: 1)
        try machine.write("/run/udev/data/b259:1", "S:disk/by-id/nvme-x-part1\nE:ID_FS_TYPE=zfs_member\nE:ID_FS_LABEL=rpool\n")
        try machine.write("/run/udev/data/b259:11", "E:ID_FS_TYPE=zfs_member\nE:ID_FS_LABEL=tank\n")
        try mountinfo(["0:40 / / rw - zfs rpool/ROOT/pve-1 rw,xattr"])
        #expect(findings(["0000:02:00.0", "0000:04:00.0"]) == ["0000:02:00.0 holds / (nvme0n1p1)"])
    }

    @Test func anUnusedNVMeIsStillAllowed() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 2)
        try nvme(1, at: "0000:04:00.0", partitions: 1)
        try mountinfo(HostUsageTests.pseudo + ["259:2 / / rw - ext4 /dev/nvme0n1p2 rw"])
        #expect(findings(["0000:04:00.0"]).isEmpty)
        let result = try machine.run(["add", "04:00.0"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(try machine.read("/etc/earlybind.conf").contains("0000:04:00.0 144d:a808  #"))
    }

    /// A staged root stands for the whole machine: without its proc/self/mountinfo nothing is mounted.
    @Test func aStagedRootDoesNotLeakThisMachinesMounts() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 2)
        // This machine's own root is on some block device; the staged root has no proc/self/mountinfo.
        #expect(!FileManager.default.fileExists(atPath: machine.root + "/proc/self/mountinfo"))
        #expect(HostUsage(host: host).uses().isEmpty)
        #expect(findings(["0000:02:00.0", "0000:04:00.0", "0000:00:1f.6"]).isEmpty)
        let result = try machine.run(["add", "02:00.0", "--dry-run"])
        #expect(result.status == 0, "\(result.errors)")
    }

    // MARK: - Network

    @Test func theDefaultRouteNIC() throws {
        try interface("eno1", on: "0000:00:1f.6")
        try interface("enp5s0f0", on: "0000:05:00.0")
        try routes(["eno1\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
                    "eno1\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0",
                    "enp5s0f0\t000A0A0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0"])
        #expect(findings(["0000:00:1f.6", "0000:05:00.0"]) == ["0000:00:1f.6 carries the default route (eno1)"])
    }

    @Test func anIPv6DefaultRoute() throws {
        try interface("enp5s0f1", on: "0000:05:00.1")
        let zeros = String(repeating: "0", count: 32)
        try machine.write("/proc/net/ipv6_route", """
            \(zeros) 00 \(zeros) 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 enp5s0f1
            \(zeros) 00 \(zeros) 00 \(zeros) ffffffff 00000001 00000000 00200200       lo

            """)
        #expect(findings(["0000:05:00.1"]) == ["0000:05:00.1 carries the default route (enp5s0f1)"])
    }

    @Test func aNICEnslavedToTheBridgeCarryingTheRoute() throws {
        try interface("eno1", on: "0000:00:1f.6")
        try interface("vmbr0", ports: ["eno1"])
        try routes(["vmbr0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0"])
        #expect(findings(["0000:00:1f.6"]) == ["0000:00:1f.6 carries the default route (vmbr0 via eno1)"])
    }

    @Test func aBondOfTwoNICsOnAVLAN() throws {
        try interface("enp5s0f0", on: "0000:05:00.0")
        try interface("enp5s0f1", on: "0000:05:00.1")
        try interface("bond0", lowers: ["enp5s0f0", "enp5s0f1"])
        try interface("bond0.10", lowers: ["bond0"])
        try routes(["bond0.10\t00000000\t010A0A0A\t0003\t0\t0\t0\t00000000\t0\t0\t0"])
        #expect(findings(["0000:05:00.0", "0000:05:00.1", "0000:00:1f.6"]) == [
            "0000:05:00.0 carries the default route (bond0.10 via enp5s0f0)",
            "0000:05:00.1 carries the default route (bond0.10 via enp5s0f1)",
        ])
    }

    @Test func theNICOfAnSSHSession() throws {
        try interface("eno1", on: "0000:00:1f.6")
        try interface("enp5s0f0", on: "0000:05:00.0")
        try interface("enp5s0f1", on: "0000:05:00.1")
        // The default route is on eno1; SSH comes in on enp5s0f0 (10.10.10.5) and over IPv6 on enp5s0f1.
        try routes(["eno1\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
                    "enp5s0f0\t000A0A0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0"])
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        try machine.write("/proc/net/tcp", header
            + "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
            + "   1: 050A0A0A:0016 020A0A0A:D431 01 00000000:00000000 02:00000000 00000000     0        0 2 1\n"
            + "   2: 050A0A0A:01BB 020A0A0A:D432 01 00000000:00000000 02:00000000 00000000     0        0 3 1\n")
        try machine.write("/proc/net/tcp6", header
            + "   0: 000080FE00000000FFC2BE02A31A94FE:0016 000080FE00000000FF11111111111111:C350 01 00000000:00000000 00:00000000 00000000 0 0 4 1\n")
        try machine.write("/proc/net/if_inet6", "fe8000000000000002bec2fffe941aa3 03 40 20 80 enp5s0f1\n")
        #expect(findings(["0000:00:1f.6", "0000:05:00.0", "0000:05:00.1"]) == [
            "0000:00:1f.6 carries the default route (eno1)",
            "0000:05:00.0 carries an SSH session (10.10.10.5 on enp5s0f0)",
            "0000:05:00.1 carries an SSH session (fe80:0:0:0:2be:c2ff:fe94:1aa3 on enp5s0f1)",
        ])
    }

    // MARK: - The commands

    func rootOnNVMeAndRouteOnEno1() throws {
        try nvme(0, at: "0000:02:00.0", partitions: 3)
        try mountinfo(HostUsageTests.pseudo + ["259:2 / / rw - ext4 /dev/nvme0n1p2 rw"])
        try machine.write("/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/dev/nvme0n1p3 partition 8388604 0 -2\n")
        try interface("eno1", on: "0000:00:1f.6")
        try routes(["eno1\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0"])
    }

    @Test func addRefusesTheBootDiskUnlessForced() throws {
        try rootOnNVMeAndRouteOnEno1()
        let refused = try machine.run(["add", "02:00.0"])
        #expect(refused.status == 1)
        #expect(refused.errors.contains("0000:02:00.0 holds / (nvme0n1p2) and swap (nvme0n1p3): the host is using it"))
        #expect(refused.errors.contains("the host would lose / (nvme0n1p2) and swap (nvme0n1p3) on 0000:02:00.0"))
        #expect(!FileManager.default.fileExists(atPath: machine.root + "/etc/earlybind.conf"))

        let forced = try machine.run(["add", "02:00.0", "03:00.0", "--force"])
        #expect(forced.status == 0, "\(forced.errors)")
        #expect(forced.errors.contains("warning: --force overrides: 0000:02:00.0 holds / (nvme0n1p2)"))
        let config = try machine.read("/etc/earlybind.conf")
        #expect(config.contains("0000:02:00.0 144d:a808 force  #"))
        #expect(config.contains("0000:03:00.0 10de:1b02  #"))
    }

    @Test func addRefusesTheRouteNIC() throws {
        try rootOnNVMeAndRouteOnEno1()
        let refused = try machine.run(["add", "00:1f.6"])
        #expect(refused.status == 1)
        #expect(refused.errors.contains("0000:00:1f.6 carries the default route (eno1): the host is using it"))
    }

    @Test func vmXMLRefusesADeviceTheHostIsUsingUnlessForced() throws {
        try rootOnNVMeAndRouteOnEno1()
        let refused = try machine.run(["vm-xml", "02:00.0"])
        #expect(refused.status == 1)
        #expect(refused.errors.contains("0000:02:00.0 holds / (nvme0n1p2) and swap (nvme0n1p3): the host is using it"))
        #expect(refused.output.isEmpty)
        let forced = try machine.run(["vm-xml", "02:00.0", "--force"])
        #expect(forced.status == 0, "\(forced.errors)")
        #expect(forced.output.contains("bus='0x02'"))
        #expect(forced.errors.contains("warning: --force overrides"))
        #expect(try machine.run(["vm-xml", "04:00.0"]).status == 0)
    }

    @Test func applyLeavesAGroupTheHostIsUsingAlone() throws {
        try rootOnNVMeAndRouteOnEno1()
        try machine.write("/etc/earlybind.conf", "02:00.0 144d:a808\n04:00.0 144d:a808\n")
        let kernel = SimulatedKernel(machine.tree)
        let applier = Applier(host: host, sysfs: Sysfs(root: machine.tree.root, io: kernel), procRoot: machine.root + "/proc")
        let lines = try applier.apply(dryRun: true).lines
        #expect(lines == [
            "would leave 0000:02:00.0 [144d:a808]: in use by the host: 0000:02:00.0 holds / (nvme0n1p2) and swap (nvme0n1p3)",
            "would bind 0000:04:00.0 [144d:a808]",
        ])
    }
}
