import EarlybindCore

/// One thing the host is using a PCI device for right now.
struct HostUse: Equatable, Sendable {
    enum Kind: String, Sendable {
        /// A controller below a mounted filesystem or active swap, through any md/dm layer.
        case storage
        /// A NIC carrying the default route or an SSH session, through any bridge, bond or VLAN.
        case network
    }

    let kind: Kind
    /// What it is, as the object of "holds" or "carries": `/ (nvme0n1p2)`, `the default route (eno1)`.
    let what: String
}

/// A device the host is using, with everything it is used for.
struct InUseFinding: Equatable, Sendable {
    let address: PCIAddress
    let uses: [HostUse]

    /// `0000:02:00.0 holds / (nvme0n1p2) and swap (nvme0n1p3)`,
    /// `0000:00:1f.6 carries the default route (eno1)`.
    var sentence: String {
        let storage = uses.filter { $0.kind == .storage }.map(\.what)
        let network = uses.filter { $0.kind == .network }.map(\.what)
        var parts: [String] = []
        if !storage.isEmpty { parts.append("holds " + HostUsage.list(HostUsage.summarized(storage))) }
        if !network.isEmpty { parts.append("carries " + HostUsage.list(network)) }
        return address.description + " " + parts.joined(separator: " and ")
    }

    /// What the host loses when the device goes to vfio-pci: `/ (nvme0n1p2) and swap (nvme0n1p3) on 0000:02:00.0`.
    var cost: String {
        HostUsage.list(HostUsage.summarized(uses.filter { $0.kind == .storage }.map(\.what)) + uses.filter { $0.kind == .network }.map(\.what))
            + " on " + address.description
    }
}

/// What the host is using its PCI devices for: the storage controllers below its mounted
/// filesystems and active swap, and the NICs carrying its default route or an SSH session.
/// Everything is read through `Host`: `ROOT/proc/...`, `ROOT/run/udev/data` and `ROOT/dev` links
/// under the root, the rest under sysfs; a staged root without those files reports nothing.
///
/// Storage. Each mount of `proc/self/mountinfo` (and each `proc/swaps` entry) is followed to
/// block devices: a mount's `MAJ:MIN` through `SYSFS/dev/block/MAJ:MIN`; a swap partition's
/// `/dev/NAME` through `SYSFS/class/block/NAME` (or the root's `/dev` symlink, or a dm device's
/// `dm/name`, for `/dev/mapper/NAME` and `/dev/disk/by-*`); a swap file through the mount with
/// the longest mount point holding it. Btrfs (`0:NN`) is matched by its mount's source device:
/// the filesystem in `SYSFS/fs/btrfs/*/devices/` listing it, whose members all count. ZFS
/// (`0:NN`) by its pool, the source's first component: every block device udev marks
/// `ID_FS_TYPE=zfs_member` with that pool as `ID_FS_LABEL` (or no label). A block device with
/// `slaves/` (md, dm: LVM, LUKS) counts through every slave, recursively; the controller of a
/// device is the PCI address nearest the end of its sysfs path.
///
/// Network. The interfaces of the default routes (`proc/net/route`, `proc/net/ipv6_route`) and
/// those holding the local address of an established connection to port 22 (`proc/net/tcp`,
/// `tcp6`; an IPv4 address is matched to the interface of its most specific on-link route in
/// `proc/net/route`, an IPv6 one to `proc/net/if_inet6`), followed down bridge ports (`brif/`)
/// and `lower_*` links (bonds, VLANs) to the interfaces with a PCI `device`.
/// The `proc/net` address fields are read as a little-endian kernel prints them.
struct HostUsage {
    let host: Host

    /// The in-use findings for `addresses` (those the host is using, in the order given, each once).
    /// This is what add, vm-xml, apply and install ask.
    static func findings(host: Host, addresses: [PCIAddress]) -> [InUseFinding] {
        let uses = HostUsage(host: host).uses()
        var seen = Set<PCIAddress>()
        return addresses.compactMap { address in
            guard seen.insert(address).inserted, let found = uses[address], !found.isEmpty else { return nil }
            return InUseFinding(address: address, uses: found)
        }
    }

    /// Everything the host uses, by controller.
    func uses() -> [PCIAddress: [HostUse]] {
        var result: [PCIAddress: [HostUse]] = [:]
        func record(_ address: PCIAddress, _ use: HostUse) {
            if !(result[address] ?? []).contains(use) { result[address, default: []].append(use) }
        }
        for (address, use) in storageUses() { record(address, use) }
        for (address, use) in networkUses() { record(address, use) }
        return result
    }

    /// At most five mounts and swaps named: a host with bind mounts (containers) keeps its sentence short.
    static func summarized(_ items: [String]) -> [String] {
        items.count <= 5 ? items : Array(items.prefix(4)) + ["\(items.count - 4) more"]
    }

    /// "a", "a and b", "a, b and c".
    static func list(_ items: [String]) -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " and " + items.last!
    }

    // MARK: - Storage

    struct Mount {
        let major: Int
        let minor: Int
        let point: String
        let type: String
        let source: String
    }

    /// `proc/self/mountinfo`: `ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS…] - TYPE SOURCE SUPER`.
    func mounts() -> [Mount] {
        guard let bytes = host.procFile("/proc/self/mountinfo") else { return [] }
        var mounts: [Mount] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 5, let dash = fields.firstIndex(of: "-"), dash >= 5 else { continue }
            let numbers = fields[2].split(separator: ":")
            guard numbers.count == 2, let major = Int(numbers[0]), let minor = Int(numbers[1]) else { continue }
            let type = dash + 1 < fields.count ? fields[dash + 1] : ""
            let source = dash + 2 < fields.count ? HostUsage.unescape(fields[dash + 2]) : ""
            mounts.append(Mount(major: major, minor: minor, point: HostUsage.unescape(fields[4]), type: type, source: source))
        }
        return mounts
    }

    func storageUses() -> [(PCIAddress, HostUse)] {
        var found: [(PCIAddress, HostUse)] = []
        let mounts = mounts()
        var points = Set<String>()
        for mount in mounts where points.insert(mount.point).inserted {
            for name in blockDevices(of: mount) {
                found += controllers(below: name).map { ($0.0, HostUse(kind: .storage, what: mount.point + " " + HostUsage.via($0.1, name))) }
            }
        }
        guard let swaps = host.procFile("/proc/swaps") else { return found }
        for line in String(decoding: swaps, as: UTF8.self).split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard fields.count >= 2 else { continue }
            let path = HostUsage.unescape(fields[0])
            if fields[1] == "file" {
                let holder = mounts.filter { $0.point == "/" || path.hasPrefix($0.point + "/") }.max { $0.point.count < $1.point.count }
                guard let holder else { continue }
                for name in blockDevices(of: holder) {
                    found += controllers(below: name).map { ($0.0, HostUse(kind: .storage, what: "swap file " + path + " " + HostUsage.via($0.1, name))) }
                }
            } else if let name = blockName(devicePath: path) {
                found += controllers(below: name).map { ($0.0, HostUse(kind: .storage, what: "swap " + HostUsage.via($0.1, name))) }
            }
        }
        return found
    }

    /// `(nvme0n1p2)`, or `(nvme0n1p3 under dm-1)` for a layered device.
    static func via(_ leaf: String, _ top: String) -> String {
        leaf == top ? "(" + leaf + ")" : "(" + leaf + " under " + top + ")"
    }

    /// The block devices a mount is on: its `MAJ:MIN`, or for btrfs and ZFS (`0:NN`) their members.
    func blockDevices(of mount: Mount) -> [String] {
        if mount.major != 0 {
            return blockName(major: mount.major, minor: mount.minor).map { [$0] } ?? []
        }
        switch mount.type {
        case "btrfs":
            guard let source = blockName(devicePath: mount.source) else { return [] }
            for uuid in host.sysfsList("fs/btrfs") where uuid != "features" {
                let members = host.sysfsList("fs/btrfs/" + uuid + "/devices")
                if members.contains(source) { return members }
            }
            return [source]
        case "zfs":
            let pool = String(mount.source.prefix { $0 != "/" })
            return zfsMembers(pool: pool)
        default:
            return []
        }
    }

    /// Block devices udev marks as members of the pool (one without a label counts too).
    func zfsMembers(pool: String) -> [String] {
        var members: [String] = []
        for file in host.list("/run/udev/data") where file.hasPrefix("b") {
            guard let bytes = host.file("/run/udev/data/" + file) else { continue }
            var type: String?
            var label: String?
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                if line.hasPrefix("E:ID_FS_TYPE=") { type = String(line.dropFirst("E:ID_FS_TYPE=".count)) }
                if line.hasPrefix("E:ID_FS_LABEL=") { label = String(line.dropFirst("E:ID_FS_LABEL=".count)) }
            }
            guard type == "zfs_member", label == nil || label == pool else { continue }
            let numbers = file.dropFirst().split(separator: ":")
            guard numbers.count == 2, let major = Int(numbers[0]), let minor = Int(numbers[1]),
                  let name = blockName(major: major, minor: minor) else { continue }
            members.append(name)
        }
        return members
    }

    /// `SYSFS/dev/block/MAJ:MIN` → the block device's name.
    func blockName(major: Int, minor: Int) -> String? {
        host.sysfsLink("dev/block/\(major):\(minor)").flatMap(HostUsage.lastComponent)
    }

    /// `/dev/NAME`, `/dev/mapper/NAME`, `/dev/disk/by-uuid/…` → the block device's name.
    func blockName(devicePath path: String) -> String? {
        guard path.hasPrefix("/dev/") else { return nil }
        let rest = String(path.dropFirst("/dev/".count))
        if !rest.contains("/") && !rest.isEmpty && host.sysfsExists("class/block/" + rest) { return rest }
        if let target = host.link(path).flatMap(HostUsage.lastComponent), host.sysfsExists("class/block/" + target) {
            return target
        }
        if rest.hasPrefix("mapper/") {
            let mapped = String(rest.dropFirst("mapper/".count))
            return host.sysfsList("class/block").first { name in
                name.hasPrefix("dm-") && host.sysfsFile("class/block/" + name + "/dm/name")?.trimmingNewlines() == mapped
            }
        }
        return nil
    }

    /// The PCI controllers a block device is on, each with the bottom block device that reaches it.
    func controllers(below name: String) -> [(PCIAddress, String)] {
        var result: [(PCIAddress, String)] = []
        var visited = Set<String>()
        func walk(_ name: String) {
            guard visited.insert(name).inserted, visited.count < 256 else { return }
            let slaves = host.sysfsList("class/block/" + name + "/slaves")
            if !slaves.isEmpty {
                slaves.forEach(walk)
                return
            }
            let target = host.sysfsLink("class/block/" + name) ?? host.sysfsLink("block/" + name)
            if let address = target.flatMap(HostUsage.pciAncestor), !result.contains(where: { $0.0 == address && $0.1 == name }) {
                result.append((address, name))
            }
        }
        walk(name)
        return result
    }

    // MARK: - Network

    func networkUses() -> [(PCIAddress, HostUse)] {
        var found: [(PCIAddress, HostUse)] = []
        for interface in defaultRouteInterfaces() {
            found += nics(below: interface).map { ($0.0, HostUse(kind: .network, what: "the default route (" + HostUsage.through(interface, $0.1) + ")")) }
        }
        for (address, interface) in sshInterfaces() {
            found += nics(below: interface).map {
                ($0.0, HostUse(kind: .network, what: "an SSH session (" + address + " on " + HostUsage.through(interface, $0.1) + ")"))
            }
        }
        return found
    }

    /// `eno1`, or `vmbr0 via eno1` for a bridge, bond or VLAN over the NIC.
    static func through(_ top: String, _ nic: String) -> String {
        top == nic ? nic : top + " via " + nic
    }

    struct Route {
        let interface: String
        let destination: UInt32
        let mask: UInt32
        let flags: UInt32
    }

    /// `proc/net/route`: `Iface Destination Gateway Flags RefCnt Use Metric Mask …`, addresses in hex as printed.
    func routes() -> [Route] {
        guard let bytes = host.procFile("/proc/net/route") else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard fields.count >= 8, let destination = UInt32(fields[1], radix: 16), let flags = UInt32(fields[3], radix: 16),
                  let mask = UInt32(fields[7], radix: 16) else { return nil }
            return Route(interface: fields[0], destination: destination, mask: mask, flags: flags)
        }
    }

    /// The interfaces of the IPv4 and IPv6 default routes that are up (not `lo`, not unreachable).
    func defaultRouteInterfaces() -> [String] {
        var interfaces: [String] = []
        for route in routes() where route.destination == 0 && route.mask == 0 && route.flags & 0x1 != 0 {
            if !interfaces.contains(route.interface) { interfaces.append(route.interface) }
        }
        if let bytes = host.procFile("/proc/net/ipv6_route") {
            // DEST PREFIXLEN SRC SRCPREFIXLEN NEXTHOP METRIC REFCNT USE FLAGS IFACE
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
                guard fields.count >= 10, fields[0] == String(repeating: "0", count: 32), fields[1] == "00",
                      let flags = UInt32(fields[8], radix: 16), flags & 0x1 != 0, flags & 0x200 == 0,
                      fields[9] != "lo", !interfaces.contains(fields[9]) else { continue }
                interfaces.append(fields[9])
            }
        }
        return interfaces
    }

    /// The local address and interface of each established connection to port 22.
    func sshInterfaces() -> [(String, String)] {
        var found: [(String, String)] = []
        let routes = routes()
        var inet6: [String: String] = [:]
        if let bytes = host.procFile("/proc/net/if_inet6") {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
                if fields.count >= 6 { inet6[fields[0].lowercased()] = fields[5] }
            }
        }
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let bytes = host.procFile(file) else { continue }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst() {
                let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
                guard fields.count >= 4, fields[3] == "01" else { continue }
                let local = fields[1].split(separator: ":")
                guard local.count == 2, local[1] == "0016" else { continue }
                var interface: String?
                var shown = ""
                if local[0].count == 8, let address = UInt32(local[0], radix: 16) {
                    interface = HostUsage.interface(of: address, routes: routes)
                    shown = HostUsage.dotted(address)
                } else if local[0].count == 32, let bytes = HostUsage.ipv6Bytes(String(local[0])) {
                    if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
                        let address = UInt32(bytes[12]) | UInt32(bytes[13]) << 8 | UInt32(bytes[14]) << 16 | UInt32(bytes[15]) << 24
                        interface = HostUsage.interface(of: address, routes: routes)
                        shown = HostUsage.dotted(address)
                    } else {
                        let hex = bytes.map { hexString(UInt32($0), width: 2) }.joined()
                        interface = inet6[hex]
                        shown = stride(from: 0, to: 16, by: 2).map { String(UInt32(bytes[$0]) << 8 | UInt32(bytes[$0 + 1]), radix: 16) }
                            .joined(separator: ":")
                    }
                }
                guard let interface, interface != "lo", !found.contains(where: { $0 == (shown, interface) }) else { continue }
                found.append((shown, interface))
            }
        }
        return found
    }

    /// The interface of the most specific on-link route holding the address (both as printed by the kernel).
    static func interface(of address: UInt32, routes: [Route]) -> String? {
        routes.filter { $0.mask != 0 && address & $0.mask == $0.destination }
            .max { $0.mask.nonzeroBitCount < $1.mask.nonzeroBitCount }?.interface
    }

    /// A little-endian kernel's hex IPv4 address (`0A00A8C0`) as dotted decimal (`192.168.0.10`).
    static func dotted(_ address: UInt32) -> String {
        [address & 0xff, address >> 8 & 0xff, address >> 16 & 0xff, address >> 24].map { String($0) }.joined(separator: ".")
    }

    /// `tcp6`'s address: four 32-bit words in hex, each in a little-endian host's order, as network-order bytes.
    static func ipv6Bytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        var bytes: [UInt8] = []
        for word in 0..<4 {
            var wordBytes: [UInt8] = []
            for index in 0..<4 {
                let start = word * 8 + index * 2
                guard let byte = UInt8(String(decoding: digits[start..<start + 2], as: UTF8.self), radix: 16) else { return nil }
                wordBytes.append(byte)
            }
            bytes += wordBytes.reversed()
        }
        return bytes
    }

    /// The PCI NICs below an interface, each with the interface that has the PCI `device`.
    func nics(below interface: String) -> [(PCIAddress, String)] {
        var result: [(PCIAddress, String)] = []
        var visited = Set<String>()
        func walk(_ name: String) {
            guard !name.isEmpty, !name.contains("/"), visited.insert(name).inserted, visited.count < 256 else { return }
            if let address = host.sysfsLink("class/net/" + name + "/device").flatMap(HostUsage.pciAncestor) {
                if !result.contains(where: { $0.0 == address && $0.1 == name }) { result.append((address, name)) }
                return
            }
            host.sysfsList("class/net/" + name + "/brif").forEach(walk)
            host.sysfsList("class/net/" + name).filter { $0.hasPrefix("lower_") }.map { String($0.dropFirst("lower_".count)) }.forEach(walk)
        }
        walk(interface)
        return result
    }

    // MARK: - Paths and text

    /// The PCI address nearest the end of a sysfs path: the controller of what lies below it.
    static func pciAncestor(_ path: String) -> PCIAddress? {
        for component in path.split(separator: "/").reversed() where component.filter({ $0 == ":" }).count == 2 {
            if let address = PCIAddress(String(component)) { return address }
        }
        return nil
    }

    static func lastComponent(_ path: String) -> String? {
        path.split(separator: "/").last.map(String.init)
    }

    /// The kernel's octal escapes in mountinfo and swaps (`\040` for a space).
    static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        let input = Array(text.utf8)
        var index = 0
        while index < input.count {
            if input[index] == UInt8(ascii: "\\"), index + 4 <= input.count,
               let value = UInt8(String(decoding: input[index + 1..<index + 4], as: UTF8.self), radix: 8) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(input[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
