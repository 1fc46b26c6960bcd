/// A map keyed by PCI address, kept sorted. The boot binary avoids `Dictionary`,
/// whose hash tables would pull libm and random seeding into it; the few dozen
/// devices of a machine make a binary search just as fast.
struct AddressMap<Value> {
    private(set) var keys: [PCIAddress] = []
    private var values: [Value] = []

    subscript(address: PCIAddress) -> Value? {
        get {
            let index = position(of: address)
            return index < keys.count && keys[index] == address ? values[index] : nil
        }
        set {
            let index = position(of: address)
            let present = index < keys.count && keys[index] == address
            switch (present, newValue) {
            case (true, .some(let value)): values[index] = value
            case (true, .none): keys.remove(at: index); values.remove(at: index)
            case (false, .some(let value)): keys.insert(address, at: index); values.insert(value, at: index)
            case (false, .none): break
            }
        }
    }

    var sortedValues: [Value] { values }

    /// The first index whose key is not below `address`.
    private func position(of address: PCIAddress) -> Int {
        var low = 0, high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if keys[middle] < address { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
