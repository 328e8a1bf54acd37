import Foundation
import POCareContract

/// What the link hands over of the registers the Control Site publishes to the site: each one
/// read and its hash checked, or the reason it was refused. Whether its version is newer than
/// the one the site holds is the daemon's to decide (it holds the store).
public enum ReceivedRegister: Sendable {
    case accepted(ControlSiteRegister)
    case refused(kind: String, reason: RegisterRefusal)
}

/// Registers as they arrived on the link thread, read on its next turn (never in the MQTT
/// library's callback). Only the latest message of each kind is kept: a register replaces the
/// one before it. Touched by the link thread only.
final class RegisterInbox {
    static let maxKinds = 16
    private var waiting: [String: [UInt8]] = [:]
    private(set) var ignored = 0

    /// Takes a message from `…/register/{kind}`; false when the topic is not a register's.
    func take(topic: String, payload: [UInt8], topics: Topics) -> Bool {
        let prefix = topics.prefix + "/register/"
        guard topic.hasPrefix(prefix) else { return false }
        let kind = String(topic.dropFirst(prefix.count))
        // A register's kind is a short lower-case name; anything else is not a register.
        guard (1...32).contains(kind.count), kind.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || $0 == "_" }) else {
            ignored += 1
            return true
        }
        // An empty retained message clears the topic at the broker; the site keeps what it holds.
        guard !payload.isEmpty else { return true }
        if waiting[kind] != nil || waiting.count < Self.maxKinds { waiting[kind] = payload } else { ignored += 1 }
        return true
    }

    /// Reads and checks every register waiting, and hands each to `deliver`.
    func deliver(site: String, to deliver: (ReceivedRegister) -> Void) {
        guard !waiting.isEmpty else { return }
        let taken = waiting
        waiting = [:]
        for (kind, payload) in taken.sorted(by: { $0.key < $1.key }) {
            switch ControlSiteRegister.decode(payload, site: site, kind: kind) {
            case .success(let register): deliver(.accepted(register))
            case .failure(let refusal): deliver(.refused(kind: kind, reason: refusal))
            }
        }
    }
}
