import ArgumentParser
import EarlybindCore

/// Command-line selectors (`03:00.0`, `0000:03:00.0`, `10de:1b02`) resolved against the machine.
struct Selection {
    /// Devices the selectors name directly.
    var named: [PCIDevice] = []
    /// The named devices with every function of their slot and every endpoint of their group.
    var devices: [PCIDevice] = []

    /// Parses one selector, or throws a usage error naming it.
    static func parse(_ text: String) throws -> Selector {
        if let id = PCIID(text) { return .id(id) }
        if let address = PCIAddress(text) { return .address(address, expected: nil) }
        throw ValidationError("'\(text)' is neither a PCI address ([DOMAIN:]BB:DD.F, e.g. 03:00.0) nor an ID (vvvv:dddd, e.g. 10de:1b02)")
    }

    /// Resolves selectors; an ID never names the boot VGA unless `includeBootVGA`.
    init(_ texts: [String], inventory: Inventory, includeBootVGA: Bool) throws {
        for text in texts {
            switch try Selection.parse(text) {
            case .address(let address, _):
                guard let device = inventory.device(address) else {
                    throw ValidationError("no PCI device at \(address) (see 'earlybind groups' or 'lspci -D')")
                }
                if device.isBridge {
                    throw ValidationError("\(address) is a PCI bridge: bridges stay with the host; name the devices behind it")
                }
                if device.isIdleHostBridge {
                    throw ValidationError("\(address) is a host bridge without a driver: it stays with the host; name the devices of its group")
                }
                named.append(device)
            case .id(let id):
                let matches = inventory.devices.filter { $0.id == id && !$0.staysWithHost && (includeBootVGA || !$0.isBootVGA) }
                guard !matches.isEmpty else {
                    throw ValidationError("no PCI device has ID \(id)" + (inventory.devices.contains { $0.id == id } ? " except the boot VGA (use --force to take it)" : ""))
                }
                named += matches
            }
        }
        for device in named {
            for mate in inventory.passedTogether(with: device) where !devices.contains(where: { $0.address == mate.address }) {
                devices.append(mate)
            }
        }
        devices.sort { $0.address < $1.address }
    }
}
