import EarlybindCore

/// `earlybind release`: devices on vfio-pci go back to their host drivers.
struct Releaser {
    let host: Host

    func release(selectors: [String]) throws -> [String] {
        try release(selectors: selectors, sysfs: host.sysfs)
    }

    func release<IO: FileIO>(selectors: [String], sysfs: Sysfs<IO>) throws -> [String] {
        var addresses: [PCIAddress]
        if selectors.isEmpty {
            let configured = Configured(host: host)
            addresses = configured.addresses.filter { sysfs.driver(of: $0) == .vfioPCI }
        } else {
            addresses = try Selection(selectors, inventory: Inventory(host), includeBootVGA: true).devices.map(\.address)
        }
        if addresses.isEmpty { return ["nothing to release: no selected device is on vfio-pci"] }
        let binder = Binder(sysfs: sysfs)
        return addresses.map { address in
            guard sysfs.driver(of: address) == .vfioPCI else { return "\(address): not on vfio-pci, left alone" }
            let (driver, errors) = binder.release(address)
            let now = driver.map { "now on \($0)" } ?? "no driver took it"
            return "\(address): released, \(now)" + (errors.isEmpty ? "" : " (" + errors.joined(separator: "; ") + ")")
        }
    }
}
