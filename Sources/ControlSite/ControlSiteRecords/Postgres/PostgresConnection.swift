import CPostgres
import Foundation
import Synchronization

/// A PostgreSQL failure with the server's or libpq's own message and, when the server sent
/// one, its SQLSTATE (`23505` unique violation, `40P01` deadlock, …).
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case connection, statement }
    public var kind: Kind
    public var message: String
    public var sqlState: String?
    public var description: String { message }

    public init(kind: Kind, message: String, sqlState: String? = nil) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
    }

    /// A conflict between concurrent transactions: the same work can simply be tried again.
    /// The database could not do it now but may later, as opposed to refusing what it was given:
    /// a deadlock or serialization failure, a lost connection, resources exhausted (a full disk,
    /// memory, connections), a lock or statement timeout, a shutdown, an I/O error. Ingest retries
    /// these with the same messages; it never refuses a message for them.
    public var isRetryable: Bool {
        guard let state = sqlState else { return false }
        if ["40P01", "40001", "55P03", "55006", "57014"].contains(state) { return true }
        return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P") || state.hasPrefix("58")
    }

    /// Of the retryable errors, those the same statement may meet every time (a statement
    /// timeout, memory or temporary files exhausted by one large batch, a damaged file): tried
    /// again a few times, then taken as the batch's own failure.
    public var mayPersist: Bool {
        guard isRetryable, let state = sqlState else { return false }
        return ["55006", "57014"].contains(state) || state.hasPrefix("53") || state.hasPrefix("58")
    }
}

/// The rows of one statement. Owns its `PGresult` and frees it when released.
public final class PostgresResult {
    private let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    public var rowCount: Int { Int(PQntuples(handle)) }
    public var columnCount: Int { Int(PQnfields(handle)) }
    /// Rows changed by an INSERT, UPDATE or DELETE.
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    public func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(handle, Int32(row), Int32(column)) == 1 }

    /// The value in text form, nil for SQL NULL.
    public func string(_ row: Int, _ column: Int) -> String? {
        guard !isNull(row, column) else { return nil }
        return String(cString: PQgetvalue(handle, Int32(row), Int32(column)))
    }

    /// The value's bytes in text form, nil for SQL NULL: for text parsed by the caller without
    /// making a String of it first.
    public func bytes(_ row: Int, _ column: Int) -> ArraySlice<UInt8>? {
        guard !isNull(row, column), let value = PQgetvalue(handle, Int32(row), Int32(column)) else { return nil }
        let count = Int(PQgetlength(handle, Int32(row), Int32(column)))
        return value.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count))[...] }
    }

    public func int(_ row: Int, _ column: Int) -> Int64? { string(row, column).flatMap { Int64($0) } }
    public func double(_ row: Int, _ column: Int) -> Double? { string(row, column).flatMap { Double($0) } }
    public func bool(_ row: Int, _ column: Int) -> Bool? { string(row, column).map { $0 == "t" } }

    /// The position of the column named `name` in this result. A name the statement does not
    /// return is this software's own mistake, found by the first test that runs the query.
    public func column(_ name: String) -> Int {
        let index = Int(PQfnumber(handle, "\"\(name)\""))
        precondition(index >= 0, "the statement returns no column '\(name)'")
        return index
    }

    /// The value of the column named `name`, in text form; nil for SQL NULL.
    public func string(_ row: Int, _ name: String) -> String? { string(row, column(name)) }
    public func int(_ row: Int, _ name: String) -> Int64? { int(row, column(name)) }
    public func double(_ row: Int, _ name: String) -> Double? { double(row, column(name)) }
    public func bool(_ row: Int, _ name: String) -> Bool? { bool(row, column(name)) }

    /// Each row read into a value by `read`, which reads the row's columns by name.
    public func map<T>(_ read: (Row) throws -> T) rethrows -> [T] {
        try (0..<rowCount).map { try read(Row(result: self, index: $0)) }
    }

    /// One row of a result, read by column name.
    public struct Row {
        let result: PostgresResult
        public let index: Int
        public func string(_ name: String) -> String? { result.string(index, name) }
        public func int(_ name: String) -> Int64? { result.int(index, name) }
        public func double(_ name: String) -> Double? { result.double(index, name) }
        public func bool(_ name: String) -> Bool? { result.bool(index, name) }
        public func isNull(_ name: String) -> Bool { result.isNull(index, result.column(name)) }
    }

    /// Every row as text values, for reports.
    public var rows: [[String?]] {
        (0..<rowCount).map { r in (0..<columnCount).map { c in string(r, c) } }
    }
}

/// One connection to PostgreSQL. Owns its `PGconn` and closes it when released.
///
/// Not thread-safe and blocking: one thread owns it and makes every call (the ingest writer
/// thread, or a command's main thread), never a task on the cooperative pool.
public final class PostgresConnection {
    private let handle: OpaquePointer
    public let connectionInfo: String
    /// A statement sent ahead (`send`) whose answer is not collected yet; its answer once a
    /// statement run meanwhile had to collect it first (libpq runs one statement at a time).
    private var ahead: (sql: String, answer: Result<PostgresResult, PostgresError>?)?

    /// `connectionInfo` is a libpq connection string (`host=… port=… dbname=… user=…`) or URI;
    /// what it leaves out comes from the PG* environment variables, as with psql.
    public init(_ connectionInfo: String) throws(PostgresError) {
        guard let handle = PQconnectdb(connectionInfo) else {
            throw PostgresError(kind: .connection, message: "cannot allocate a PostgreSQL connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(handle)
            throw PostgresError(kind: .connection, message: "cannot connect to PostgreSQL: \(message)")
        }
        self.handle = handle
        self.connectionInfo = connectionInfo
        // Notices (such as "relation already exists, skipping") are not for the terminal.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    deinit { PQfinish(handle) }

    public var isConnected: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Whether a transaction is open on the connection.
    public var inTransaction: Bool { PQtransactionStatus(handle) != PQTRANS_IDLE }

    /// A handle another thread may use to cancel the statement this connection runs.
    public func canceller() -> PostgresCanceller? {
        guard let cancel = PQgetCancel(handle) else { return nil }
        return PostgresCanceller(cancel)
    }

    /// Runs one statement with text parameters `$1`, `$2`, … (nil is SQL NULL).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresResult {
        collectAhead()
        let result: OpaquePointer?
        if parameters.isEmpty {
            result = PQexec(handle, sql)
        } else {
            var cStrings: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.map { strdup($0) } ?? nil }
            defer { cStrings.forEach { free($0) } }
            result = cStrings.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { values in
                    PQexecParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
                }
            }
        }
        return try check(result, sql)
    }

    /// Sends one statement without waiting for its answer, which `received` collects: the
    /// server works on it meanwhile. Nothing else may be sent until it is collected.
    func send(_ sql: String) throws(PostgresError) {
        collectAhead()
        guard PQsendQuery(handle, sql) == 1 else {
            throw PostgresError(kind: isConnected ? .statement : .connection, message: "\(sql): \(lastMessage)")
        }
        ahead = (sql, nil)
    }

    /// The answer to what `send` sent, waiting for it; every result is read, so the connection
    /// is free for the next statement whatever the answer was.
    func received(_ sql: String) throws(PostgresError) -> PostgresResult {
        if let collected = ahead?.answer {
            ahead = nil
            return try collected.get()
        }
        ahead = nil
        return try collect(sql)
    }

    /// A statement about to run while an answer is still coming: that answer is read and kept for `received`.
    private func collectAhead() {
        guard let pending = ahead, pending.answer == nil else { return }
        ahead = (pending.sql, Result { () throws(PostgresError) in try collect(pending.sql) })
    }

    private func collect(_ sql: String) throws(PostgresError) -> PostgresResult {
        var answer: PostgresResult?
        var failure: PostgresError?
        while let result = PQgetResult(handle) {
            do {
                let checked = try check(result, sql)
                if answer == nil { answer = checked }
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
        guard let answer else { throw PostgresError(kind: isConnected ? .statement : .connection, message: "\(sql): no answer") }
        return answer
    }

    /// Runs several statements separated by semicolons (migrations), without parameters.
    public func executeScript(_ sql: String) throws(PostgresError) {
        collectAhead()
        _ = try check(PQexec(handle, sql), sql)
    }

    /// Streams rows in COPY text format into `copyStatement` (`COPY t (a, b) FROM STDIN`).
    public func copy(_ copyStatement: String, data: [UInt8]) throws(PostgresError) {
        try enterCopy(copyStatement, PGRES_COPY_IN)
        guard put(data, copyStatement) == nil, PQputCopyEnd(handle, nil) == 1 else {
            throw PostgresError(kind: .statement, message: "\(copyStatement): \(lastMessage)")
        }
        try copyResult(copyStatement)
    }

    /// Streams rows in COPY text format into `copyStatement`, a piece at a time as `next` gives
    /// them (nil: no more), so a month of records never has to be in memory at once. A piece
    /// that cannot be given ends the COPY with its error, and the server rolls the COPY back.
    public func copy(_ copyStatement: String, pieces next: () throws -> [UInt8]?) throws {
        try enterCopy(copyStatement, PGRES_COPY_IN)
        var failed: Error?
        do {
            while let piece = try next() {
                if let error = put(piece, copyStatement) { throw error }
            }
        } catch {
            failed = error
        }
        let ended = failed.map { error in PQputCopyEnd(handle, "\(error)") } ?? PQputCopyEnd(handle, nil)
        guard ended == 1 else { throw PostgresError(kind: .statement, message: "\(copyStatement): \(lastMessage)") }
        do {
            try copyResult(copyStatement)
        } catch {
            throw failed ?? error
        }
        if let failed { throw failed }
    }

    /// Runs `copyStatement` (`COPY (SELECT …) TO STDOUT`) and hands each row's bytes, as the
    /// server sends them (one COPY text line with its newline), to `row`.
    public func copyOut(_ copyStatement: String, row: (UnsafeRawBufferPointer) throws -> Void) throws {
        try enterCopy(copyStatement, PGRES_COPY_OUT)
        var failed: Error?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 0)
            if length > 0, let buffer {
                defer { PQfreemem(buffer) }
                // After a failure the rest is read and dropped: libpq needs the COPY finished.
                if failed == nil {
                    do { try row(UnsafeRawBufferPointer(start: buffer, count: Int(length))) } catch { failed = error }
                }
                continue
            }
            if length == -2 { throw PostgresError(kind: isConnected ? .statement : .connection, message: "\(copyStatement): \(lastMessage)") }
            break  // -1: done
        }
        do {
            try copyResult(copyStatement)
        } catch {
            throw failed ?? error
        }
        if let failed { throw failed }
    }

    private func enterCopy(_ statement: String, _ mode: ExecStatusType) throws(PostgresError) {
        collectAhead()
        let started = PQexec(handle, statement)
        guard let started, PQresultStatus(started) == mode else {
            _ = try check(started, statement)
            throw PostgresError(kind: .statement, message: "\(statement): the server did not enter COPY mode")
        }
        PQclear(started)
    }

    /// Sends one piece of COPY data; the error when it could not be sent.
    private func put(_ bytes: [UInt8], _ statement: String) -> PostgresError? {
        let sent = bytes.withUnsafeBytes { raw -> Int32 in
            raw.baseAddress.map { PQputCopyData(handle, $0.assumingMemoryBound(to: CChar.self), Int32(raw.count)) } ?? 1
        }
        return sent == 1 ? nil : PostgresError(kind: .statement, message: "\(statement): \(lastMessage)")
    }

    /// The COPY's own result, then nothing: libpq needs every result read before the next command.
    private func copyResult(_ statement: String) throws(PostgresError) {
        var failure: PostgresError?
        while let result = PQgetResult(handle) {
            do { _ = try check(result, statement) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    public func begin() throws(PostgresError) { try execute("BEGIN") }
    public func commit() throws(PostgresError) { try execute("COMMIT") }
    // Best-effort cleanup after a failure: a connection that cannot roll back is broken, and its next statement says so.
    public func rollback() { _ = try? execute("ROLLBACK") }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try begin()
        do {
            let value = try body()
            try commit()
            return value
        } catch {
            rollback()
            throw error
        }
    }

    private var lastMessage: String {
        String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func check(_ result: OpaquePointer?, _ sql: String) throws(PostgresError) -> PostgresResult {
        guard let result else {
            throw PostgresError(kind: isConnected ? .statement : .connection, message: lastMessage)
        }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN else {
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            PQclear(result)
            let statement = sql.split(separator: "\n").first.map(String.init) ?? sql
            throw PostgresError(
                kind: isConnected ? .statement : .connection,
                message: "\(message) (in: \(statement.prefix(120)))", sqlState: state)
        }
        return PostgresResult(result)
    }
}

/// Cancels the statement a connection is running, from any thread (libpq's `PQcancel` is made
/// for that). Owns its `PGcancel` and frees it when released. The pointer is kept as its bit
/// pattern under a lock: a plain integer crosses threads, and only this type turns it back.
public final class PostgresCanceller: Sendable {
    private let handle: Mutex<UInt>

    init(_ handle: OpaquePointer) { self.handle = Mutex(UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))) }

    deinit {
        handle.withLock { if let pointer = OpaquePointer(bitPattern: $0) { PQfreeCancel(pointer) } }
    }

    /// Asks the server to cancel what the connection runs now; false when the request could not be sent.
    @discardableResult
    public func cancel() -> Bool {
        handle.withLock { bits in
            guard let pointer = OpaquePointer(bitPattern: bits) else { return false }
            var message = [CChar](repeating: 0, count: 256)
            return PQcancel(pointer, &message, Int32(message.count)) == 1
        }
    }
}
