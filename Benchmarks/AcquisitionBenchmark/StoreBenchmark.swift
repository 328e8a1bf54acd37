import ArgumentParser
import Foundation
import POCareCore
import SiteStore
import POCareContract

/// Sustained ingest of the site store against bare sqlite3 inserts of the same rows, in the
/// same transaction sizes, in the same run; and the read-back rate replay after an outage gets.
struct StoreBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Site store ingest (FULL and NORMAL) against bare sqlite3, and replay read rate.")

    @Option(help: "Rows (samples of 10 values) per measurement.")
    var rows = 200_000

    @Option(help: "Rows per transaction, for bare inserts and the store's group commit.")
    var transactionRows = 1000

    @Option(help: "Folder for the benchmark databases (deleted afterwards).")
    var directory: String = FileManager.default.temporaryDirectory.path

    func run() async throws {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent("pocare-store-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let readings = (0..<10).map { Reading(parameterId: "p\($0)", value: .number(37 + Double($0) / 10), quality: .good) }
        let parameters = readings.map(\.parameterId)

        var table = [["measure", "synchronous", "rows/s", "values/s"]]
        var bareFull = 0.0
        var storeFull = 0.0
        var replay = 0.0
        for mode in [SiteStore.Synchronous.full, .normal] {
            let bare = try bareInserts(path: folder.appendingPathComponent("bare-\(mode.rawValue).db").path, mode: mode, readings: readings)
            let path = folder.appendingPathComponent("store-\(mode.rawValue).db").path
            let store = try await storeIngest(path: path, mode: mode, readings: readings, parameters: parameters)
            table.append(["bare sqlite3 inserts, \(transactionRows) rows per transaction", mode.rawValue, fmt(bare), fmt(bare * 10)])
            table.append(["site store, group commit", mode.rawValue, fmt(store), fmt(store * 10)])
            if mode == .full {
                bareFull = bare
                storeFull = store
                replay = try replayRead(path: path)
            }
        }
        table.append(["replay read-back (in sequence order, decoded)", "-", fmt(replay), fmt(replay * 10)])
        print("| " + table[0].joined(separator: " | ") + " |")
        print("|" + String(repeating: " --- |", count: table[0].count))
        for row in table.dropFirst() { print("| " + row.joined(separator: " | ") + " |") }
        print("")
        print("store with FULL at \(String(format: "%.0f", storeFull / bareFull * 100)) % of bare FULL inserts (goal ≥ 50 %); replay at \(String(format: "%.1f", replay / storeFull))× ingest (goal ≥ 1×)")
    }

    func fmt(_ v: Double) -> String { String(format: "%.0f", v) }

    /// The same row shape as the store's samples table, inserted directly.
    func bareInserts(path: String, mode: SiteStore.Synchronous, readings: [Reading]) throws -> Double {
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode = WAL")
        try connection.execute("PRAGMA synchronous = \(mode.rawValue)")
        try connection.execute("""
            CREATE TABLE samples (stream TEXT NOT NULL, seq INTEGER NOT NULL, device TEXT NOT NULL, time_ns INTEGER NOT NULL,
              cycle INTEGER NOT NULL, batch TEXT, phase TEXT, spec TEXT, layout INTEGER NOT NULL, readings BLOB NOT NULL,
              PRIMARY KEY (stream, seq)) WITHOUT ROWID
            """)
        let insert = try connection.prepare(
            "INSERT INTO samples (stream, seq, device, time_ns, cycle, batch, phase, spec, layout, readings) VALUES (?,?,?,?,?,?,?,?,?,?)")
        let blob = SampleCodec.encode(readings)
        let start = Date()
        var seq: Int64 = 0
        while seq < Int64(rows) {
            try connection.execute("BEGIN")
            for _ in 0..<transactionRows {
                seq += 1
                insert.reset()
                insert.bind(1, "bench/telemetry")
                insert.bind(2, seq)
                insert.bind(3, "bench")
                insert.bind(4, seq * 1_000_000_000)
                insert.bind(5, seq)
                insert.bind(6, "B-1")
                insert.bind(7, "expansion")
                insert.bind(8, "sha256:0")
                insert.bind(9, Int64(1))
                insert.bind(10, blob: blob)
                try insert.run()
            }
            try connection.execute("COMMIT")
        }
        return Double(rows) / Date().timeIntervalSince(start)
    }

    func storeIngest(path: String, mode: SiteStore.Synchronous, readings: [Reading], parameters: [String]) async throws -> Double {
        var settings = SiteStore.Settings(path: path)
        settings.synchronous = mode
        settings.commitRows = transactionRows
        settings.freeSpaceWarningBytes = 0
        settings.freeSpaceLimitBytes = 0
        let store = try SiteStore(settings: settings)
        let context = SampleContext(batchId: "B-1", phase: "expansion", specFingerprint: "sha256:0")
        let start = Date()
        for n in 0..<rows {
            let sample = Sample(
                deviceId: "bench", time: Date(timeIntervalSince1970: Double(n)), monotonicTime: Int64(n), cycle: UInt64(n),
                startLateness: .zero, missedCycles: 0, readings: readings)
            store.append(sample, context: context, parameters: parameters)
            // Keep the producer at most a few transactions ahead, as a daemon is.
            if n % transactionRows == 0 { while store.pendingRows > transactionRows * 4 { usleep(200) } }
        }
        await store.flush()
        let rate = Double(rows) / Date().timeIntervalSince(start)
        store.close()
        return rate
    }

    func replayRead(path: String) throws -> Double {
        let reader = try StoreReader(path: path)
        let start = Date()
        var after: Int64 = 0
        var count = 0
        while true {
            let page = try reader.samples(stream: .telemetry(device: "bench"), after: after, limit: 1000)
            guard let last = page.last else { break }
            after = last.seq
            count += page.count
        }
        precondition(count == rows, "replay read \(count) of \(rows) rows")
        return Double(count) / Date().timeIntervalSince(start)
    }
}
