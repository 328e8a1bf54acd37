import POCareContract
import POCareCore
import SiteStore

extension ControlSiteLink {
    /// Per-stream publishing state, all on the link thread.
    final class Flow {
        var next: [StreamName: Int64] = [:]
        var inflight: [Int32: (stream: StreamName, last: Int64)] = [:]
        var unacknowledged: [StreamName: AcknowledgedPrefix] = [:]
        /// Watermarks acknowledged since the store last heard of them: written once per turn
        /// of the loop, not once per PUBACK.
        var acknowledgedThrough: [StreamName: Int64] = [:]
        var acknowledgedCount = 0
        /// Per telemetry stream, the last sample published and its hash: the next message's
        /// `previous_hash` without a query.
        var heads: [StreamName: (seq: Int64, hash: String?)] = [:]
        let telemetry = TelemetryEncoder()
        var connected = false
        var offlineAcknowledged = false
        var offlineMessage: Int32 = -1
        var publishedStatus: [Contract.DeviceStatus]?
        /// Metadata fingerprints and spec fingerprints retained at the broker in this session.
        var publishedMetadata: [String: String] = [:]
        var publishedSpecs: Set<String> = []
        /// Replay requests as they arrived, placed by who sent them; answered on the next turn
        /// of the loop. The Control Site's have their own room, so a flood cannot push them out.
        var fromControlSite: [ReplayRequest] = []
        var fromOthers: [(request: ReplayRequest, refusal: String?)] = []
        var malformedReasons: [String] = []
        /// Requests not proven to be the Control Site's, and repeats of signed ones, so far.
        var unprovenRequests = 0
        var repeatedRequests = 0
        var replays: [ReplayJob] = []
        var replayInflight: Set<Int32> = []
        /// Records replayed in the current second, against `replayRecordsPerSecond`.
        var replaySecond: Int64 = 0
        var replayRecordsThisSecond = 0
        var malformedRequests = 0

        func arrived(_ arrival: ReplayAdmission.Arrival) {
            switch arrival {
            case .controlSite(let request):
                if fromControlSite.count < 64 { fromControlSite.append(request) }
            case .other(let request, let refusal):
                if fromOthers.count < 64 { fromOthers.append((request, refusal)) } else { unprovenRequests += 1 }
            case .repeated:
                repeatedRequests += 1
            case .malformed(let reason):
                if malformedReasons.count < 64 { malformedReasons.append(reason) } else { malformedRequests += 1 }
            }
        }
    }

    /// A replay being sent: the request and the next record to publish.
    struct ReplayJob {
        var request: ReplayRequest
        var next: Int64
        var last: Int64
        var prunedThrough: Int64?
        /// Whether the Control Site asked (its replays are sent before anyone else's).
        var fromControlSite: Bool
    }

    /// Replay messages in flight at most, and replayed records a second at most: a replay never
    /// crowds out live records.
    static let replayWindow = 8
    static let replayRecordsPerSecond = 20_000
}
