import EarlybindCore

/// Which processes hold given device nodes open, read from `/proc/PID/fd` (another
/// user's processes only as root; for a staged root, its proc/).
struct OpenFiles<IO: FileIO> {
    struct Holder: Equatable {
        let pid: Int
        let command: String
        let path: String
    }

    let io: IO
    let procRoot: String

    /// Every process that has one of `paths` open, in pid order; one entry per process and path.
    func holders(of paths: Set<String>) -> [Holder] {
        guard !paths.isEmpty else { return [] }
        var found: [Holder] = []
        let pids = ((try? io.list(procRoot)) ?? []).compactMap { Int($0) }.sorted()
        for pid in pids {
            let fdDirectory = procRoot + "/\(pid)/fd"
            var seen: Set<String> = []
            for fd in (try? io.list(fdDirectory)) ?? [] {
                guard let target = try? io.readLink(fdDirectory + "/" + fd) else { continue }
                let path = String(decoding: target, as: UTF8.self)
                guard paths.contains(path), seen.insert(path).inserted else { continue }
                found.append(Holder(pid: pid, command: command(of: pid), path: path))
            }
        }
        return found
    }

    private func command(of pid: Int) -> String {
        (try? io.read(procRoot + "/\(pid)/comm")).map { String(decoding: $0, as: UTF8.self).trimmingNewlines() } ?? "?"
    }
}
