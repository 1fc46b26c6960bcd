import EarlybindCore

/// Real file operations that remember what they read, so the inventory and the bind
/// plan of one command read each sysfs file once. Any write forgets everything: what
/// is read after it is read again.
final class CachingIO: FileIO {
    private let posix = PosixIO()
    private var files: [String: Result<[UInt8], SystemError>] = [:]
    private var links: [String: Result<[UInt8], SystemError>] = [:]
    private var listings: [String: Result<[String], SystemError>] = [:]

    func read(_ path: String) throws(SystemError) -> [UInt8] {
        try remembered(path, in: &files) { () throws(SystemError) in try posix.read(path) }
    }

    func readLink(_ path: String) throws(SystemError) -> [UInt8] {
        try remembered(path, in: &links) { () throws(SystemError) in try posix.readLink(path) }
    }

    func list(_ path: String) throws(SystemError) -> [String] {
        try remembered(path, in: &listings) { () throws(SystemError) in try posix.list(path) }
    }

    func exists(_ path: String) -> Bool { posix.exists(path) }

    func write(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        files.removeAll()
        links.removeAll()
        listings.removeAll()
        try posix.write(path, bytes)
    }

    private func remembered<Value>(
        _ path: String, in cache: inout [String: Result<Value, SystemError>], _ load: () throws(SystemError) -> Value
    ) throws(SystemError) -> Value {
        if let known = cache[path] { return try known.get() }
        let result: Result<Value, SystemError>
        do { result = .success(try load()) } catch { result = .failure(error) }
        cache[path] = result
        return try result.get()
    }
}
