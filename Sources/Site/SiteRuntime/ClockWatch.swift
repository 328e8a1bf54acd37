import CKernelClock
import Foundation
import POCareCore

/// What the kernel says of the system clock's synchronisation.
public struct ClockSynchronisation: Sendable, Equatable {
    public var synchronised: Bool
    /// The kernel's estimated error, microseconds.
    public var estimatedErrorMicroseconds: Int

    public init(synchronised: Bool, estimatedErrorMicroseconds: Int) {
        self.synchronised = synchronised
        self.estimatedErrorMicroseconds = estimatedErrorMicroseconds
    }
}

/// Where the synchronisation state comes from: the kernel, or a test's stand-in.
public protocol ClockSynchronisationSource: Sendable {
    func read() -> ClockSynchronisation?
}

/// adjtimex(2) with no changes: STA_UNSYNC and the estimated error.
public struct KernelClockSynchronisation: ClockSynchronisationSource {
    public init() {}
    public func read() -> ClockSynchronisation? {
        let clock = pocare_read_kernel_clock()
        guard clock.state >= 0 else { return nil }
        // TIME_ERROR (5) also means the kernel does not consider the clock synchronised.
        return ClockSynchronisation(
            synchronised: clock.unsynchronised == 0 && clock.state != 5, estimatedErrorMicroseconds: Int(clock.estimated_error_us))
    }
}

/// The evidence a batch record needs that its times are right: whether the clock was
/// synchronised, and every step of the wall clock. A step is found by comparing the wall clock
/// with the monotonic clock at each sample (both are taken together): the monotonic clock never
/// steps, so a change of their difference is the wall clock moving. Pure but for `source`.
public struct ClockWatch {
    public enum Finding: Sendable, Equatable {
        /// The synchronisation state at start, or a change of it.
        case synchronisation(ClockSynchronisation, previous: ClockSynchronisation?)
        /// The wall clock jumped by `seconds` (positive: forward) between two samples.
        case step(seconds: Double, before: Date, after: Date)
    }

    /// A change of the wall-minus-monotonic difference beyond this is a step, not jitter.
    public var stepThreshold: Duration = .milliseconds(500)
    /// How often the kernel is asked.
    public var checkInterval: Duration = .seconds(60)
    let source: any ClockSynchronisationSource
    private var offset: Int64?
    private var lastWall: Date?
    private var synchronisation: ClockSynchronisation?
    private var nextCheck: Int64 = .min

    public init(source: any ClockSynchronisationSource = KernelClockSynchronisation()) {
        self.source = source
    }

    /// Looks at one moment (a sample's wall and monotonic time) and says what changed.
    public mutating func observe(wall: Date, monotonic: Int64) -> [Finding] {
        var findings: [Finding] = []
        // A clock set centuries off must not trap the conversion to 64-bit nanoseconds.
        let exact = (wall.timeIntervalSince1970 * 1e9).rounded()
        let wallNanoseconds = exact.isFinite ? Int64(max(-9.2e18, min(9.2e18, exact))) : 0
        let current = wallNanoseconds &- monotonic
        if let offset, let lastWall {
            let change = current &- offset
            if abs(change) > stepThreshold.nanoseconds {
                findings.append(.step(seconds: Double(change) / 1e9, before: lastWall, after: wall))
            }
        }
        offset = current
        lastWall = wall
        if monotonic >= nextCheck {
            nextCheck = monotonic &+ checkInterval.nanoseconds
            if let now = source.read(), synchronisation == nil || now.synchronised != synchronisation?.synchronised {
                findings.append(.synchronisation(now, previous: synchronisation))
                synchronisation = now
            }
        }
        return findings
    }
}

/// The body of a `clock_sync` or `clock_step` site event, as the store keeps it and the Control
/// Site receives it (docs/asyncapi.yaml); batch records read it back with the same type.
struct ClockEventBody: Codable, Sendable, Hashable {
    /// The site-event kinds of clock evidence.
    static let synchronisationKind = "clock_sync"
    static let stepKind = "clock_step"

    var kind: String
    var device = "site"
    var time: String
    /// clock_sync: the kernel's view of the system clock, now and at the previous check.
    var synchronised: Bool?
    var estimatedErrorUs: Int?
    var previouslySynchronised: Bool?
    /// clock_step: how far the wall clock moved against the monotonic clock, and the times around it.
    var stepS: Double?
    var before: String?
    var after: String?

    init(kind: String, time: String) {
        self.kind = kind
        self.time = time
    }

    enum CodingKeys: String, CodingKey {
        case kind, device, time, synchronised, before, after
        case estimatedErrorUs = "estimated_error_us"
        case previouslySynchronised = "previously_synchronised"
        case stepS = "step_s"
    }

    var storedText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings, whole numbers and a finite step: encoding cannot fail.
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func stored(_ body: String) -> ClockEventBody? {
        // Nil for a body this version cannot read; a reader skips it.
        try? JSONDecoder().decode(ClockEventBody.self, from: Data(body.utf8))
    }
}
