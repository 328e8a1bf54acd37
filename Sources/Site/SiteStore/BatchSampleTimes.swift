import CSQLite
import POCareContract
import Foundation

extension StoreReader {
    /// The times (nanoseconds since 1970) of a device's samples of one batch, in sequence order:
    /// what a batch record needs before it reads the samples themselves, to know how long a
    /// value holds (`BatchStatistics.holdLimit`).
    public func sampleTimes(stream: StreamName, batch: String) throws(SQLiteError) -> [Int64] {
        let query = try connection.prepare("SELECT time_ns FROM samples WHERE stream = ? AND batch = ? ORDER BY seq")
        query.bind(1, stream.description)
        query.bind(2, batch)
        var result: [Int64] = []
        while try query.step() { result.append(query.int64(0)) }
        return result
    }
}
