import EarlybindCore

/// The functions of one host slot handed to a VM together. A guest sees them at one slot
/// of its own, function 0 marked multifunction, as they sit on the real card; every
/// output format (libvirt, Proxmox, QEMU) lays them out from this.
struct PassthroughCard {
    /// Sorted by function; at least one.
    let functions: [PCIDevice]

    var slotAddress: PCIAddress { functions[0].address }

    /// "0000:03:00", the slot without a function.
    var slotText: String { String(slotAddress.description.dropLast(2)) }

    /// A VGA controller (class 0300): the only kind QEMU's x-vga takes.
    var isVGA: Bool { functions.contains(where: \.isVGA) }

    /// The guest's function number for each host function: in order from 0, so a card
    /// whose function 0 stays with the host still starts at guest function 0.
    func guestFunction(of address: PCIAddress) -> UInt8 {
        UInt8(functions.firstIndex { $0.address == address } ?? 0)
    }

    /// The devices grouped by host slot, in address order.
    static func cards(_ devices: [PCIDevice]) -> [PassthroughCard] {
        var cards: [PassthroughCard] = []
        for device in devices.sorted(by: { $0.address < $1.address }) {
            if let last = cards.last, last.slotAddress.sameSlot(as: device.address) {
                cards[cards.count - 1] = PassthroughCard(functions: last.functions + [device])
            } else {
                cards.append(PassthroughCard(functions: [device]))
            }
        }
        return cards
    }
}

extension PCIDevice {
    var isVGA: Bool { classCode >> 8 == 0x0300 }
}

extension PCIAddress {
    /// libvirt's `<address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>` attributes.
    var libvirtAttributes: [(String, String)] {
        [("domain", "0x" + hexString(domain, width: 4)), ("bus", "0x" + hexString(UInt32(bus), width: 2)),
         ("slot", "0x" + hexString(UInt32(device), width: 2)), ("function", "0x" + hexString(UInt32(function), width: 1))]
    }
}
