import EarlybindCore

/// `status --format prometheus`: the node_exporter textfile format, one gauge family per
/// fact a monitor alerts on.
struct PrometheusMetrics {
    let report: StatusReport

    var text: String {
        var lines: [String] = []
        func family(_ name: String, _ help: String, _ samples: [(labels: [(String, String)], value: Int)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) gauge")
            for sample in samples {
                let labels = sample.labels.isEmpty ? ""
                    : "{" + sample.labels.map { "\($0.0)=\"\(PrometheusMetrics.escaped($0.1))\"" }.joined(separator: ",") + "}"
                lines.append(name + labels + " \(sample.value)")
            }
        }
        family("earlybind_ready", "1 when every configured device can go to a VM (earlybind status exits 0).",
               [([], report.ready ? 1 : 0)])
        family("earlybind_configured_devices", "Devices the config selects, with their IOMMU groups.",
               [([], report.devices.count)])
        family("earlybind_device_on_vfio", "1 when the configured device is bound to vfio-pci.",
               report.devices.map { view in
                   ([("address", view.device.address.description), ("id", view.absent ? "" : view.device.id.description)],
                    !view.absent && view.device.driver == .vfioPCI ? 1 : 0)
               })
        family("earlybind_group_viable", "1 when every endpoint of the configured device's IOMMU group is on vfio-pci, pci-stub or no driver.",
               report.viability.groups.map { ([("group", "\($0.number)")], $0.viable ? 1 : 0) })
        // No samples without this boot's report: a zero would claim the boot bound nothing.
        let outcomes = report.bootRecord.map { record in
            [("bound", ["bound", "already_bound"]), ("left", ["left"]), ("failed", ["failed"])].map { outcome, actions in
                ([("outcome", outcome)], record.devices.filter { actions.contains($0.action) }.count)
            }
        } ?? []
        family("earlybind_boot_devices", "Devices this boot's binder bound, left alone or failed to bind.", outcomes)
        family("earlybind_trial_state", "1 for the trial variable's state (none: no trial); no samples without UEFI or when the state cannot be read.",
               trialSamples)
        return lines.joined(separator: "\n") + "\n"
    }

    /// One sample per state, 1 for the current one, so that an alert matches on the label.
    /// None without UEFI or when the state is unknown: zeros would claim there is no trial.
    private var trialSamples: [(labels: [(String, String)], value: Int)] {
        guard report.trialAvailable, case .success(let state) = report.trialState else { return [] }
        let states: [(code: String, current: Bool)] = [("none", state == nil)] + TrialState.allCases.map { ($0.code, $0 == state) }
        return states.map { ([("state", $0.code)], $0.current ? 1 : 0) }
    }

    /// A label value as the text format wants it.
    static func escaped(_ value: String) -> String {
        value.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"").replacingAll("\n", with: "\\n")
    }
}
