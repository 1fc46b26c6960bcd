import EarlybindCore

/// Merges the passthrough into a libvirt domain definition: a hostdev per function, each
/// with the vfio driver and a guest address of its own choosing (without one libvirt picks
/// a bus from the host's hardware, so the same definition would differ between hosts), and
/// the Hyper-V and KVM features, kept with whatever else the definition holds.
struct DomainMerge {
    /// Keeps Nvidia's pre-R465 Windows drivers from stopping with code 43.
    static let vendorID = "earlybind001"
    static let spinlockRetries = "8191"

    let cards: [PassthroughCard]
    /// `<kvm><hidden/>` and the Hyper-V vendor_id, for guest drivers older than R465.
    let hide: Bool

    /// Edits `domain` in place and returns what changed, one line each; empty when the
    /// definition already has everything.
    func apply(to domain: XMLElement) throws(XMLError) -> [String] {
        guard domain.name == "domain" else {
            throw XMLError(description: "not a libvirt domain definition: its root element is <\(domain.name)>, not <domain>")
        }
        var changes: [String] = []
        let devices = domain.child("devices")
        var layout = GuestLayout(domain: domain, devices: devices)
        let existing = devices.elements("hostdev").filter { $0["mode"] == "subsystem" && $0["type"] == "pci" }
        var lastHostdev = existing.last
        for card in cards {
            let present = card.functions.map { function in existing.first { DomainMerge.source(of: $0) == function.address } }
            let slot: (bus: UInt32, slot: UInt32)
            if let kept = DomainMerge.keptSlot(card, present) {
                slot = kept
            } else {
                // New, or split across slots (virt-manager adds each function on a port of its
                // own), or placed at other functions: the whole card moves to a slot of its own.
                let made = try layout.newSlot()
                slot = (made.bus, made.slot)
                if let port = made.port { changes.append("add a pcie-root-port (controller index \(port)) for \(card.slotText)") }
                for (index, hostdev) in present.enumerated() {
                    guard let hostdev, let old = hostdev.first("address") else { continue }
                    let function = card.guestFunction(of: card.functions[index].address)
                    let moved = DomainMerge.guestAddress(slot, function: function, multifunction: card.functions.count > 1 && function == 0)
                    hostdev.children = hostdev.children.map { if case .element(let element) = $0, element === old { return .element(moved) } else { return $0 } }
                    changes.append("move hostdev \(card.functions[index].address) to guest address \(DomainMerge.guestText(slot, function))")
                }
            }
            for (index, function) in card.functions.enumerated() {
                let guestFunction = card.guestFunction(of: function.address)
                let multifunction = card.functions.count > 1 && guestFunction == 0
                if let hostdev = present[index] {
                    changes += DomainMerge.complete(hostdev, function: function.address, guest: slot,
                                                    guestFunction: guestFunction, multifunction: multifunction)
                    continue
                }
                let hostdev = DomainMerge.hostdev(function.address, guest: slot, guestFunction: guestFunction, multifunction: multifunction)
                devices.insert(hostdev, after: lastHostdev)
                lastHostdev = hostdev
                changes.append("add hostdev \(function.address) at guest address \(DomainMerge.guestText(slot, guestFunction))")
            }
        }
        changes += features(of: domain)
        return changes
    }

    /// `<features>`: Hyper-V enlightenments always (they help Windows), the hiding only with `hide`.
    private func features(of domain: XMLElement) -> [String] {
        var changes: [String] = []
        let features: XMLElement
        if let existing = domain.first("features") {
            features = existing
        } else {
            features = XMLElement("features")
            domain.insert(features, after: domain.first("os"))
        }
        let hyperv: XMLElement
        if let existing = features.first("hyperv") {
            hyperv = existing
        } else {
            hyperv = XMLElement("hyperv", [("mode", "custom")])
            features.append(hyperv)
        }
        // In passthrough mode QEMU hands the guest every enlightenment the host has.
        if hyperv["mode"] != "passthrough" {
            for name in ["relaxed", "vapic"] {
                let element = hyperv.child(name)
                if element["state"] != "on" {
                    element["state"] = "on"
                    changes.append("hyperv: \(name) on")
                }
            }
            let spinlocks = hyperv.child("spinlocks")
            if spinlocks["state"] != "on" || spinlocks["retries"] != DomainMerge.spinlockRetries {
                spinlocks["state"] = "on"
                spinlocks["retries"] = DomainMerge.spinlockRetries
                changes.append("hyperv: spinlocks on, retries \(DomainMerge.spinlockRetries)")
            }
            if hide {
                let vendor = hyperv.child("vendor_id")
                // Any vendor_id the admin chose does the job.
                if vendor["state"] != "on" || (vendor["value"] ?? "").isEmpty {
                    vendor["state"] = "on"
                    vendor["value"] = DomainMerge.vendorID
                    changes.append("hyperv: vendor_id '\(DomainMerge.vendorID)'")
                }
            }
        }
        if hide {
            let hidden = features.child("kvm").child("hidden")
            if hidden["state"] != "on" {
                hidden["state"] = "on"
                changes.append("kvm: hidden on")
            }
        }
        return changes
    }

    static func hostdev(_ address: PCIAddress, guest: (bus: UInt32, slot: UInt32), guestFunction: UInt8, multifunction: Bool) -> XMLElement {
        XMLElement("hostdev", [("mode", "subsystem"), ("type", "pci"), ("managed", "yes")], children: [
            XMLElement("driver", [("name", "vfio")]),
            XMLElement("source", children: [XMLElement("address", address.libvirtAttributes)]),
            guestAddress(guest, function: guestFunction, multifunction: multifunction),
        ])
    }

    static func guestAddress(_ guest: (bus: UInt32, slot: UInt32), function: UInt8, multifunction: Bool) -> XMLElement {
        XMLElement("address", [("type", "pci"), ("domain", "0x0000"), ("bus", "0x" + hexString(guest.bus, width: 2)),
                               ("slot", "0x" + hexString(guest.slot, width: 2)), ("function", "0x" + hexString(UInt32(function), width: 1))]
                   + (multifunction ? [("multifunction", "on")] : []))
    }

    /// The guest slot the card's hostdevs already share, each at the function this layout
    /// gives it; nil when the card must be laid out anew.
    private static func keptSlot(_ card: PassthroughCard, _ present: [XMLElement?]) -> (bus: UInt32, slot: UInt32)? {
        var slot: (bus: UInt32, slot: UInt32)?
        for (index, hostdev) in present.enumerated() {
            guard let hostdev else { continue }
            guard let address = hostdev.first("address"), address["type"] == "pci",
                  let bus = number(address["bus"]), let device = number(address["slot"]), let function = number(address["function"]),
                  function == UInt32(card.guestFunction(of: card.functions[index].address)) else { return nil }
            if let slot, slot != (bus, device) { return nil }
            slot = (bus, device)
        }
        return slot
    }

    static func guestText(_ slot: (bus: UInt32, slot: UInt32), _ function: UInt8) -> String {
        "0000:" + hexString(slot.bus, width: 2) + ":" + hexString(slot.slot, width: 2) + "." + String(function)
    }

    /// Brings an existing hostdev up to the vfio driver and a guest address; an address it has stays.
    private static func complete(_ hostdev: XMLElement, function: PCIAddress, guest: (bus: UInt32, slot: UInt32),
                                 guestFunction: UInt8, multifunction: Bool) -> [String] {
        var changes: [String] = []
        let driver = hostdev.first("driver") ?? {
            let made = XMLElement("driver")
            hostdev.children.insert(.element(made), at: 0)
            return made
        }()
        if driver["name"] != "vfio" {
            driver["name"] = "vfio"
            changes.append("hostdev \(function): driver vfio")
        }
        if let address = hostdev.first("address") {
            if multifunction && address["multifunction"] != "on" {
                address["multifunction"] = "on"
                changes.append("hostdev \(function): multifunction on")
            }
        } else {
            hostdev.append(guestAddress(guest, function: guestFunction, multifunction: multifunction))
            changes.append("hostdev \(function): guest address \(guestText(guest, guestFunction))")
        }
        return changes
    }

    /// The host address a hostdev passes.
    static func source(of hostdev: XMLElement) -> PCIAddress? {
        guard let address = hostdev.first("source")?.first("address"),
              let bus = number(address["bus"]), let slot = number(address["slot"]), let function = number(address["function"]),
              bus <= 0xFF, slot <= 0x1F, function <= 7 else { return nil }
        return PCIAddress(domain: number(address["domain"]) ?? 0, bus: UInt8(bus), device: UInt8(slot), function: UInt8(function))
    }

    /// libvirt's numbers: "0x1f" or "31".
    static func number(_ text: String?) -> UInt32? {
        guard let text else { return nil }
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt32(text.dropFirst(2), radix: 16) }
        return UInt32(text)
    }
}

/// Where new cards go in the guest: q35 (PCI Express) gives each a pcie-root-port of its
/// own at a controller index no other controller has; i440fx a free slot of bus 0.
private struct GuestLayout {
    let devices: XMLElement
    let isPCIExpress: Bool
    private var nextIndex: UInt32
    private var usedRootSlots: Set<UInt32>

    init(domain: XMLElement, devices: XMLElement) {
        self.devices = devices
        let machine = domain.first("os")?.first("type")?["machine"] ?? ""
        isPCIExpress = machine.contains("q35") || machine.hasPrefix("virt")
        let indices = devices.elements("controller").filter { $0["type"] == "pci" }.compactMap { DomainMerge.number($0["index"]) }
        nextIndex = (indices.max() ?? 0) + 1
        var slots: Set<UInt32> = []
        func collect(_ element: XMLElement) {
            if element.name == "address", element["type"] == "pci", DomainMerge.number(element["bus"]) == 0,
               let slot = DomainMerge.number(element["slot"]) { slots.insert(slot) }
            element.elements.forEach(collect)
        }
        collect(devices)
        usedRootSlots = slots
    }

    /// A guest bus and slot for a new card, and the root port index when one was added.
    mutating func newSlot() throws(XMLError) -> (bus: UInt32, slot: UInt32, port: UInt32?) {
        if isPCIExpress {
            let index = nextIndex
            nextIndex += 1
            devices.insert(XMLElement("controller", [("type", "pci"), ("index", String(index)), ("model", "pcie-root-port")]),
                           after: devices.elements("controller").last)
            return (index, 0, index)
        }
        // From slot 0x10 up, clear of the slots libvirt gives its own devices first.
        guard let slot = (Array(0x10...0x1F) + Array(0x03...0x0F)).map(UInt32.init).first(where: { !usedRootSlots.contains($0) }) else {
            throw XMLError(description: "bus 0 of this i440fx VM has no free slot for another card: move it to q35")
        }
        usedRootSlots.insert(slot)
        return (0, slot, nil)
    }
}
