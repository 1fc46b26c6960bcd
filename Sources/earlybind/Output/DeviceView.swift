import EarlybindCore

/// One device as the commands show it, in text and JSON.
struct DeviceView {
    let device: PCIDevice
    let className: String
    let product: String
    var configured: Bool
    /// A stable snake_case code when something keeps the device from the VM, with a sentence.
    var problem: (code: String, message: String)?
    /// Keys only one command shows (status: the device's reset and firmware framebuffer), after the common ones.
    var extraJSON: [(String, JSON)] = []

    init(_ device: PCIDevice, names: PCINames, configured: Bool, problem: (code: String, message: String)? = nil) {
        self.device = device
        className = names.class(device.classCode) ?? "Class " + classHex(device.classCode).prefix(4)
        product = names.product(device.id)
        self.configured = configured
        self.problem = problem
    }

    var json: JSON {
        .object([
            ("address", .string(device.address.description)),
            ("vendor", .string(hex4(device.id.vendor))),
            ("device", .string(hex4(device.id.device))),
            ("class", .string(classHex(device.classCode))),
            ("class_name", .string(className)),
            ("product", .string(product)),
            ("iommu_group", .optional(device.iommuGroup)),
            ("driver", .optional(device.driver?.description)),
            ("boot_vga", .bool(device.isBootVGA)),
            ("bridge", .bool(device.isBridge)),
            ("configured", .bool(configured)),
            ("problem", .optional(problem?.code)),
            ("message", .optional(problem?.message)),
        ] + extraJSON)
    }

    /// `0000:03:00.0 [10de:1b02] VGA compatible controller   nouveau    marks`, then the product
    /// on a second line, both within 80 columns.
    func lines(indent: String = "  ") -> [String] {
        var marks: [String] = []
        if device.isBootVGA { marks.append("boot VGA") }
        if device.isBridge { marks.append("bridge") }
        if configured { marks.append("configured") }
        let driver = device.driver?.description ?? "-"
        let head = indent + device.address.description + " [" + device.id.description + "] "
            + className.fitted(26) + " " + driver.fitted(14) + " " + marks.joined(separator: ", ")
        let productLine = indent + String(repeating: " ", count: 13) + product
        return [head.truncated(80).trimmedRight(), productLine.truncated(80)]
    }
}
