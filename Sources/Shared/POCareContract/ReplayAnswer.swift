/// A site's answer on `…/replay/status`, as the Control Site records it. Pure, so every rule has
/// a unit test; anything that does not read as an answer is refused with the reason.
public struct ReplayAnswer: Sendable, Equatable {
    /// What the answer means for the Control Site's bookkeeping.
    public enum Outcome: String, Sendable, Equatable {
        /// The site will send `sending` (records of the range it holds and has committed).
        case accepted
        /// The last record of the range was published.
        case done
        /// The site is rate-limiting requests: ask again later.
        case busy
        /// Nothing of the range is committed yet: the Control Site holds the stream's tail.
        case nothingNew = "nothing_new"
        /// Never answerable: another epoch, an unknown stream, or everything pruned.
        case refused
    }

    public var site: String
    public var id: String
    public var stream: String
    public var epoch: String
    public var from: Int64
    public var to: Int64
    public var outcome: Outcome
    public var reason: String?
    /// The start of the range up to here the site no longer holds.
    public var prunedThrough: Int64?
    public var sending: ClosedRange<Int64>?

    public struct Unreadable: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Reads an answer from `site`'s `replay/status` topic. An answer to a request that could
    /// not be read (`request: null`) names no range, so it is unreadable here as well.
    public static func parse(site: String, payload: [UInt8]) throws(Unreadable) -> ReplayAnswer {
        func unreadable(_ text: String) -> Unreadable { Unreadable(description: "replay answer from \(site): \(text)") }
        let fields: JSONFields
        do { fields = try JSONFields(payload) } catch { throw unreadable("\(error)") }
        guard fields.string("schema") == "pocare/v1/replay_status" else { throw unreadable("schema is not pocare/v1/replay_status") }
        if let named = fields.string("site"), named != site { throw unreadable("names site '\(named)'") }
        // A request field that does not parse is answered as missing, below.
        guard let requestBytes = fields.raw("request"), let request = try? JSONFields(requestBytes) else {
            throw unreadable("no request it answers")
        }
        guard let id = request.string("id"), let stream = request.string("stream"), let epoch = request.string("epoch"),
            let from = request.int("from"), let to = request.int("to"),
            ContractMessage.isSiteSequence(from), ContractMessage.isSiteSequence(to), from <= to
        else { throw unreadable("request needs id, stream, epoch and 1 <= from <= to") }
        let reason = fields.string("reason")
        let pruned = fields.int("pruned_through")
        if let pruned, !ContractMessage.isSiteSequence(pruned) { throw unreadable("pruned_through \(pruned) is not a sequence number") }
        var sending: ClosedRange<Int64>?
        // The range is optional in an answer; one that does not parse is left out.
        if let raw = fields.raw("sending"), let range = try? JSONFields(raw), let a = range.int("from"), let b = range.int("to") {
            guard ContractMessage.isSiteSequence(a), ContractMessage.isSiteSequence(b), a <= b else {
                throw unreadable("sending must be 1 <= from <= to")
            }
            sending = a...b
        }
        let outcome: Outcome
        switch fields.string("state") {
        case "accepted": outcome = .accepted
        case "done": outcome = .done
        case "refused":
            // The site's reasons are plain words; the ones that are not final are told apart here.
            if pruned != nil {
                outcome = .refused
            } else if reason?.hasPrefix("too many") == true {
                outcome = .busy
            } else if reason?.hasPrefix("not proven to be the Control Site's request") == true {
                // Nothing said of the records: the request lacked the Control Site's signature
                // (no `identity_key`, or a key the site does not hold). Asked again, as busy.
                outcome = .busy
            } else if reason?.hasPrefix("not committed yet") == true {
                outcome = .nothingNew
            } else {
                outcome = .refused
            }
        case let other: throw unreadable("unknown state '\(other ?? "none")'")
        }
        return ReplayAnswer(
            site: site, id: id, stream: stream, epoch: epoch, from: from, to: to, outcome: outcome, reason: reason,
            prunedThrough: pruned, sending: sending)
    }

    /// The numbers of the range the site says it has pruned.
    public var prunedRange: ClosedRange<Int64>? {
        guard let prunedThrough, prunedThrough >= from else { return nil }
        return from...min(prunedThrough, to)
    }
}
