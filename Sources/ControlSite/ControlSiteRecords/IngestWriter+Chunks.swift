import POCareContract

/// Ingest and the compact store (`SampleChunkSchema`): every check ingest makes of what is
/// stored (a copy equal to the stored record, a link to the neighbour's hash, a neighbour's time
/// for the rollups) works on rows. A record kept in a chunk that a message meets is therefore
/// made a row again first, under the stream's lock, and compacted again once settled.
extension IngestWriter {
    /// The chunks holding a stored sample that `records` resend, or that neighbours one of
    /// theirs, made rows again.
    func takeOutOfChunks(_ records: [RecordMessage]) throws {
        var ranges: [StreamKey: ClosedRange<Int64>] = [:]
        for message in records where message.kind == .sample {
            let range = (message.seqFirst - 1)...(message.seqLast + 1)
            ranges[message.streamKey] = ranges[message.streamKey].map { min($0.lowerBound, range.lowerBound)...max($0.upperBound, range.upperBound) } ?? range
        }
        guard !ranges.isEmpty else { return }
        let streams = ranges.sorted { $0.key < $1.key }
        try connection.execute("""
            SELECT sample_chunks_expand(u.site, u.epoch, u.stream, u.lo, u.hi)
            FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(site, epoch, stream, lo, hi)
            WHERE EXISTS (SELECT 1 FROM sample_chunks c WHERE c.site = u.site AND c.epoch = u.epoch AND c.stream = u.stream
                                                          AND c.seq_first BETWEEN u.lo - 1023 AND u.hi)
            """, [PostgresArray.text(streams.map(\.key.site)), PostgresArray.text(streams.map(\.key.epoch)),
                  PostgresArray.text(streams.map(\.key.stream)), "{" + streams.map { String($0.value.lowerBound) }.joined(separator: ",") + "}",
                  "{" + streams.map { String($0.value.upperBound) }.joined(separator: ",") + "}"])
    }
}
