/// How binding one device ended.
public enum BindOutcome: Sendable {
    case bound(previous: DriverName?)
    case alreadyBound
    /// Binding failed; the device was given back and is now on `nowOn` (nil: no driver took it).
    case failed(cause: String, nowOn: DriverName?)
}

/// Hands devices to vfio-pci through sysfs, one at a time, and checks the result.
public struct Binder<IO: FileIO> {
    public let sysfs: Sysfs<IO>

    public init(sysfs: Sysfs<IO>) {
        self.sysfs = sysfs
    }

    /// Override → unbind → probe → verify the `driver` link. On any failure the
    /// override is cleared and the device probed again, so it never stays driverless
    /// because of us.
    public func bind(_ address: PCIAddress) -> BindOutcome {
        let previous = sysfs.driver(of: address)
        if previous == .vfioPCI { return .alreadyBound }
        do {
            try sysfs.setDriverOverride(address, to: .vfioPCI)
        } catch {
            return .failed(cause: error.description, nowOn: sysfs.driver(of: address))
        }
        if let previous {
            do {
                try sysfs.unbind(address, from: previous)
            } catch {
                return giveBack(address, cause: error.description)
            }
        }
        var probeError: SystemError? = nil
        do { try sysfs.probe(address) } catch { probeError = error }
        let now = sysfs.driver(of: address)
        if now == .vfioPCI { return .bound(previous: previous) }
        let cause = probeError?.description ?? "vfio-pci did not take it"
        return giveBack(address, cause: cause)
    }

    /// Gives a device on vfio-pci back: clears the override, unbinds it, and probes
    /// so its normal driver takes it. Returns the driver it is on afterwards.
    public func release(_ address: PCIAddress) -> (driver: DriverName?, errors: [String]) {
        var errors: [String] = []
        do { try sysfs.clearDriverOverride(address) } catch { errors.append(error.description) }
        if sysfs.driver(of: address) == .vfioPCI {
            do { try sysfs.unbind(address, from: .vfioPCI) } catch { errors.append(error.description) }
        }
        if sysfs.driver(of: address) == nil {
            do { try sysfs.probe(address) } catch { errors.append(error.description) }
        }
        return (sysfs.driver(of: address), errors)
    }

    /// A failed bind ends in a release, with every failure of the release added to the cause.
    private func giveBack(_ address: PCIAddress, cause: String) -> BindOutcome {
        let (driver, errors) = release(address)
        return .failed(cause: ([cause] + errors).joined(separator: "; "), nowOn: driver)
    }
}
