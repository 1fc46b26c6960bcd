import EarlybindCore

/// One device as the commands show it, in text and JSON.
struct DeviceView {
    let device: PCIDevice
    let className: String
    let product: String
    var configured: Bool
    /// A stable snake_case code when something keeps the device from the VM, with a sentence.
    var problem: (code: String, message: String)?
    /// The config names it, but no device is at its address: nothing of it can be read.
    var absent = false
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
            ("vendor", absent ? .null : .string(hex4(device.id.vendor))),
            ("device", absent ? .null : .string(hex4(device.id.device))),
            ("class", absent ? .null : .string(classHex(device.classCode))),
            ("class_name", absent ? .null : .string(className)),
            ("product", absent ? .null : .string(product)),
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
    /// on a second line: whole, or cut to `width` (a terminal's). The marks are never cut:
    /// the class name gives way first.
    func lines(indent: String = "  ", width: Int? = OutputWidth.columns) -> [String] {
        var marks: [String] = []
        if device.isBootVGA { marks.append("boot VGA") }
        if device.isBridge { marks.append("bridge") }
        if configured { marks.append("configured") }
        let markText = marks.joined(separator: ", ")
        if absent { return [indent + device.address.description + " (no device at this address)  " + markText] }
        let driver = device.driver?.description ?? "-"
        let lead = indent + device.address.description + " [" + device.id.description + "] "
        let productLine = indent + String(repeating: " ", count: 13) + product
        guard let width else {
            return [(lead + className.padding(26) + " " + driver.padding(14) + " " + markText).trimmedRight(), productLine]
        }
        // Room for "configured" in every row keeps the columns aligned; longer marks take more.
        let classWidth = min(26, max(8, width - lead.count - 16 - max(10, markText.count)))
        let head = lead + className.fitted(classWidth) + " " + driver.fitted(14) + " " + markText
        return [head.truncated(width).trimmedRight(), productLine.truncated(width)]
    }
}
