/// The host could not be read as a command needs it (sysfs missing or unreadable).
/// The Machine domain's one error type.
struct MachineError: Error, CustomStringConvertible {
    let description: String
}
