import Logging
import POCareContract

/// Makes sure the month partition of every sample about to be written exists, before the
/// transaction that writes them: creating one takes a lock on all of `samples` for a moment, which
/// must not be held for the length of an ingest transaction. A month not created here (a time in
/// a form other than the site's, or an archived month) still takes its rows: they wait in
/// `samples_default` until their month's partition is made (docs/control-site.md, "Months and
/// archives"). Not thread-safe: the ingest writer's thread owns it.
final class SampleMonthPartitions {
    private var known = Set<String>()

    /// The months (`YYYY-MM`) of the samples in `items` that this instance has not made sure of.
    func unknownMonths(_ items: [IngestWriter.Item]) -> [String] {
        var months = Set<String>()
        for case .message(.records(let message)) in items where message.kind == .sample {
            var previous: Substring.UTF8View?
            for sample in message.samples where IngestWriter.hasSiteTimeForm(sample.time) {
                let month = sample.time.utf8.prefix(7)
                if let previous, previous.elementsEqual(month) { continue }
                previous = month
                guard Self.isMonth(month) else { continue }
                let text = String(decoding: month, as: UTF8.self)
                if !known.contains(text) { months.insert(text) }
            }
        }
        return months.sorted()
    }

    /// `YYYY-MM` with a month from 01 to 12: anything else is left to the default partition.
    static func isMonth(_ bytes: Substring.UTF8View) -> Bool {
        let b = Array(bytes)
        guard b.count == 7, b[4] == UInt8(ascii: "-"), b.indices.allSatisfy({ $0 == 4 || (48...57).contains(b[$0]) }) else { return false }
        let month = Int(b[5] - 48) * 10 + Int(b[6] - 48)
        // Years 1000 to 9999, as `archive` takes them; any other stays in the default partition.
        return (1...12).contains(month) && b[0] != 48
    }

    /// Creates the partitions of `months` that do not exist, each in a statement of its own. A
    /// month that cannot be made now is tried again with the next write: its rows are stored
    /// meanwhile in the default partition, so a failure here never holds up or loses a record.
    func ensure(_ months: [String], on connection: PostgresConnection, logger: Logger) {
        for month in months {
            do {
                try connection.execute("SELECT samples_month_partition(($1 || '-01T00:00:00Z')::timestamptz)", [month])
                known.insert(month)
            } catch {
                logger.warning("a month's partition of samples was not made; its samples wait in the default partition",
                               metadata: ["month": "\(month)", "error": "\(error)"])
            }
        }
    }
}
