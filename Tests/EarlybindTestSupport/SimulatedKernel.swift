import EarlybindCore
import Foundation

/// A fault to inject into one sysfs write.
public enum Fault: Equatable, Sendable {
    case errno(Int32)
    case shortWrite
    /// This write goes through; a later one on the same path fails.
    case none
}

/// File operations on a `FakeSysfs` that act like the kernel's PCI sysfs:
/// `driver_override`, `unbind` and `drivers_probe` writes move `driver` links.
/// Every write is recorded (path relative to the root, exact bytes), and any
/// write can be made to fail.
public final class SimulatedKernel: FileIO {
    public struct Write: Equatable, CustomStringConvertible {
        public let path: String
        public let text: String
        public var description: String { "\(path) <- \(text.debugDescription)" }

        public init(path: String, text: String) {
            self.path = path
            self.text = text
        }
    }

    public let tree: FakeSysfs
    private let posix = PosixIO()
    public private(set) var writes: [Write] = []
    /// Faults keyed by the written path relative to the root; each is used once.
    public var faults: [String: [Fault]] = [:]
    /// Devices that vfio-pci refuses to probe.
    public var vfioRefuses: Set<String> = []
    private var overrides: [String: String] = [:]

    public init(_ tree: FakeSysfs) {
        self.tree = tree
    }

    public func override(of address: String) -> String? { overrides[address] }

    public func read(_ path: String) throws(SystemError) -> [UInt8] { try posix.read(path) }
    public func readLink(_ path: String) throws(SystemError) -> [UInt8] { try posix.readLink(path) }
    public func list(_ path: String) throws(SystemError) -> [String] { try posix.list(path) }
    public func exists(_ path: String) -> Bool { posix.exists(path) }

    public func write(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        let relative = String(path.dropFirst(tree.root.count + 1))
        let text = String(decoding: bytes, as: UTF8.self)
        writes.append(Write(path: relative, text: text))
        if var pending = faults[relative], !pending.isEmpty {
            let fault = pending.removeFirst()
            faults[relative] = pending
            switch fault {
            case .errno(let code): throw SystemError(.write, path, errno: code)
            case .shortWrite: throw SystemError(.write, path, errno: 0, shortWrite: true)
            case .none: break
            }
        }
        guard posix.exists(path) else { throw SystemError(.write, path, errno: ENOENT) }
        let parts = relative.split(separator: "/").map(String.init)
        if parts.count == 5, parts[0] == "bus", parts[3] != "", parts[4] == "driver_override" {
            let value = text.trimmingCharacters(in: .newlines)
            overrides[parts[3]] = value.isEmpty ? nil : value
        } else if parts.count == 5, parts[2] == "drivers", parts[4] == "unbind" {
            guard tree.driver(of: text) == parts[3] else { throw SystemError(.write, path, errno: ENODEV) }
            try? tree.detach(text)
        } else if relative == "bus/pci/drivers_probe" {
            probe(text)
        }
    }

    /// The kernel's choice: the override if set (and nothing else), else the host driver.
    private func probe(_ address: String) {
        guard tree.driver(of: address) == nil, let device = tree.devices[address] else { return }
        let candidate = overrides[address] ?? device.hostDriver
        guard let driver = candidate, tree.isDriverRegistered(driver) else { return }
        if driver == "vfio-pci" && (vfioRefuses.contains(address) || device.group == nil) { return }
        try? tree.attach(address, to: driver)
    }
}

/// A module loader that records requests and answers from a table.
public struct FakeModuleLoader: ModuleLoader {
    public var results: [String: ModuleLoadResult]
    /// Each load as "name options".
    public private(set) var requested: [String] = []
    /// Called on each load, e.g. to register the driver in a fake tree.
    public var onLoad: (String) -> Void

    public init(results: [String: ModuleLoadResult] = [:], onLoad: @escaping (String) -> Void = { _ in }) {
        self.results = results
        self.onLoad = onLoad
    }

    public mutating func load(_ name: String, options: String) -> ModuleLoadResult {
        requested.append(name + " " + options)
        let result = results[name] ?? .inserted
        if result.isAvailable { onLoad(name) }
        return result
    }
}

/// Collects log lines.
public struct MemoryLog: LogSink {
    public private(set) var lines: [String] = []
    public init() {}
    public mutating func line(_ text: String) { lines.append(text) }
}
