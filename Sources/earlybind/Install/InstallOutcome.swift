import EarlybindCore

/// One change to a file, as install and uninstall report it.
struct FileChange {
    enum Action: String { case created, replaced, removed }
    let path: String
    let action: Action

    var json: JSON { .object([("path", .string(path)), ("action", .string(action.rawValue))]) }
}

/// What one install did, or would do (--dry-run).
struct InstallOutcome {
    /// The generator it installed into.
    let backend: Backend
    /// Whether it runs commands (the real root) or leaves them to the caller (a staged root).
    let runsCommands: Bool
    var changes: [FileChange] = []
    /// `initcall_blacklist=sysfb_init` is among the boot-loader flags install keeps.
    var framebufferOff = false
    /// What install has to say about the boot path: words that turn the IOMMU off, a
    /// boot VGA the boot takes while its firmware framebuffer stays.
    var notes: [String] = []
    /// The initramfs needs rebuilding and was not rebuilt.
    var rebuildNeeded = false
    /// The commands it ran, or would run.
    var commands: [BootCommand] = []
    var images: [ImageCheck] = []

    /// `install --json`.
    var json: JSON {
        .object([
            // A rebuild changes the boot as much as a file does: the caller reboots for either.
            ("changed", .bool(!changes.isEmpty || commands.contains(backend.rebuild))),
            ("changes", .array(changes.map(\.json))),
            ("rebuild_needed", .bool(rebuildNeeded)),
            ("commands", .array(commands.map { .string($0.commandLine) })),
            ("images", .array(images.map {
                .object([("kernel", .string($0.kernel)), ("ok", .bool($0.problems.isEmpty)),
                         ("problems", .array($0.problems.map(JSON.string)))])
            })),
            ("firmware_framebuffer_off", .bool(framebufferOff)),
            ("notes", .array(notes.map(JSON.string))),
        ])
    }
}

/// What uninstall did to one file of the manifest.
enum UndoResult {
    /// earlybind's file is gone: there was none before.
    case removed
    /// The file that was there before install is back, byte for byte.
    case restored
    /// The file already is the one from before install.
    case unchanged
    /// Neither earlybind's file nor one from before is there.
    case gone
    /// Changed by hand since install wrote it: left in place, and still in the manifest.
    case keptChanged

    var text: String {
        switch self {
        case .removed: return "removed"
        case .restored: return "restored"
        case .unchanged: return "unchanged"
        case .gone: return "gone"
        case .keptChanged: return "kept (changed since earlybind wrote it)"
        }
    }

    /// uninstall's line for `path`.
    func line(_ path: String) -> String { "  \(text.padding(13)) \(path)" }

    /// The change it reports; nil when the file on disk is as it was.
    var action: FileChange.Action? {
        switch self {
        case .removed: return .removed
        case .restored: return .replaced
        case .unchanged, .gone, .keptChanged: return nil
        }
    }
}
