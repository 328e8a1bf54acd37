import POCareContract
import Foundation

/// Decides which ranges to ask sites to replay, from what the database says each stream holds
/// and what was asked before. Pure: the coordinator loads the state, calls `plan`, and records
/// the requests in the same transaction, so several instances never ask twice.
///
/// - A gap is asked for once it has stayed open `replayAfter` (a shorter gap may be records of
///   one stream reaching two instances out of order), and again with doubling backoff while it
///   stays open.
/// - A stream's tail (everything after the highest number held) is asked for when the instance
///   starts, when it first meets a site, and when a site's store has a new epoch; a tail the
///   site sent in full is followed by the next one until the site has nothing more.
/// - A site gets at most one request a second and `perSiteOutstanding` unanswered ones, well
///   inside what a site serves (one a second, a burst of five, four queued).
public struct ReplayPlanner: Sendable {
    public struct Settings: Sendable {
        public var replayAfter: Double = 30
        /// No answer this long: the request or its answer was lost (a site crash); ask again.
        public var answerTimeout: Double = 30
        /// Accepted but not done this long: the site stopped before finishing; ask again.
        public var acceptedTimeout: Double = 600
        public var maxBackoff: Double = 1800
        public var perSiteOutstanding = 3
        public var perSiteInterval: Double = 1
        public var chunk = ReplayRequest.maxRecords
        /// Records one tail request asks for: a tail is usually empty or short (what an instance
        /// lost in a crash), and a site still draining a backlog sends it again after its live
        /// records, so a small piece wastes little; a tail sent in full is followed by the next.
        public var tailChunk: Int64 = 10_000
        public init() {}

        /// Delay before asking again after the `attempt`-th request: `replayAfter` doubling.
        func backoff(after attempt: Int) -> Double {
            min(maxBackoff, max(1, replayAfter) * pow(2, Double(min(max(attempt - 1, 0), 20))))
        }
    }

    public enum Cause: String, Sendable { case gap, tail }

    public struct Stream: Sendable, Equatable {
        public var site: String
        public var epoch: String
        public var stream: String
        public var contiguous: Int64
        public var highest: Int64
        public var gaps: [StreamProgress.Gap]
        public var unrecoverableThrough: Int64
        public init(site: String, epoch: String, stream: String, contiguous: Int64 = 0, highest: Int64 = 0,
                    gaps: [StreamProgress.Gap] = [], unrecoverableThrough: Int64 = 0) {
            self.site = site
            self.epoch = epoch
            self.stream = stream
            self.contiguous = contiguous
            self.highest = highest
            self.gaps = gaps
            self.unrecoverableThrough = unrecoverableThrough
        }
        var key: Key { Key(site: site, epoch: epoch, stream: stream) }
    }

    /// A request made before, as recorded with the site's latest answer.
    public struct Asked: Sendable, Equatable {
        public var site: String
        public var epoch: String
        public var stream: String
        public var from: Int64
        public var to: Int64
        public var cause: Cause
        public var attempt: Int
        public var requested: Date
        /// sent, accepted, done, busy, nothing_new, refused
        public var state: String
        public var answered: Date?
        public var sending: ClosedRange<Int64>?
        public init(site: String, epoch: String, stream: String, from: Int64, to: Int64, cause: Cause, attempt: Int, requested: Date,
                    state: String, answered: Date? = nil, sending: ClosedRange<Int64>? = nil) {
            self.site = site
            self.epoch = epoch
            self.stream = stream
            self.from = from
            self.to = to
            self.cause = cause
            self.attempt = attempt
            self.requested = requested
            self.state = state
            self.answered = answered
            self.sending = sending
        }
        var key: Key { Key(site: site, epoch: epoch, stream: stream) }
    }

    public struct Planned: Sendable, Equatable {
        public var site: String
        public var epoch: String
        public var stream: String
        public var from: Int64
        public var to: Int64
        public var cause: Cause
        public var attempt: Int
    }

    struct Key: Hashable { var site: String; var epoch: String; var stream: String }

    public struct Plan: Sendable, Equatable {
        public var requests: [Planned]
        /// Tail checks done (asked now, or just asked by another instance), as `tailCheckKey`s.
        public var settledTailChecks: [String]
    }

    public static func tailCheckKey(site: String, epoch: String, stream: String) -> String { "\(site)\u{0}\(epoch)\u{0}\(stream)" }

    public var settings: Settings
    public init(settings: Settings = .init()) { self.settings = settings }

    /// The requests to send now. `tailChecks` are the streams whose tail this instance has not
    /// asked for since it started or since their site's epoch began.
    public func plan(streams: [Stream], tailChecks: [Stream], history: [Asked], now: Date) -> Plan {
        var settled: [Stream] = []
        var latest: [Key: [Asked]] = [:]
        for asked in history { latest[asked.key, default: []].append(asked) }
        for key in latest.keys { latest[key]!.sort { $0.requested > $1.requested } }

        var candidates: [String: [Planned]] = [:]
        func propose(_ p: Planned) { candidates[p.site, default: []].append(p) }

        // Persistent gaps first: they are records known to be missing.
        for stream in streams {
            let asked = latest[stream.key] ?? []
            for gap in stream.gaps where now.timeIntervalSince(gap.openedAt) >= settings.replayAfter {
                let from = max(gap.range.lowerBound, stream.unrecoverableThrough + 1)
                guard from <= gap.range.upperBound else { continue }
                let to = min(gap.range.upperBound, from + settings.chunk - 1)
                let previous = asked.first { $0.from == from }
                guard let attempt = nextAttempt(after: previous, now: now) else { continue }
                propose(Planned(site: stream.site, epoch: stream.epoch, stream: stream.stream, from: from, to: to, cause: .gap, attempt: attempt))
            }
        }
        // Tails: a stream this instance has not checked (asked anew unless another instance
        // just did), or whose last tail the site sent in full or has not answered.
        let held = Dictionary(streams.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var checks: [Key: Stream] = [:]
        for check in tailChecks { checks[check.key] = held[check.key] ?? check }
        var tails: [(Stream, Int)] = []
        for stream in checks.values {
            let from = max(stream.highest, stream.unrecoverableThrough) + 1
            let recent = (latest[stream.key] ?? []).first {
                $0.cause == .tail && $0.from == from && now.timeIntervalSince($0.requested) < settings.answerTimeout
            }
            if recent == nil { tails.append((stream, 1)) } else { settled.append(stream) }
        }
        for stream in streams where checks[stream.key] == nil {
            guard let last = (latest[stream.key] ?? []).first(where: { $0.cause == .tail }) else { continue }
            let full = last.state == "done" && last.sending?.upperBound == last.to && stream.highest <= last.to
            let from = max(stream.highest, stream.unrecoverableThrough) + 1
            if full && from > last.to {
                tails.append((stream, 1))
            } else if last.from == from, let attempt = nextAttempt(after: last, now: now), last.state != "done" {
                tails.append((stream, attempt))
            }
        }
        for (stream, attempt) in tails.sorted(by: { ($0.0.site, $0.0.epoch, $0.0.stream) < ($1.0.site, $1.0.epoch, $1.0.stream) }) {
            let from = max(stream.highest, stream.unrecoverableThrough) + 1
            propose(Planned(site: stream.site, epoch: stream.epoch, stream: stream.stream, from: from, to: from + settings.tailChunk - 1,
                            cause: .tail, attempt: attempt))
        }

        // At most one request per site per interval, and only while few are unanswered.
        var planned: [Planned] = []
        for site in candidates.keys.sorted() {
            let ofSite = history.filter { $0.site == site }
            if let newest = ofSite.map(\.requested).max(), now.timeIntervalSince(newest) < settings.perSiteInterval { continue }
            let outstanding = ofSite.filter { isOutstanding($0, now: now) }.count
            guard outstanding < settings.perSiteOutstanding, let first = candidates[site]?.first else { continue }
            planned.append(first)
        }
        let asked = Set(planned.filter { $0.cause == .tail }.map { Key(site: $0.site, epoch: $0.epoch, stream: $0.stream) })
        settled += tailChecks.filter { asked.contains($0.key) }
        return Plan(requests: planned, settledTailChecks: settled.map { "\($0.site)\u{0}\($0.epoch)\u{0}\($0.stream)" })
    }

    /// Whether the site may still be working on `asked`.
    func isOutstanding(_ asked: Asked, now: Date) -> Bool {
        switch asked.state {
        case "sent": now.timeIntervalSince(asked.requested) < settings.answerTimeout
        case "accepted": now.timeIntervalSince(asked.answered ?? asked.requested) < settings.acceptedTimeout
        default: false
        }
    }

    /// The attempt number of asking again for a range last asked as `previous`, or nil while
    /// it is too early (the site is working on it, or the backoff has not passed).
    func nextAttempt(after previous: Asked?, now: Date) -> Int? {
        guard let previous else { return 1 }
        let since = now.timeIntervalSince(previous.answered ?? previous.requested)
        switch previous.state {
        case "sent": return since >= max(settings.answerTimeout, settings.backoff(after: previous.attempt)) ? previous.attempt + 1 : nil
        case "accepted": return since >= settings.acceptedTimeout ? previous.attempt + 1 : nil
        case "nothing_new", "refused":
            // Final for this range: the tail is held, or the site can never send it.
            return nil
        default:  // done (and still missing), busy, unconfirmed (a claim the site's signature has not confirmed)
            return since >= settings.backoff(after: previous.attempt) ? previous.attempt + 1 : nil
        }
    }
}

extension ReplayPlanner {
    /// The numbers of `range` a stream does not hold: those in its gaps and those above its highest.
    public static func missing(in range: ClosedRange<Int64>, contiguous: Int64, highest: Int64,
                               gaps: [ClosedRange<Int64>]) -> [ClosedRange<Int64>] {
        var result: [ClosedRange<Int64>] = []
        for gap in gaps {
            let a = max(gap.lowerBound, range.lowerBound), b = min(gap.upperBound, range.upperBound)
            if a <= b { result.append(a...b) }
        }
        let above = max(range.lowerBound, highest + 1)
        if above <= range.upperBound { result.append(above...range.upperBound) }
        return result
    }
}
