import EarlybindCore

/// Proxmox VE's `hostpciN:` entries: one per card, all its functions in one entry.
struct ProxmoxEntries {
    let cards: [PassthroughCard]
    /// `x-vga=1` on the first VGA card: the GPU is the guest's main display (legacy VGA has one owner).
    let primary: Bool
    /// Every function the host has in a slot, to tell whether a card is the whole slot.
    let functionsInSlot: (PCIAddress) -> Int

    /// `0000:03:00,pcie=1`: the slot form passes every function as one multifunction device.
    func entry(_ card: PassthroughCard, pcie: Bool) -> String {
        let host = card.functions.count > 1 && card.functions.count == functionsInSlot(card.slotAddress)
            ? card.slotText : card.functions.map(\.address.description).joined(separator: ";")
        let vga = primary && cards.first(where: \.isVGA)?.slotAddress == card.slotAddress
        return host + (pcie ? ",pcie=1" : "") + (vga ? ",x-vga=1" : "")
    }

    /// What a VM's config already has: the hostpci indices in use, the host devices they
    /// pass, and the machine type. Snapshot sections (from the first "[") are not the VM's.
    struct VMConfig {
        var usedIndices: Set<Int> = []
        var passed: Set<String> = []
        var machine: String?

        init(_ text: String) {
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("[") { break }
                guard let colon = line.firstIndex(of: ":") else { continue }
                let key = line[..<colon], value = line[line.index(after: colon)...].drop { $0 == " " }
                if key == "machine" { machine = String(value) }
                guard key.hasPrefix("hostpci"), let index = Int(key.dropFirst("hostpci".count)) else { continue }
                usedIndices.insert(index)
                var host = value.split(separator: ",").first.map(String.init) ?? ""
                if host.hasPrefix("host=") { host = String(host.dropFirst(5)) }
                for part in host.split(separator: ";") {
                    // Proxmox accepts the domain left out: 03:00 is 0000:03:00.
                    passed.insert(part.filter { $0 != " " }.count <= 7 ? "0000:" + part : String(part))
                }
            }
        }

        var isQ35: Bool { machine?.contains("q35") == true }

        func passes(_ card: PassthroughCard) -> Bool {
            passed.contains(card.slotText) || card.functions.allSatisfy { passed.contains($0.address.description) }
        }
    }
}

/// QEMU's own arguments: each card on a pcie-root-port of its own (q35), its functions
/// at one slot there, function 0 multifunction.
struct QEMUArguments {
    let cards: [PassthroughCard]
    let primary: Bool

    /// One `-device …` a line, in order: a root port, then its card's functions.
    var devices: [String] {
        var lines: [String] = []
        for (index, card) in cards.enumerated() {
            let port = "earlybind.\(index)"
            // Each root port needs a chassis of its own; from 128, clear of the small numbers libvirt uses.
            lines.append("-device pcie-root-port,id=\(port),chassis=\(128 + index),bus=pcie.0")
            for (position, function) in card.functions.enumerated() {
                var line = "-device vfio-pci,host=\(function.address),bus=\(port),addr=00.\(position)"
                if position == 0 && card.functions.count > 1 { line += ",multifunction=on" }
                if primary && function.address == cards.lazy.flatMap(\.functions).first(where: \.isVGA)?.address { line += ",x-vga=on" }
                lines.append(line)
            }
        }
        return lines
    }
}
