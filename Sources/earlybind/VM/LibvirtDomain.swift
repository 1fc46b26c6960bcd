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

    func persistentDefinition() throws -> String {
        let result = try run(["dumpxml", "--inactive", "--security-info", "--", name])
        guard result.status == 0 else {
            throw LibvirtError(description: "virsh could not read VM '\(name)' from \(uri) (its message is above); nothing was changed")
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

    /// Whether the VM runs now: it keeps its old devices until it is shut down and started again.
    func isActive() -> Bool {
        guard let result = try? run(["domstate", "--", name]), result.status == 0 else { return false }
        return result.output.split(separator: "\n").first.map { $0 != "shut off" } ?? false
    }
}

/// Where `vm-xml --apply` keeps each definition it replaced: readable by root alone, for
/// they hold the VM's secrets. `apt purge` removes them.
struct DefinitionBackups {
    static let directory = "/var/lib/earlybind/vm"

    let root: InstallRoot

    var path: String { root.resolve(DefinitionBackups.directory) }

    /// Saves `text` as NAME.YYYYMMDDTHHMMSSZ.xml (a number after it when that exists) and returns the path.
    func save(_ text: String, domain: String) throws -> String {
        try prepareDirectory()
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, buffer.count, "%Y%m%dT%H%M%SZ", &parts)
        let stamp = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let safeName = String(domain.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
        var candidate = path + "/" + safeName + "." + stamp + ".xml"
        var number = 2
        while access(candidate, F_OK) == 0 {
            candidate = path + "/" + safeName + "." + stamp + "-" + String(number) + ".xml"
            number += 1
        }
        try FileWriter().write(candidate, Array(text.utf8), mode: 0o600, under: root.path)
        return candidate
    }

    /// A file beside the backups for the definition on its way to libvirt.
    func staging(_ text: String) throws -> String {
        try prepareDirectory()
        let file = path + "/." + String(getpid()) + ".new.xml"
        try FileWriter().write(file, Array(text.utf8), mode: 0o600, under: root.path)
        return file
    }

    private func prepareDirectory() throws {
        try FileWriter().makeDirectories(path, under: root.path)
        // Made 0755 like its parents: the backups hold secrets.
        if chmod(path, 0o700) != 0 { throw InstallError.couldNot("protect", path, errno: errno) }
    }
}
