import ControlAPI
import POCareCore
import SiteStore

// The socket's verification and audit answers read straight from a store file, so the daemon
// (for any operator, through the socket) and `pocarectl --store` (for whoever can read the
// file) give the same report without the command line linking the daemon.

extension AuditVerificationReport {
    /// Walks the store's audit chain and checks the file; the same whether pocarectl reads the
    /// store itself or asks the daemon.
    public init(_ reader: StoreReader) throws(SQLiteError) {
        let integrity = try reader.integrityCheck()
        let result = try reader.verifyAudit()
        self.init(
            intact: result.isIntact, entries: result.entries, lastHash: result.lastHash, problems: result.problems,
            integrityCheck: integrity)
    }
}

extension VerificationReport {
    /// Walks every chain in the store and checks the file; the same whether pocarectl reads the
    /// store itself or asks the daemon.
    public init(_ reader: StoreReader) throws(SQLiteError) {
        let integrity = try reader.integrityCheck()
        let streams = try reader.verifyChains().map {
            Stream(stream: $0.stream, records: $0.records, anchorSeq: $0.anchorSeq, problems: $0.problems)
        }
        self.init(intact: streams.allSatisfy(\.problems.isEmpty) && integrity == "ok", streams: streams, integrityCheck: integrity)
    }
}

extension AuditEntryList {
    public init(_ reader: StoreReader, _ filter: StoreReader.AuditFilter) throws(SQLiteError) {
        self.init(entries: try reader.auditEntries(filter).map { e in
            Entry(
                seq: e.seq, time: UTCTime.format(e.time), user: e.action.user, action: e.action.action, target: e.action.target,
                reason: e.action.reason, oldValue: e.action.oldValue, newValue: e.action.newValue, hash: e.hash,
                previousHash: e.previousHash)
        })
    }
}

