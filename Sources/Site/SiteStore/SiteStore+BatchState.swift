import POCareContract
import Foundation
import Hashing
import Logging
import POCareCore

extension SiteStore {
    /// Writes what an event changes of the running batches, their shelves and the specs, in the
    /// event's own transaction.
    func apply(_ change: BatchStateChange, at time: Int64) throws(SQLiteError) {
        switch change {
        case .started(let batch, let spec):
            if let spec { try storeSpec(spec, firstSeen: time) }
            try storeStart(of: batch)
        case .phase(let device, let phase):
            let update = try statement("UPDATE running_batches SET phase = ? WHERE device = ?")
            update.bind(1, phase)
            update.bind(2, device)
            try update.run()
        case .ended(let device, let batch, let at, let by, let reason):
            try storeEnd(device: device, batch: batch, at: at, by: by, reason: reason)
        case .shelved(let shelf):
            try storeShelf(shelf)
        case .unshelved(let alarm):
            let delete = try statement("DELETE FROM shelves WHERE alarm = ?")
            delete.bind(1, alarm)
            try delete.run()
        case .outOfService(let record):
            try storeOutOfService(record)
        case .inService(let target):
            let delete = try statement("DELETE FROM out_of_service WHERE target = ?")
            delete.bind(1, target)
            try delete.run()
        case .latched(let alarm, let device, let since):
            let insert = try statement("INSERT OR IGNORE INTO latches (alarm, device, since_ns) VALUES (?,?,?)")
            insert.bind(1, alarm)
            insert.bind(2, device)
            insert.bind(3, since.nanosecondsSince1970)
            try insert.run()
        case .unlatched(let alarm):
            let delete = try statement("DELETE FROM latches WHERE alarm = ?")
            delete.bind(1, alarm)
            try delete.run()
        case .followDevicePhase(let device, let follows):
            let update = try statement("UPDATE running_batches SET follow_device_phase = ? WHERE device = ?")
            update.bind(1, Int64(follows ? 1 : 0))
            update.bind(2, device)
            try update.run()
        case .register(let register):
            try storeRegister(register)
        }
    }

    /// A batch's spec, stored once per fingerprint.
    private func storeSpec(_ spec: StoredSpec, firstSeen time: Int64) throws(SQLiteError) {
        let insert = try statement("""
            INSERT OR IGNORE INTO specs (fingerprint, document, version, canonical, source, first_seen_ns) VALUES (?,?,?,?,?,?)
            """)
        insert.bind(1, spec.fingerprint)
        insert.bind(2, spec.document)
        insert.bind(3, spec.version)
        insert.bind(4, spec.canonical)
        insert.bind(5, spec.source)
        insert.bind(6, time)
        try insert.run()
    }

    /// A batch started or resumed: the device's running batch and the list of batches.
    private func storeStart(of batch: RunningBatch) throws(SQLiteError) {
        // A resumed batch keeps the row it had: when, by whom and why it started.
        let other = try statement("DELETE FROM running_batches WHERE device = ? AND batch <> ?")
        other.bind(1, batch.device)
        other.bind(2, batch.batch)
        try other.run()
        let running = try statement("""
            INSERT OR IGNORE INTO running_batches (device, batch, spec, phase, follow_device_phase, started_ns, started_by, reason)
            VALUES (?,?,?,?,?,?,?,?)
            """)
        running.bind(1, batch.device)
        running.bind(2, batch.batch)
        running.bind(3, batch.spec)
        running.bind(4, batch.phase)
        running.bind(5, Int64(batch.followDevicePhase ? 1 : 0))
        running.bind(6, batch.started.nanosecondsSince1970)
        running.bind(7, batch.startedBy)
        running.bind(8, batch.reason)
        try running.run()
        let listed = try statement(
            "INSERT OR IGNORE INTO batches (device, batch, spec, started_ns, started_by, start_reason) VALUES (?,?,?,?,?,?)")
        listed.bind(1, batch.device)
        listed.bind(2, batch.batch)
        listed.bind(3, batch.spec)
        listed.bind(4, batch.started.nanosecondsSince1970)
        listed.bind(5, batch.startedBy)
        listed.bind(6, batch.reason)
        try listed.run()
    }

    /// A batch ended: it no longer runs, its device's shelves go with it, and the list says
    /// when, by whom and why.
    private func storeEnd(device: String, batch: String, at: Date, by: String?, reason: String?) throws(SQLiteError) {
        let delete = try statement("DELETE FROM running_batches WHERE device = ? AND batch = ?")
        delete.bind(1, device)
        delete.bind(2, batch)
        try delete.run()
        let shelves = try statement("DELETE FROM shelves WHERE device = ?")
        shelves.bind(1, device)
        try shelves.run()
        let update = try statement("UPDATE batches SET ended_ns = ?, ended_by = ?, end_reason = ? WHERE device = ? AND batch = ?")
        update.bind(1, at.nanosecondsSince1970)
        update.bind(2, by)
        update.bind(3, reason)
        update.bind(4, device)
        update.bind(5, batch)
        try update.run()
    }

    private func storeShelf(_ shelf: ShelfRecord) throws(SQLiteError) {
        let insert = try statement(
            "INSERT OR REPLACE INTO shelves (alarm, device, batch, until_ns, user, reason) VALUES (?,?,?,?,?,?)")
        insert.bind(1, shelf.alarm)
        insert.bind(2, shelf.device)
        insert.bind(3, shelf.batch)
        insert.bind(4, shelf.until.nanosecondsSince1970)
        insert.bind(5, shelf.user)
        insert.bind(6, shelf.reason)
        try insert.run()
    }

    private func storeOutOfService(_ record: OutOfServiceRecord) throws(SQLiteError) {
        let insert = try statement(
            "INSERT OR REPLACE INTO out_of_service (target, device, since_ns, user, reason) VALUES (?,?,?,?,?)")
        insert.bind(1, record.target)
        insert.bind(2, record.device)
        insert.bind(3, record.since.nanosecondsSince1970)
        insert.bind(4, record.user)
        insert.bind(5, record.reason)
        try insert.run()
    }

    private func storeRegister(_ register: StoredRegister) throws(SQLiteError) {
        // A version arriving again (a retained message after a reconnect) changes nothing.
        let insert = try statement("""
            INSERT OR IGNORE INTO registers (kind, version, hash, signer_name, signer_user, signed_at, meaning, canonical, received_ns)
            VALUES (?,?,?,?,?,?,?,?,?)
            """)
        insert.bind(1, register.kind)
        insert.bind(2, register.version)
        insert.bind(3, register.hash)
        insert.bind(4, register.signerName)
        insert.bind(5, register.signerUser)
        insert.bind(6, register.signedAt)
        insert.bind(7, register.meaning)
        insert.bind(8, register.canonical)
        insert.bind(9, register.received.nanosecondsSince1970)
        try insert.run()
    }
}
