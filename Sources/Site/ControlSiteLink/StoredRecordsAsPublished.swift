import Foundation
import POCareContract
import SiteStore

// The site store's rows as the contract publishes them: one mapping, so the link, the
// benchmarks and the tests write the same messages from what the store holds.

extension StoredSample {
    public var published: PublishedSample {
        PublishedSample(
            seq: seq, time: time, cycle: cycle, batch: context.batchId, phase: context.phase, spec: context.specFingerprint,
            readings: readings, labels: labels?.byParameter, hash: hash, previousHash: previousHash,
            timeNanoseconds: timeNanoseconds)
    }
}

extension StoredEvent {
    public var published: PublishedEvent {
        PublishedEvent(
            seq: seq, stream: stream, device: device, time: time, kind: kind, batch: batchId, phase: phase, spec: specFingerprint,
            body: body, hash: hash, previousHash: previousHash, timeNanoseconds: timeNanoseconds, alarm: alarm)
    }
}

extension AuditEntry {
    public var published: PublishedAuditEntry {
        PublishedAuditEntry(
            seq: seq, time: time, timeNanoseconds: timeNanoseconds, user: action.user, action: action.action, target: action.target,
            reason: action.reason, oldValue: action.oldValue, newValue: action.newValue, previousHash: previousHash, hash: hash)
    }
}

extension Contract {
    /// A telemetry message of stored samples (the link itself writes it with `TelemetryEncoder`).
    public static func telemetry(
        site: String, device: String, samples: ArraySlice<StoredSample>, sent: Date, epoch: String? = nil, labels: Labels = [:]
    ) -> [UInt8] {
        telemetry(site: site, device: device, samples: samples.map(\.published), sent: sent, epoch: epoch, labels: labels)
    }

    public static func event(site: String, event: StoredEvent, epoch: String? = nil) -> [UInt8] {
        self.event(site: site, event: event.published, epoch: epoch)
    }

    public static func audit(site: String, entry: AuditEntry, epoch: String? = nil) -> [UInt8] {
        audit(site: site, entry: entry.published, epoch: epoch)
    }
}
