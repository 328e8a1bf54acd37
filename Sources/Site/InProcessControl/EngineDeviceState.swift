import Foundation
import POCareCore

/// What the engine keeps per device and per parameter: the alarm records, the excursion under
/// way and the batch values the per-sample path reads as plain scalars.
extension ControlEngine {
    struct Slot {
        var limits: ParameterLimits?
        /// The limits as plain numbers, so the per-sample path touches no strings or optionals.
        var thresholds = Thresholds()
        var limit: AlarmRecord
        var rate: AlarmRecord
        var stale: AlarmRecord
        var discrete: AlarmRecord
        var excursion = ExcursionTracker()
        /// For a discrete rule on a status: the labels that raise the alarm.
        var alarmLabels: [String] = []
        var previousValue: Double?
        var previousTime: Int64 = 0
        /// The last value seen and when it last changed, kept across batches: a sensor is stale
        /// from the last change of its value, not from the start of a batch.
        var staleValue: Double?
        var lastChange: Int64 = 0
        /// The profile's stale time for the parameter (`.max`: none), and the one in force.
        var profileStaleAfter: Int64 = .max
        var stalePriority = AlarmPriority.medium
        var hasRange = false
    }

    final class DeviceControl {
        let id: String
        var profile: DeviceProfile
        let parameterIndex: [String: Int]
        var batch: BatchContext?
        var slots: [Slot]
        var limited: [Int] = []
        /// Slots of flags and statuses with a discrete alarm in the current phase.
        var discreteSlots: [Int] = []
        var communication: AlarmRecord
        var badPolls = 0
        /// Polls without a good value (missed polls included) in the loss that stands or last stood.
        var lostPolls = 0
        /// Slots whose stale time is in force, with or without a batch.
        var staleSlots: [Int] = []
        var running = true
        var runningIndex: Int?
        var phaseIndex: Int?
        var shelvedCount = 0
        // Copies of what the hot path needs from the batch, refreshed whenever it changes.
        var hasBatch = false
        var phaseName = ""
        var communicationLossPolls = Int.max
        var runningLabels: [String] = []

        init(id: String, profile: DeviceProfile) {
            self.id = id
            self.profile = profile
            var index: [String: Int] = [:]
            for (i, p) in profile.parameters.enumerated() { index[p.id] = i }
            self.parameterIndex = index
            self.slots = profile.parameters.map { p in
                Slot(
                    limit: AlarmRecord(id: AlarmID(device: id, parameter: p.id, kind: .limit)),
                    rate: AlarmRecord(id: AlarmID(device: id, parameter: p.id, kind: .rate)),
                    stale: AlarmRecord(id: AlarmID(device: id, parameter: p.id, kind: .stale)),
                    discrete: AlarmRecord(id: AlarmID(device: id, parameter: p.id, kind: .discrete)))
            }
            self.communication = AlarmRecord(id: .communication(id))
            applyProfileMonitoring()
        }

        /// The profile's stale times per slot.
        func applyProfileMonitoring() {
            for (i, stale) in profile.staleTimes().enumerated() { slots[i].profileStaleAfter = stale?.nanoseconds ?? .max }
        }
    }
}
