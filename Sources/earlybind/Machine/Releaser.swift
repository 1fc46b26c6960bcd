import EarlybindCore

/// `earlybind release`: devices on vfio-pci go back to their host drivers.
struct Releaser {
    struct Outcome {
        var lines: [String] = []
        /// Devices that stay on vfio-pci: held by a VM, or taken by vfio-pci again.
        var failed = 0
    }

    let host: Host

    func release(selectors: [String], dryRun: Bool = false) throws -> Outcome {
        try release(selectors: selectors, sysfs: host.sysfs, dryRun: dryRun)
    }

    func release<IO: FileIO>(selectors: [String], sysfs: Sysfs<IO>, dryRun: Bool = false) throws -> Outcome {
        var addresses: [PCIAddress]
        if selectors.isEmpty {
            let configured = Configured(host: host)
            addresses = configured.addresses.filter { sysfs.driver(of: $0) == .vfioPCI }
        } else {
            addresses = try Selection(selectors, inventory: Inventory(host), includeBootVGA: true).devices.map(\.address)
        }
        if addresses.isEmpty { return Outcome(lines: ["nothing to release: no selected device is on vfio-pci"]) }
        let holders = vfioHolders(of: addresses, sysfs: sysfs)
        let binder = Binder(sysfs: sysfs)
        var outcome = Outcome()
        for address in addresses {
            guard sysfs.driver(of: address) == .vfioPCI else {
                outcome.lines.append("\(address): not on vfio-pci, left alone")
                continue
            }
            // Unbinding a device a VM has open waits for the VM to let go, or takes it from under the guest.
            if let holder = holders[address] {
                outcome.lines.append("\(address): refused: \(holder.command) (pid \(holder.pid)) has its group open (\(holder.path)), "
                    + "as a running VM does: shut that VM down first")
                outcome.failed += 1
                continue
            }
            if dryRun {
                outcome.lines.append("would release \(address) from vfio-pci")
                continue
            }
            let (driver, errors) = binder.release(address)
            let notes = errors.isEmpty ? "" : " (" + errors.joined(separator: "; ") + ")"
            if driver == .vfioPCI {
                outcome.lines.append("\(address): still on vfio-pci: it took the device again" + notes)
                outcome.failed += 1
            } else {
                outcome.lines.append("\(address): released, " + (driver.map { "now on \($0)" } ?? "no driver took it") + notes)
            }
        }
        return outcome
    }

    /// The process holding each address's group open (its /dev/vfio node, or a member's), if any;
    /// as status does, never this machine's /proc against another machine's sysfs.
    private func vfioHolders<IO: FileIO>(of addresses: [PCIAddress], sysfs: Sysfs<IO>) -> [PCIAddress: OpenFiles<IO>.Holder] {
        guard host.procMatchesSysfs else { return [:] }
        let inventory = Inventory(host)
        var nodes: [PCIAddress: Set<String>] = [:]
        for address in addresses {
            guard let group = (try? sysfs.device(address))??.iommuGroup else { continue }
            nodes[address] = GroupViability.vfioNodes(ofGroup: group, members: inventory.members(of: group), host: host)
        }
        let holders = OpenFiles(io: sysfs.io, procRoot: host.procRoot).holders(of: nodes.values.reduce(into: []) { $0.formUnion($1) })
        return nodes.compactMapValues { held in holders.first { held.contains($0.path) } }
    }
}
