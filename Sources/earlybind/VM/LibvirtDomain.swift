import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

struct LibvirtError: Error, CustomStringConvertible {
    let description: String
}

/// A domain's persistent definition, read from and defined back to libvirt with its own
/// tool, virsh: the definition a VM starts from, with its secrets (a plain dump of a
/// running VM is its live state, without VNC or SPICE passwords).
struct LibvirtDomain {
    let name: String
    let uri: String
    private let virsh: String

    init(_ name: String, uri: String) throws(LibvirtError) {
        if let host = LibvirtDomain.remoteHost(uri) {
            throw LibvirtError(description: "\(uri) is libvirt on \(host), but the devices are this machine's: run earlybind vm-xml on \(host)")
        }
        guard let virsh = ExternalCommand.find("virsh") else {
            throw LibvirtError(description: "virsh is not installed (apt install libvirt-clients); nothing was changed")
        }
        self.name = name
        self.uri = uri
        self.virsh = virsh
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try ExternalCommand.capture([virsh, "--quiet", "--connect", uri] + arguments)
    }

    /// The host part of a libvirt URI (`qemu+ssh://root@box/system`), nil for this machine.
    static func remoteHost(_ uri: String) -> String? {
        guard let scheme = uri.firstRange(of: "://") else { return nil }
        let authority = uri[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" }
        let host = authority.split(separator: "@").last.map(String.init) ?? ""
        return host.isEmpty || host == "localhost" ? nil : host
    }

    /// The definition the VM starts from. A transient VM has none: libvirt would hand out
    /// its live state, and defining that would make the VM persistent behind its owner's back.
    func persistentDefinition() throws -> String {
        let result = try run(["dumpxml", "--inactive", "--security-info", "--", name])
        guard result.status == 0 else {
            throw LibvirtError(description: "virsh could not read VM '\(name)' from \(uri) (its message is above); nothing was changed")
        }
        let persistent = try run(["list", "--all", "--persistent", "--name"])
        guard persistent.status == 0, persistent.output.split(separator: "\n").contains(where: { $0 == name }) else {
            throw LibvirtError(description: "VM '\(name)' is transient: libvirt keeps no definition of it to change; nothing was changed")
        }
        return result.output
    }

    /// Defines the file as the domain's new persistent definition, checked against libvirt's schema first.
    func define(_ file: String) throws {
        let result = try run(["define", "--validate", file])
        guard result.status == 0 else {
            throw LibvirtError(description: "libvirt refused the merged definition of '\(name)' (its message is above); the VM is unchanged")
        }
    }

    /// Whether the VM runs now: it keeps its old devices until it is shut down and started
    /// again. `domid` prints "-" for a VM that is off, in every locale (domstate's words are translated).
    func isActive() -> Bool {
        guard let result = try? run(["domid", "--", name]), result.status == 0 else { return false }
        return Int(result.output.split(separator: "\n").first ?? "") != nil
    }
}

/// Where `vm-xml --apply` keeps each definition it replaced: readable by root alone, for
/// they hold the VM's secrets. `apt purge` removes them.
struct DefinitionBackups {
    static let directory = "/var/lib/earlybind/vm"

    let root: InstallRoot

    var path: String { root.resolve(DefinitionBackups.directory) }

    /// Saves `text` as NAME.YYYYMMDDTHHMMSSZ.xml (-2, -3… after it when that exists) and
    /// returns the path. Written beside it first and linked into place: a name that exists,
    /// from a run at the same second, is never replaced.
    func save(_ text: String, domain: String) throws -> String {
        let staged = try stage(text, as: "backup")
        defer { unlink(staged) }
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, buffer.count, "%Y%m%dT%H%M%SZ", &parts)
        let stamp = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let safeName = String(domain.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
        for number in 1...100 {
            let candidate = path + "/" + safeName + "." + stamp + (number == 1 ? "" : "-" + String(number)) + ".xml"
            if link(staged, candidate) == 0 { return candidate }
            if errno != EEXIST { throw InstallError.couldNot("save", candidate, errno: errno) }
        }
        throw InstallError("could not save the definition of '\(domain)' in \(path): 100 names taken")
    }

    /// A file in the backups' directory (mode 0600) for a definition on its way to libvirt
    /// or into a backup; named for this process, so runs side by side do not meet.
    func stage(_ text: String, as purpose: String) throws -> String {
        try prepareDirectory()
        let file = path + "/." + String(getpid()) + "." + purpose + ".xml"
        try FileWriter().write(file, Array(text.utf8), mode: 0o600, under: root.path)
        return file
    }

    private func prepareDirectory() throws {
        try FileWriter().makeDirectories(path, under: root.path)
        // Made 0755 like its parents: the backups hold secrets.
        if chmod(path, 0o700) != 0 { throw InstallError.couldNot("protect", path, errno: errno) }
    }
}
