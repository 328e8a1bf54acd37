import POCareCore

extension BatchStatistics {
    /// The cause of an interval whose time went back.
    public static let clockStep = "clock step"
    /// The cause of time covered by a sample the spec's running signal says was taken while the device was not running.
    public static let notRunning = "device not running"
    /// The cause of a gap between samples longer than the hold limit, unless the caller names it.
    public static let noSamples = "no samples"

    /// Follows one device's samples of one batch, in the order the site stored them (sequence
    /// order), and sums them up by the rule above. Memory stays that of one sample and the
    /// open sums, whatever the batch's length, so a store or a database can stream into it.
    public struct Accumulator {
        public let tracks: [Track]
        public let start: Double
        public let end: Double
        public let holdLimit: Double
        private let spec: IPCSpec?
        private let running: RunningRule
        private let gapCause: (Double, Double) -> String

        private var limitsByPhase: [String: [ParameterLimits?]] = [:]
        private var previous: (time: Double, phase: String, cause: String?)?
        private var previousValues: [Observed?]
        private var cells: [String: [Cell]] = [:]
        private var phaseOrder: [String] = []
        private var phaseDurations: [String: Double] = [:]
        private var intervals: [UnmonitoredInterval] = []
        private var open: [OpenExcursion?]
        private var closed: [Excursion] = []
        /// Per track, its unmonitored stretches, when asked for (a plot hatches them).
        private let stretchesPerTrack: Int
        private var stretches: [[UnmonitoredInterval]]

        /// - Parameters:
        ///   - tracks: the parameters to follow.
        ///   - spec: the spec the batch ran under: its limits per phase and its running signal.
        ///   - start, end: the device's batch start and end (the last sample's time while it runs).
        ///   - holdLimit: `BatchStatistics.holdLimit(times:)` of the device's samples in the batch.
        ///   - gapCause: the cause to give a gap between samples (the site knows when it was down).
        ///   - stretchesPerTrack: how many unmonitored stretches to keep per parameter (for a plot); 0: none.
        public init(
            tracks: [Track], spec: IPCSpec?, start: Double, end: Double, holdLimit: Double,
            gapCause: @escaping (Double, Double) -> String = { _, _ in BatchStatistics.noSamples }, stretchesPerTrack: Int = 0
        ) {
            self.tracks = tracks
            self.spec = spec
            self.running = RunningRule(spec?.running)
            self.start = start
            self.end = end
            self.holdLimit = holdLimit
            self.gapCause = gapCause
            previousValues = Array(repeating: nil, count: tracks.count)
            open = Array(repeating: nil, count: tracks.count)
            self.stretchesPerTrack = stretchesPerTrack
            stretches = Array(repeating: [], count: tracks.count)
        }

        /// The parameter the spec's running signal reads, if any.
        public var runningParameter: String? { spec?.running?.parameterId }

        /// Adds the next sample.
        /// - Parameters:
        ///   - time: its time, to the millisecond (`contractTime`).
        ///   - phase: the phase it was taken in ("-" for none).
        ///   - deviceCause: why the whole sample is unmonitored, when the caller knows (the
        ///     device was unreachable); nil otherwise.
        ///   - running: the value of the spec's running parameter, when read well.
        ///   - value: the good value of track `i`, nil when absent or not read well.
        public mutating func add(
            time: Double, phase: String, deviceCause: String? = nil, running runningValue: Observed?, value: (Int) -> Observed?
        ) {
            if previous != nil {
                hold(until: time)
            } else if time - start > holdLimit {
                gap(from: start, to: time, phase: phase)
            }
            for i in tracks.indices {
                let v = value(i)
                if case .number(let x)? = v, !x.isFinite { previousValues[i] = nil } else { previousValues[i] = v }
            }
            let cause = deviceCause ?? (running.isRunning(runningValue) ? nil : BatchStatistics.notRunning)
            previous = (time, phase, cause)
        }

        /// The summary; the last sample holds until the batch's end.
        public mutating func finish() -> Summary {
            if let last = previous { hold(until: Swift.max(end, last.time)) }
            for i in tracks.indices {
                if let o = open[i] { close(i, openAtBatchEnd: o.end >= end) }
            }
            previous = nil
            let phases = phaseOrder.map { phase in
                PhaseSummary(
                    phase: phase, durationS: phaseDurations[phase] ?? 0,
                    parameters: tracks.indices.map { summary(cells[phase]![$0], track: tracks[$0], phaseSeconds: phaseDurations[phase] ?? 0) })
            }
            let excursions = closed.sorted { ($0.start, $0.parameter) < ($1.start, $1.parameter) }
            var byParameter: [String: [UnmonitoredInterval]] = [:]
            for i in tracks.indices where !stretches[i].isEmpty { byParameter[tracks[i].parameter] = stretches[i] }
            return Summary(holdLimitS: holdLimit, start: start, end: end, phases: phases, unmonitored: intervals, excursions: excursions,
                           parameterUnmonitored: byParameter)
        }

        // MARK: Holding a sample

        private mutating func hold(until next: Double) {
            guard let p = previous else { return }
            let span = next - p.time
            if span < 0 {
                // The wall clock went back: the interval cannot be measured.
                closeAll()
                addInterval(from: next, to: p.time, cause: BatchStatistics.clockStep)
                return
            }
            let reaches = span <= holdLimit
            let to = reaches ? next : p.time + holdLimit
            account(from: p.time, to: to, phase: p.phase, cause: p.cause)
            if !reaches {
                closeAll()
                gap(from: to, to: next, phase: p.phase)
            }
        }

        private mutating func gap(from: Double, to: Double, phase: String) {
            let seconds = Swift.max(0, to - from)
            touch(phase)
            phaseDurations[phase, default: 0] += seconds
            for i in tracks.indices {
                cells[phase]![i].unmonitored += seconds
                stretch(i, from: from, to: to)
            }
            addInterval(from: from, to: to, cause: gapCause(from, to))
        }

        private mutating func account(from: Double, to: Double, phase: String, cause: String?) {
            let seconds = to - from
            touch(phase)
            phaseDurations[phase, default: 0] += seconds
            if let cause {
                addInterval(from: from, to: to, cause: cause)
                for i in tracks.indices {
                    cells[phase]![i].unmonitored += seconds
                    stretch(i, from: from, to: to)
                }
                closeAll()
                return
            }
            let limits = self.limits(phase)
            for i in tracks.indices {
                guard let value = previousValues[i] else {
                    cells[phase]![i].unmonitored += seconds
                    stretch(i, from: from, to: to)
                    close(i)
                    continue
                }
                let zone = BatchStatistics.zone(value, limits[i])
                cells[phase]![i].observe(value, seconds: seconds, measured: tracks[i].measured, zone: zone,
                                         limited: BatchStatistics.bounds(limits[i]))
                if zone.isOutside, let l = limits[i] {
                    extend(i, phase: phase, from: from, to: to, value: value, action: zone == .action, limits: l)
                } else {
                    close(i)
                }
            }
        }

        private mutating func touch(_ phase: String) {
            guard cells[phase] == nil else { return }
            cells[phase] = Array(repeating: Cell(), count: tracks.count)
            phaseOrder.append(phase)
        }

        private mutating func limits(_ phase: String) -> [ParameterLimits?] {
            if let known = limitsByPhase[phase] { return known }
            let phaseLimits = spec?.phase(phase)
            let limits = tracks.map { phaseLimits?.limits(for: $0.parameter) }
            limitsByPhase[phase] = limits
            return limits
        }

        /// Adds an interval, merged with the previous one when they touch and share a cause.
        private mutating func addInterval(from: Double, to: Double, cause: String) {
            let seconds = Swift.max(0, to - from)
            if var last = intervals.last, last.cause == cause, last.to == from {
                last.to = to
                last.durationS += seconds
                intervals[intervals.count - 1] = last
            } else {
                intervals.append(UnmonitoredInterval(from: from, to: to, durationS: seconds, cause: cause))
            }
        }

        /// Adds to a track's unmonitored stretches, merged where they touch; past the limit, no more are kept.
        private mutating func stretch(_ i: Int, from: Double, to: Double) {
            guard stretchesPerTrack > 0, to > from else { return }
            if var last = stretches[i].last, last.to == from {
                last.to = to
                last.durationS += to - from
                stretches[i][stretches[i].count - 1] = last
            } else if stretches[i].count < stretchesPerTrack {
                stretches[i].append(UnmonitoredInterval(from: from, to: to, durationS: to - from, cause: "not monitored"))
            }
        }

        // MARK: Excursions

        private mutating func extend(
            _ i: Int, phase: String, from: Double, to: Double, value: Observed, action: Bool, limits: ParameterLimits
        ) {
            let seconds = to - from
            var worst: (distance: Double, value: Double, label: String?, side: Side?)
            var area: Double
            switch value {
            case .number(let x):
                let out = BatchStatistics.outside(x, limits)
                worst = (out?.distance ?? 0, x, nil, out?.side)
                area = (out?.distance ?? 0) * seconds
            case .flag(let b):
                worst = (0, b ? 1 : 0, nil, nil)
                area = seconds
            case .label(let label):
                worst = (0, 0, label, nil)
                area = seconds
            }
            if var o = open[i], o.phase == phase {
                o.end = to
                o.area += area
                o.action = o.action || action
                if worst.distance > o.worstDistance {
                    o.worstDistance = worst.distance
                    o.worstValue = worst.value
                    o.side = worst.side
                }
                open[i] = o
                return
            }
            close(i)
            open[i] = OpenExcursion(
                phase: phase, start: from, end: to, worstDistance: worst.distance, worstValue: worst.value, worstLabel: worst.label,
                side: worst.side, action: action, area: area)
        }

        private mutating func close(_ i: Int, openAtBatchEnd: Bool = false) {
            guard let o = open[i] else { return }
            open[i] = nil
            let duration = o.end - o.start
            closed.append(Excursion(
                parameter: tracks[i].parameter, phase: o.phase, start: o.start, end: o.end, durationS: duration,
                worstValue: o.worstValue, worstLabel: o.worstLabel, worstLevel: o.action ? "action" : "alert", side: o.side,
                areaOutside: o.area, openAtBatchEnd: openAtBatchEnd))
            cells[o.phase]![i].excursions += 1
            cells[o.phase]![i].excursionSeconds += duration
        }

        private mutating func closeAll() {
            for i in tracks.indices where open[i] != nil { close(i) }
        }

        private func summary(_ c: Cell, track: Track, phaseSeconds: Double) -> ParameterSummary {
            var s = ParameterSummary(
                parameter: track.parameter, unit: track.unit, samples: c.samples, limited: c.limited, monitoredS: c.monitored,
                unmonitoredS: c.unmonitored, unmonitoredShare: phaseSeconds > 0 ? c.unmonitored / phaseSeconds : 0,
                excursions: c.excursions, excursionS: c.excursionSeconds)
            if track.measured, c.count > 0 {
                s.min = c.minimum
                s.max = c.maximum
                s.mean = c.sum / Double(c.count)
            }
            if track.measured, c.weight > 0 {
                s.timeWeightedMean = c.weightedMean
                s.standardDeviation = (Swift.max(0, c.weightedM2 / c.weight)).squareRoot()
            }
            if c.limited {
                s.inRangeS = c.inRange
                s.alertS = c.alert
                s.actionS = c.action
                if c.monitored > 0 {
                    s.inRangeShare = c.inRange / c.monitored
                    s.alertShare = c.alert / c.monitored
                    s.actionShare = c.action / c.monitored
                }
            }
            return s
        }
    }

    /// An excursion still being followed.
    struct OpenExcursion {
        var phase: String
        var start: Double
        var end: Double
        var worstDistance: Double
        var worstValue: Double
        var worstLabel: String?
        var side: Side?
        var action: Bool
        var area: Double
    }

    /// The running sums of one parameter in one phase.
    struct Cell {
        var samples = 0
        var count = 0
        var sum = 0.0
        var minimum = Double.infinity
        var maximum = -Double.infinity
        var weight = 0.0
        var weightedMean = 0.0
        var weightedM2 = 0.0
        var monitored = 0.0
        var unmonitored = 0.0
        var limited = false
        var inRange = 0.0
        var alert = 0.0
        var action = 0.0
        var excursions = 0
        var excursionSeconds = 0.0

        mutating func observe(_ value: Observed, seconds: Double, measured: Bool, zone: Zone, limited: Bool) {
            samples += 1
            monitored += seconds
            if measured, case .number(let v) = value {
                count += 1
                sum += v
                minimum = Swift.min(minimum, v)
                maximum = Swift.max(maximum, v)
                if seconds > 0 {
                    // West's weighted update: stable where the sum of squares less the squared mean is not.
                    weight += seconds
                    let delta = v - weightedMean
                    weightedMean += seconds / weight * delta
                    weightedM2 += seconds * delta * (v - weightedMean)
                }
            }
            guard limited else { return }
            self.limited = true
            switch zone {
            case .inRange: inRange += seconds
            case .alert: alert += seconds
            case .action: action += seconds
            case .unlimited: break
            }
        }
    }
}
