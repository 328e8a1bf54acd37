import CSQLite
import POCareContract
import Foundation

/// What walking one stream's hash chain found.
public struct StreamVerification: Sendable, Codable, Hashable {
    public var stream: String
    /// Records checked (those after the anchor left by pruning).
    public var records: Int
    /// Where the walk started: the last pruned record (0 when nothing was pruned).
    public var anchorSeq: Int64
    /// Every break found, first one first, each naming the record.
    public var problems: [String]
    public var isIntact: Bool { problems.isEmpty }

    public init(stream: String, records: Int, anchorSeq: Int64, problems: [String]) {
        self.stream = stream
        self.records = records
        self.anchorSeq = anchorSeq
        self.problems = problems
    }
}

extension StoreReader {
    /// Walks the hash chain of every sample and event stream (and the audit trail), naming the
    /// first record changed, removed or inserted in each. Reads the rows as stored; the hashes
    /// are recomputed from their canonical bytes (`RecordChain`).
    public func verifyChains() throws(SQLiteError) -> [StreamVerification] {
        var results: [StreamVerification] = []
        let query = try connection.prepare(
            "SELECT stream, last_seq, head_hash, anchor_seq, anchor_hash FROM streams ORDER BY stream")
        var streams: [(String, Int64, String?, Int64, String?)] = []
        while try query.step() {
            streams.append((query.text(0) ?? "", query.int64(1), query.text(2), query.int64(3), query.text(4)))
        }
        for (stream, lastSeq, head, anchorSeq, anchorHash) in streams {
            guard let name = StreamName(stream) else { continue }
            if name == .audit {
                let audit = try verifyAudit()
                results.append(StreamVerification(stream: stream, records: audit.entries, anchorSeq: 0, problems: audit.problems))
                continue
            }
            results.append(try verify(
                stream: stream, table: name.table, lastSeq: lastSeq, head: head, anchorSeq: anchorSeq, anchorHash: anchorHash))
        }
        return results
    }

    private func verify(
        stream: String, table: String, lastSeq: Int64, head: String?, anchorSeq: Int64, anchorHash: String?
    ) throws(SQLiteError) -> StreamVerification {
        var hasher = RecordChain.Hasher()
        var problems: [String] = []
        var previous = anchorHash ?? RecordChain.genesis
        var expected = anchorSeq + 1
        var count = 0
        let isSamples = table == "samples"
        let query = try connection.prepare(
            isSamples
                ? """
                SELECT s.seq, s.device, s.time_ns, s.cycle, s.batch, s.phase, s.spec, l.parameters, s.readings, s.hash
                FROM samples s JOIN layouts l ON l.id = s.layout WHERE s.stream = ? AND s.seq > ? ORDER BY s.seq
                """
                : "SELECT seq, device, time_ns, kind, alarm, batch, phase, spec, body, hash FROM events WHERE stream = ? AND seq > ? ORDER BY seq")
        query.bind(1, stream)
        query.bind(2, anchorSeq)
        while try query.step() {
            count += 1
            let seq = query.int64(0)
            let stored = query.text(9)
            if seq > lastSeq {
                problems.append("record \(seq) was inserted: the store's last number for \(stream) is \(lastSeq)")
            }
            if seq != expected {
                problems.append(
                    seq == expected + 1 ? "record \(expected) was removed" : "records \(expected) to \(seq - 1) were removed")
                previous = stored ?? previous
                expected = seq + 1
                continue
            }
            let computed =
                isSamples
                ? hasher.sample(
                    previous: previous, stream: stream, seq: seq, device: query.text(1) ?? "", timeNanoseconds: query.int64(2),
                    cycle: query.int64(3), batch: query.text(4), phase: query.text(5), spec: query.text(6),
                    parameters: query.text(7) ?? "", readings: query.blob(8))
                : hasher.event(
                    previous: previous, stream: stream, seq: seq, device: query.text(1) ?? "", timeNanoseconds: query.int64(2),
                    kind: query.text(3) ?? "", alarm: query.text(4), batch: query.text(5), phase: query.text(6), spec: query.text(7),
                    body: query.text(8) ?? "")
            if computed != stored {
                problems.append("record \(seq) does not match its hash: it, or the record before it, was changed")
            }
            previous = stored ?? computed
            expected = seq + 1
        }
        if expected <= lastSeq {
            problems.append(
                expected == lastSeq ? "record \(lastSeq) was removed from the end" : "records \(expected) to \(lastSeq) were removed from the end")
        } else if problems.isEmpty, let head, head != previous {
            problems.append("the last record's hash differs from the chain head the store recorded")
        }
        return StreamVerification(stream: stream, records: count, anchorSeq: anchorSeq, problems: problems)
    }
}
