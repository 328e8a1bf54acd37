import Foundation
import POCareCore

/// A Control Site's request to publish a range of one stream again (`…/replay`). It can do
/// nothing else: it is read, checked and answered from the store by the link thread; it never
/// changes the store, the watermarks or any other state of the site.
public struct ReplayRequest: Sendable, Hashable {
    public static let maxPayloadBytes = 1024
    /// Records one request may ask for, at most.
    public static let maxRecords: Int64 = 100_000

    /// An id of the requester's choosing, echoed in the answers (at most 64 characters).
    public var id: String
    public var stream: StreamName
    public var epoch: String
    public var from: Int64
    public var to: Int64

    public init(id: String, stream: StreamName, epoch: String, from: Int64, to: Int64) {
        self.id = id
        self.stream = stream
        self.epoch = epoch
        self.from = from
        self.to = to
    }

    /// Reads a request; the reason it is refused otherwise.
    public static func parse(_ payload: [UInt8]) -> Result<ReplayRequest, ReplayRefusal> {
        guard payload.count <= maxPayloadBytes else { return .failure(.init("request larger than \(maxPayloadBytes) bytes")) }
        // Why it does not parse is not needed: the refusal says it is not a JSON object.
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
            return .failure(.init("not a JSON object"))
        }
        // The signature's fields are read by `SignedReplayRequest`.
        let allowed = Set(["schema", "id", "stream", "epoch", "from", "to"]).union(SignedReplayRequest.fields)
        if let unknown = object.keys.first(where: { !allowed.contains($0) }) { return .failure(.init("unknown field '\(unknown)'")) }
        let id = object["id"] as? String ?? ""
        guard id.count <= 64, id.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else {
            return .failure(.init("id must be at most 64 printable ASCII characters"))
        }
        guard let streamText = object["stream"] as? String, streamText.count <= 200, let stream = StreamName(streamText) else {
            return .failure(.init("stream must name a stream of the site (`{device}/telemetry`, `{device}/events`, `site/events`, `audit`)"))
        }
        guard let epoch = object["epoch"] as? String, epoch.count <= 64 else { return .failure(.init("epoch is required")) }
        guard let from = (object["from"] as? NSNumber).flatMap(exactInteger), let to = (object["to"] as? NSNumber).flatMap(exactInteger),
            from >= 1, to >= from
        else { return .failure(.init("from and to must be whole numbers with 1 <= from <= to")) }
        guard to - from < maxRecords else { return .failure(.init("at most \(maxRecords) records per request")) }
        return .success(ReplayRequest(id: id, stream: stream, epoch: epoch, from: from, to: to))
    }

    /// The request as a consumer sends it on `…/replay`: the form `parse` reads, so a Control
    /// Site asks in exactly the words the site understands.
    public var payload: [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.raw("{\"schema\":\"\(Topics.schemaVersion)/replay_request\",\"id\":")
        w.string(id)
        w.raw(",\"stream\":")
        w.string(stream.description)
        w.raw(",\"epoch\":")
        w.string(epoch)
        w.raw(",\"from\":\(from),\"to\":\(to)}")
        return w.bytes
    }

    private static func exactInteger(_ number: NSNumber) -> Int64? {
        let value = number.doubleValue
        guard value.rounded() == value, abs(value) < 1e15 else { return nil }
        return Int64(value)
    }
}

public struct ReplayRefusal: Error, Sendable, Hashable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}

extension Topics {
    /// Where the site listens for replay requests.
    public var replay: String { "\(prefix)/replay" }
    /// Where the site answers them.
    public var replayStatus: String { "\(prefix)/replay/status" }
}

extension Contract {
    /// One answer to a replay request: `accepted` (the range that will be sent), `done`, or
    /// `refused` with a reason; `pruned_through` says which part of the range the store no longer
    /// holds. `request` echoes what was understood (null for a request that could not be read).
    public static func replayStatus(
        site: String, epoch: String, request: ReplayRequest?, state: String, reason: String? = nil,
        prunedThrough: Int64? = nil, sending: ClosedRange<Int64>? = nil, time: Date = Date()
    ) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.raw("{\"schema\":\"\(Topics.schemaVersion)/replay_status\",\"site\":")
        w.string(site)
        w.raw(",\"epoch\":")
        w.string(epoch)
        w.raw(",\"time\":")
        w.time(time)
        w.raw(",\"request\":")
        if let request {
            w.raw("{\"id\":")
            w.string(request.id)
            w.raw(",\"stream\":")
            w.string(request.stream.description)
            w.raw(",\"epoch\":")
            w.string(request.epoch)
            w.raw(",\"from\":\(request.from),\"to\":\(request.to)}")
        } else {
            w.raw("null")
        }
        w.raw(",\"state\":")
        w.string(state)
        w.raw(",\"reason\":")
        w.optional(reason)
        w.raw(",\"pruned_through\":")
        w.raw(prunedThrough.map { "\($0)" } ?? "null")
        w.raw(",\"sending\":")
        w.raw(sending.map { "{\"from\":\($0.lowerBound),\"to\":\($0.upperBound)}" } ?? "null")
        w.raw("}")
        return w.bytes
    }
}
