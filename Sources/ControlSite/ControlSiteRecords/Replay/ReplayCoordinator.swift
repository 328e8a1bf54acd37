import POCareContract
import Foundation
import Logging
import POCareCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Asks sites to replay what this Control Site lacks, and records their answers. libmosquitto
/// acknowledges a message before ingest has committed it, so after a crash of an instance
/// only the sites' stores can fill what was lost: this is what makes ingest complete.
///
/// Its own thread and database connection. Once a second it records the answers that arrived
/// (any instance may receive an answer to any instance's request), then plans under a
/// transaction-level advisory lock, so of several instances one plans at a time from the same
/// table and a site is never asked twice for one range nor more than once a second. The MQTT
/// thread, which owns the client, publishes the requests (`takeOutgoing`).
public final class ReplayCoordinator: Service, Sendable {
    public typealias Outgoing = (topic: String, payload: [UInt8])

    private let database: String
    private let requester: String
    private let topicRoot: String
    private let planner: ReplayPlanner
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)
    private let answers = Mutex<[(site: String, payload: [UInt8])]>([])
    private let outgoing = Mutex<[Outgoing]>([])
    private let thread = DedicatedThread(name: "ingest-replay")

    /// Site store epochs met since this instance started, and the streams whose tail is still to
    /// be asked for: the replay thread's own, kept across its planning rounds.
    private struct Tails {
        var metEpochs: Set<String> = []
        var pending: [String: ReplayPlanner.Stream] = [:]
    }

    /// The advisory lock that lets one instance plan at a time.
    static let planningLock = 7_146_353

    /// Only the sites of `share` are asked: another instance asks for its own.
    private let share: IngestShare

    public init(database: String, requester: String, topicRoot: String, settings: ReplayPlanner.Settings, logger: Logger,
                share: IngestShare = .everySite) {
        self.database = database
        self.share = share
        // Request ids are echoed by the site, which takes printable ASCII only.
        let safe = requester.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
        self.requester = safe.isEmpty ? "pocare-control" : String(String.UnicodeScalarView(safe))
        self.topicRoot = topicRoot
        self.planner = ReplayPlanner(settings: settings)
        self.logger = logger
    }

    /// Asks and records on its own thread until the service group shuts down.
    public func run() async {
        thread.start { [self] in work() }
        // Throws only when the task is cancelled, which asks for the same stop.
        try? await gracefulShutdown()
        stopped.store(true, ordering: .relaxed)
        if !(await thread.joined(within: .seconds(2))) {
            logger.warning("the replay thread is still waiting for the database; stopping without it")
        }
    }

    /// An answer from `site`'s `replay/status`, handed over by the MQTT thread.
    public func receive(site: String, payload: [UInt8]) {
        answers.withLock { if $0.count < 10_000 { $0.append((site, payload)) } }
    }

    /// Requests to publish, taken by the MQTT thread.
    public func takeOutgoing() -> [Outgoing] {
        outgoing.withLock {
            let taken = $0
            $0 = []
            return taken
        }
    }

    private func work() {
        var connection: PostgresConnection?
        var tails = Tails()
        var failures = 0
        while !stopped.load(ordering: .relaxed) {
            do {
                let db = try connection ?? PostgresConnection(database)
                connection = db
                let taken = answers.withLock {
                    let taken = $0
                    $0 = []
                    return taken
                }
                for answer in taken { try record(answer.site, answer.payload, db) }
                try planRound(db, &tails)
                failures = 0
            } catch {
                failures += 1
                if failures == 1 || failures.isMultiple(of: 30) {
                    logger.error("replay bookkeeping failed; retrying", metadata: ["error": "\(error)"])
                }
                connection = nil
            }
            for _ in 0..<10 where !stopped.load(ordering: .relaxed) { usleep(100_000) }
        }
    }

    // MARK: answers

    private func record(_ site: String, _ payload: [UInt8], _ connection: PostgresConnection) throws {
        let answer: ReplayAnswer
        do { answer = try ReplayAnswer.parse(site: site, payload: payload) } catch {
            logger.warning("ignored a replay answer", metadata: ["reason": "\(error)"])
            return
        }
        try connection.transaction {
            // Answers may reach two instances out of order: `done` is never undone by `accepted`.
            // A refusal that claims the records can never be sent is `unconfirmed` until the
            // site's signed checkpoint confirms it, so the planner asks again (`ReplayClaims`).
            let updated = try connection.execute("""
                UPDATE replay_requests SET answered = now(), reason = coalesce($4, reason),
                    state = CASE WHEN $3 = 'refused' AND ($7::bigint IS NOT NULL OR cause = 'gap') THEN 'unconfirmed' ELSE $3 END,
                    sending_from = coalesce($5::bigint, sending_from), sending_to = coalesce($6::bigint, sending_to),
                    pruned_through = coalesce($7::bigint, pruned_through)
                WHERE id = $1 AND site = $2 AND NOT (state = 'done' AND $3 = 'accepted')
                RETURNING cause, epoch, stream, seq_from, seq_to
                """, [answer.id, site, answer.outcome.rawValue, answer.reason, answer.sending.map { String($0.lowerBound) },
                      answer.sending.map { String($0.upperBound) }, answer.prunedThrough.map { String($0) }])
            guard updated.rowCount == 1 else {
                logger.debug("a replay answer to a request not made here", metadata: ["site": "\(site)", "id": "\(answer.id)"])
                return
            }
            let cause = updated.string(0, "cause") ?? ""
            let epoch = updated.string(0, "epoch") ?? "", stream = updated.string(0, "stream") ?? ""
            var asked = answer
            asked.from = updated.int(0, "seq_from") ?? answer.from
            asked.to = updated.int(0, "seq_to") ?? answer.to
            logger.info("replay answer", metadata: [
                "site": "\(site)", "stream": "\(stream)", "asked": "\(asked.from)...\(asked.to)",
                "state": "\(answer.outcome.rawValue)", "reason": "\(answer.reason ?? "")",
            ])
            // `done` repeats the acceptance's pruned_through: held once, from the first answer.
            if let (claim, range) = ReplayClaims.claim(of: asked, cause: cause) {
                try ReplayClaims.hold(claim, request: answer.id, site: site, epoch: epoch, stream: stream, range: range,
                                      reason: answer.reason ?? answer.outcome.rawValue, connection)
                logger.warning("a replay answer says records can never be sent; held until the site's signed checkpoint confirms it",
                               metadata: ["site": "\(site)", "stream": "\(stream)", "range": "\(range.lowerBound)...\(range.upperBound)",
                                          "claim": "\(claim.rawValue)"])
            }
        }
    }

    // MARK: planning

    private func planRound(_ connection: PostgresConnection, _ tails: inout Tails) throws {
        let requests: [(ReplayPlanner.Planned, String)] = try connection.transaction {
            let locked = try connection.execute("SELECT pg_try_advisory_xact_lock($1) AS locked", [String(Self.planningLock)])
            guard locked.bool(0, "locked") == true else { return [] }
            try ReplayClaims.confirm(logger: logger, connection)
            let streams = try loadStreams(connection)
            try noteNewEpochs(connection, streams: streams, &tails)
            let history = try loadHistory(connection)
            let now = Date(timeIntervalSince1970: try connection.execute("SELECT extract(epoch FROM now()) AS now_s").double(0, "now_s") ?? 0)
            let plan = planner.plan(streams: streams, tailChecks: Array(tails.pending.values), history: history, now: now)
            for key in plan.settledTailChecks { tails.pending[key] = nil }
            var made: [(ReplayPlanner.Planned, String)] = []
            for request in plan.requests {
                let id = "\(requester.prefix(40))-\(String(UInt64.random(in: 0...0xffff_ffff_ffff), radix: 16))"
                try connection.execute("""
                    INSERT INTO replay_requests (id, site, epoch, stream, seq_from, seq_to, cause, attempt, requested_by)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                    """, [id, request.site, request.epoch, request.stream, String(request.from), String(request.to),
                          request.cause.rawValue, String(request.attempt), requester])
                made.append((request, id))
            }
            return made
        }
        for (request, id) in requests {
            guard let stream = StreamName(request.stream) else { continue }
            let payload = ReplayRequest(id: id, stream: stream, epoch: request.epoch, from: request.from, to: request.to).payload
            outgoing.withLock { $0.append(("\(topicRoot)/\(request.site)/replay", payload)) }
            logger.info("asked a site to replay", metadata: [
                "site": "\(request.site)", "stream": "\(request.stream)", "range": "\(request.from)...\(request.to)",
                "cause": "\(request.cause.rawValue)", "attempt": "\(request.attempt)", "id": "\(id)",
            ])
        }
    }

    /// Streams with their gaps, every epoch: a gap of a replaced store is asked for too, and the
    /// site's refusal makes it a finding with its cause.
    private func loadStreams(_ connection: PostgresConnection) throws -> [ReplayPlanner.Stream] {
        let rows = try connection.execute("SELECT site, epoch, stream, contiguous, highest, unrecoverable_through FROM streams")
        let gapRows = try connection.execute(
            "SELECT site, epoch, stream, seq_from, seq_to, extract(epoch FROM opened) AS opened_s FROM gaps ORDER BY seq_from")
        var gaps: [ReplayPlanner.Key: [StreamProgress.Gap]] = [:]
        for row in gapRows.map({ $0 }) {
            guard let a = row.int("seq_from"), let b = row.int("seq_to"), a <= b, let opened = row.double("opened_s") else { continue }
            let key = ReplayPlanner.Key(site: row.string("site") ?? "", epoch: row.string("epoch") ?? "", stream: row.string("stream") ?? "")
            gaps[key, default: []].append(StreamProgress.Gap(a...b, openedAt: Date(timeIntervalSince1970: opened)))
        }
        return rows.map { row -> ReplayPlanner.Stream? in
            guard let site = row.string("site"), share.takes(site), let epoch = row.string("epoch"), let stream = row.string("stream"),
                !epoch.isEmpty, StreamName(stream) != nil
            else { return nil }
            return ReplayPlanner.Stream(
                site: site, epoch: epoch, stream: stream, contiguous: row.int("contiguous") ?? 0, highest: row.int("highest") ?? 0,
                gaps: gaps[ReplayPlanner.Key(site: site, epoch: epoch, stream: stream)] ?? [],
                unrecoverableThrough: row.int("unrecoverable_through") ?? 0)
        }.compactMap { $0 }
    }

    /// A site online with a store epoch this instance has not met since it started: after a
    /// restart that is every site; otherwise a site met for the first time or a replaced store.
    /// Its streams (those the database holds and those its birth names) get their tails asked for.
    /// A status naming an epoch of a known site that neither its records nor a checkpoint it
    /// signed confirm is not followed: a forged retained status must not steer every restart.
    private func noteNewEpochs(_ connection: PostgresConnection, streams: [ReplayPlanner.Stream], _ tails: inout Tails) throws {
        let sites = try connection.execute("""
            SELECT site, status->>'epoch' AS epoch,
                   coalesce((SELECT array_to_string(array_agg(d->>'id'), ',') FROM jsonb_array_elements(
                       CASE WHEN jsonb_typeof(status->'devices') = 'array' THEN status->'devices' ELSE '[]' END) d), '') AS devices
            FROM sites s WHERE state = 'online' AND status->>'epoch' IS NOT NULL
                AND (NOT EXISTS (SELECT 1 FROM streams k WHERE k.site = s.site)
                     OR EXISTS (SELECT 1 FROM streams k WHERE k.site = s.site AND k.epoch = s.status->>'epoch')
                     OR EXISTS (SELECT 1 FROM site_checkpoints c WHERE c.site = s.site AND c.epoch = s.status->>'epoch' AND c.verified))
            """)
        for row in sites.map({ $0 }) {
            guard let site = row.string("site"), share.takes(site), let epoch = row.string("epoch"), !epoch.isEmpty else { continue }
            guard tails.metEpochs.insert("\(site)\u{0}\(epoch)").inserted else { continue }
            var names: Set<String> = ["site/events", "audit"]
            for device in (row.string("devices") ?? "").split(separator: ",") {
                names.insert("\(device)/telemetry")
                names.insert("\(device)/events")
            }
            for stream in streams where stream.site == site && stream.epoch == epoch { names.insert(stream.stream) }
            for name in names where StreamName(name) != nil {
                tails.pending[ReplayPlanner.tailCheckKey(site: site, epoch: epoch, stream: name)] =
                    ReplayPlanner.Stream(site: site, epoch: epoch, stream: name)
            }
            logger.info("asking a site for what it holds beyond this Control Site", metadata: [
                "site": "\(site)", "epoch": "\(epoch)", "streams": "\(names.count)",
            ])
        }
    }

    /// The latest request for each range in the last week, and every one still unanswered.
    private func loadHistory(_ connection: PostgresConnection) throws -> [ReplayPlanner.Asked] {
        let rows = try connection.execute("""
            SELECT DISTINCT ON (site, epoch, stream, seq_from, cause)
                   site, epoch, stream, seq_from, seq_to, cause, attempt, extract(epoch FROM requested) AS requested_s, state,
                   extract(epoch FROM answered) AS answered_s, sending_from, sending_to
            FROM replay_requests WHERE requested > now() - interval '7 days'
            ORDER BY site, epoch, stream, seq_from, cause, requested DESC
            """)
        return rows.map { row -> ReplayPlanner.Asked? in
            guard let site = row.string("site"), let epoch = row.string("epoch"), let stream = row.string("stream"),
                let from = row.int("seq_from"), let to = row.int("seq_to"), let cause = row.string("cause").flatMap(ReplayPlanner.Cause.init),
                let requested = row.double("requested_s"), let state = row.string("state")
            else { return nil }
            var sending: ClosedRange<Int64>?
            if let a = row.int("sending_from"), let b = row.int("sending_to"), a <= b { sending = a...b }
            return ReplayPlanner.Asked(
                site: site, epoch: epoch, stream: stream, from: from, to: to, cause: cause, attempt: Int(row.int("attempt") ?? 1),
                requested: Date(timeIntervalSince1970: requested), state: state,
                answered: row.double("answered_s").map { Date(timeIntervalSince1970: $0) }, sending: sending)
        }.compactMap { $0 }
    }

    static func kind(of stream: String) -> String {
        if stream == "audit" { return RecordKind.audit.rawValue }
        return stream.hasSuffix("/telemetry") ? RecordKind.sample.rawValue : RecordKind.event.rawValue
    }

    static func device(of stream: String) -> String? {
        stream == "audit" ? nil : stream.split(separator: "/").first.map(String.init)
    }
}
