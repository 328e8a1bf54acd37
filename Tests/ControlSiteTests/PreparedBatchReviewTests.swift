import ControlSiteQuality
import ControlSiteRecords
import Foundation
import POCareCore
import Testing
import TestSupport

/// A batch's review reads every sample of the batch; for a batch of weeks that is longer than a
/// page may take. What it reads is kept for the version of the record it was read at, and is
/// never shown for another.
@Suite("A batch's review read once per version of its record")
struct PreparedBatchReviewTests {
    static let site = WebFixture.site, batch = WebFixture.batch

    static func reader() -> PreparedBatchReviews.Reader {
        var series = BatchSeriesReader.Limits()
        series.plotColumns = 120
        return .init(series: series, labels: LabelSeriesReader.Limits())
    }

    /// The page's reader, as `BatchReviewPage.Limits` makes it from the settings.
    static func pageReader(_ settings: WebSettings) -> PreparedBatchReviews.Reader {
        var series = BatchSeriesReader.Limits()
        series.maxParameters = settings.pageMaxParameters
        series.maxSampleBytes = settings.pageMaxSampleBytes
        series.plotColumns = 900
        var labels = LabelSeriesReader.Limits()
        labels.maxParameters = settings.pageMaxParameters
        labels.maxSampleBytes = settings.pageMaxSampleBytes
        labels.maxChanges = max(100, settings.pageMaxRows)
        return .init(series: series, labels: labels)
    }

    /// Ends A-1 as its site would: its batch_ended event.
    static func end(_ fixture: WebFixture) throws {
        try fixture.db.write([SiteFeed(site: site).event("rocker-1", seq: 6, kind: "batch_ended", batch: batch, phase: "expansion", spec: fixture.spec,
                                                          body: "{\"kind\":\"batch_ended\",\"reason\":\"run complete\"}")])
    }

    static func kept(_ db: IngestDatabase) throws -> String? {
        try db.scalar("SELECT prepared::text FROM prepared_batch_reviews WHERE site = $1 AND batch = $2", [site, batch])
    }

    @Test("what is kept is what reading the samples gives; it is used while the record stands, and read again when a sample, or a device's metadata, changes")
    func keptWhileTheRecordStands() async throws {
        let fixture = try await WebFixture()
        let db = fixture.db, c = db.connection, lookup = SpecLookup(profilesDirectory: shippedProfiles)
        func specs(_ fingerprint: String) throws -> IPCSpec? { try lookup.ran(fingerprint, on: c) }

        let first = try PreparedBatchReviews.parts(site: Self.site, batch: Self.batch, specs: specs, reader: Self.reader(), on: c)
        #expect(try PreparedBatchReviews.isPrepared(site: Self.site, batch: Self.batch, reader: Self.reader(), on: c))
        let fresh = try PreparedBatchReviews.read(site: Self.site, batch: Self.batch, specs: specs, reader: Self.reader(), on: c)
        #expect(first == fresh)
        #expect(first.statistics.first?.samples == 160 && first.labels != nil)
        let keptAt = try Self.kept(db)
        #expect(try PreparedBatchReviews.parts(site: Self.site, batch: Self.batch, specs: specs, reader: Self.reader(), on: c) == fresh)
        #expect(try Self.kept(db) == keptAt, "read again though the record had not changed")

        let hash = try #require(try BatchRecordDigest.current(site: Self.site, batch: Self.batch, on: c))
        #expect(hash == (try BatchRecordDigest.hash(site: Self.site, batch: Self.batch, on: c)))
        #expect(try db.count("SELECT count(*) FROM batch_record_hashes WHERE batch = 'A-1'") == 1)

        // A sample removed in place: the record's version moves, the kept parts and hash are not used.
        try c.execute("DELETE FROM samples WHERE site = $1 AND stream = 'rocker-1/telemetry' AND seq = 20", [Self.site])
        #expect(try !PreparedBatchReviews.isPrepared(site: Self.site, batch: Self.batch, reader: Self.reader(), on: c))
        let after = try PreparedBatchReviews.parts(site: Self.site, batch: Self.batch, specs: specs, reader: Self.reader(), on: c)
        #expect(after.statistics.first?.samples == 159)
        #expect(after == (try PreparedBatchReviews.read(site: Self.site, batch: Self.batch, specs: specs, reader: Self.reader(), on: c)))
        let changedHash = try BatchRecordDigest.current(site: Self.site, batch: Self.batch, on: c)
        let recomputed = try BatchRecordDigest.hash(site: Self.site, batch: Self.batch, on: c)
        #expect(changedHash != hash && changedHash == recomputed)

        // A value changed in place is a change of the record as well.
        try c.execute("""
            UPDATE samples SET "values" = jsonb_set("values"::jsonb, '{temperature}', '45')::json WHERE site = $1 AND stream = 'rocker-1/telemetry' AND seq = 21
            """, [Self.site])
        let raised = try PreparedBatchReviews.parts(site: Self.site, batch: Self.batch, specs: specs, reader: Self.reader(), on: c)
        let temperature = raised.statistics.first?.summary.phases.flatMap(\.parameters).filter { $0.parameter == "temperature" } ?? []
        #expect(temperature.contains { $0.max == 45 }, "\(temperature.map(\.max))")
        #expect(try BatchRecordDigest.current(site: Self.site, batch: Self.batch, on: c) != changedHash)

        // The device's metadata decides which parameters are followed: changed, the parts are read again.
        try c.execute("""
            UPDATE device_metadata SET metadata = jsonb_set(metadata, '{parameters}',
                (SELECT jsonb_agg(p) FROM jsonb_array_elements(metadata->'parameters') p WHERE p->>'id' <> 'ph'))
            WHERE site = $1 AND device = 'rocker-1'
            """, [Self.site])
        #expect(try !PreparedBatchReviews.isPrepared(site: Self.site, batch: Self.batch, reader: Self.reader(), on: c))
        let narrowed = try PreparedBatchReviews.parts(site: Self.site, batch: Self.batch, specs: specs, reader: Self.reader(), on: c)
        #expect(narrowed == (try PreparedBatchReviews.read(site: Self.site, batch: Self.batch, specs: specs, reader: Self.reader(), on: c)))
        #expect(narrowed != raised)
    }

    @Test("a batch page over its budget is prepared without it, and then shown from what was read, with its samples locked away")
    func pageOverBudgetIsPrepared() async throws {
        let fixture = try await WebFixture { $0.pageBudgetSeconds = 1 }
        let web = fixture.client()
        try await web.signIn("petra", WebFixture.password)
        let path = "/batches/\(Self.site)/\(Self.batch)"
        try Self.end(fixture)
        let lock = try PostgresConnection(fixture.db.connectionInfo)
        try lock.execute("BEGIN")
        try lock.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
        let waiting = try await web.get(path)
        #expect(waiting.status == 503 && waiting.body.contains("Being prepared"), "\(waiting.body.prefix(400))")
        #expect(waiting.headers["refresh"] == "10" && waiting.headers["retry-after"] == "10")
        #expect(waiting.body.contains("pocare-control batch site-a A-1"))
        try lock.execute("ROLLBACK")
        // The preparer, waiting on the same lock, reads the batch as soon as it is free.
        #expect(try await waitFor(upTo: .seconds(60)) {
            try fixture.db.count("""
                SELECT count(*) FROM prepared_batch_reviews p JOIN batch_record_versions v USING (site, batch)
                WHERE p.site = 'site-a' AND p.batch = 'A-1' AND p.version = v.version
                """) == 1
        })
        let shown = try await web.get(path)
        #expect(shown.status == 200, "\(shown.body.prefix(300))")

        // Nothing on the page reads a sample now: with every sample locked, it still answers within its budget.
        try lock.execute("BEGIN")
        try lock.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
        let again = try await web.get(path)
        let json = try await web.get(path + "/record.json")
        try lock.execute("ROLLBACK")
        #expect(again.status == 200 && again.body == shown.body, "\(again.body.prefix(300))")
        #expect(json.status == 200 && json.body.contains("\"statistics\""), "\(json.body.prefix(300))")
        // A record hash on the page is the record's as it is.
        let hash = try #require(try BatchRecordDigest.hash(site: Self.site, batch: Self.batch, on: fixture.db.connection))
        #expect(again.body.contains(hash))
    }

    @Test("ended batches are prepared in the preparer's rounds before anyone asks; a running batch when its page asks")
    func endedBatchesPreparedAhead() async throws {
        // A page may read 10 samples per device: reading either batch on request is refused.
        let fixture = try await WebFixture {
            $0.prepareIntervalSeconds = 0.2
            $0.pageMaxSamples = 10
        }
        let db = fixture.db, ended = WebFixture.endedBatch
        #expect(try await waitFor(upTo: .seconds(60)) {
            try db.count("SELECT count(*) FROM prepared_batch_reviews WHERE site = 'site-a' AND batch = '\(ended)'") == 1
                && db.count("SELECT count(*) FROM batch_record_hashes WHERE site = 'site-a' AND batch = '\(ended)'") == 1
                && db.count("SELECT count(*) FROM batch_chain_walks WHERE site = 'site-a' AND batch = '\(ended)'") == 1
        })
        #expect(try db.count("SELECT count(*) FROM prepared_batch_reviews WHERE batch = 'A-1'") == 0)
        let web = fixture.client()
        try await web.signIn("petra", WebFixture.password)
        let page = try await web.get("/batches/site-a/\(ended)")
        #expect(page.status == 200 && page.body.contains("str-1"), "\(page.body.prefix(300))")
        #expect(page.body.contains("Every chain segment of this batch is covered by a verified site signature."))

        // A-1 is running: its record keeps changing, so its page is not prepared; it is shown from its minute rollups, saying why.
        let running = try await web.get("/batches/site-a/A-1")
        #expect(running.status == 200 && running.body.contains("minute rollups") && running.body.contains("more than the 10 a page reads"),
                "\(running.body.prefix(400))")
        try await Task.sleep(for: .seconds(1))
        #expect(try db.count("SELECT count(*) FROM prepared_batch_reviews WHERE batch = 'A-1'") == 0)
        // Ended, it is prepared when its page asks (the rounds would find it as well).
        try Self.end(fixture)
        let asked = try await web.get("/batches/site-a/A-1")
        #expect(asked.status == 200 || asked.body.contains("Being prepared"), "\(asked.body.prefix(400))")
        #expect(try await waitFor(upTo: .seconds(60)) { try PreparedBatchReviews.isPrepared(site: Self.site, batch: Self.batch, reader: Self.pageReader(fixture.settings), on: db.connection) })
        // The preparer lets the batch go a moment after its reading is kept: a page asked in that
        // moment still says "Being prepared" and reloads, as a user's would.
        var shown = try await web.get("/batches/site-a/A-1")
        for _ in 0..<50 where shown.status == 503 {
            try await Task.sleep(for: .milliseconds(200))
            shown = try await web.get("/batches/site-a/A-1")
        }
        #expect(shown.status == 200, "\(shown.body.prefix(300))")
    }

    @Test("a chain segment's own records are walked once per version of the batch's record; the walk kept is the walk now")
    func chainWalksKept() async throws {
        let fixture = try await WebFixture()
        let c = fixture.db.connection, ended = WebFixture.endedBatch
        let fresh = try ChainCoverage.segments(site: Self.site, batch: ended, on: c)
        #expect(!fresh.isEmpty && fresh.allSatisfy(\.isCovered), "\(fresh)")
        #expect(try ChainCoverage.segments(site: Self.site, batch: ended, keptWalks: true, on: c) == fresh)
        #expect(try fixture.db.count("SELECT count(*) FROM batch_chain_walks WHERE batch = '\(ended)'") == 1)
        #expect(try ChainCoverage.segments(site: Self.site, batch: ended, keptWalks: true, on: c) == fresh)
        // A record of the segment gone: the kept walk is not used, and the segment is no longer covered.
        try c.execute("DELETE FROM samples WHERE site = $1 AND stream = 'str-1/telemetry' AND seq = 30", [Self.site])
        let now = try ChainCoverage.segments(site: Self.site, batch: ended, on: c)
        #expect(now.contains { $0.problem?.contains("1 records between") == true }, "\(now)")
        #expect(try ChainCoverage.segments(site: Self.site, batch: ended, keptWalks: true, on: c) == now)
        // A segment with a number missing could be filled without its batch's version moving: its walk is not kept.
        #expect(try fixture.db.count("""
            SELECT count(*) FROM batch_chain_walks w JOIN batch_record_versions v USING (site, batch) WHERE w.batch = '\(ended)' AND w.version = v.version
            """) == 0)
    }

    @Test("a signature binds the hash of the rows as they are, never a kept one: a kept hash altered in the database is refused at signing")
    func signatureNeverTakesAKeptHash() async throws {
        let fixture = try await WebFixture()
        let path = "/batches/\(Self.site)/\(WebFixture.endedBatch)"
        let quinn = fixture.client()
        try await quinn.signIn("quinn", WebFixture.password)
        let real = try #require(quinn.hiddenField(try await quinn.get(path).body, "record_hash"))
        #expect(try fixture.db.count("SELECT count(*) FROM batch_record_hashes WHERE batch = '\(WebFixture.endedBatch)' AND record_hash = '\(real)'") == 1)
        let forged = String(repeating: "f", count: 64)
        try fixture.db.connection.execute("UPDATE batch_record_hashes SET record_hash = $1 WHERE batch = $2", [forged, WebFixture.endedBatch])
        let shown = try await quinn.get(path)
        #expect(quinn.hiddenField(shown.body, "record_hash") == forged, "the page shows what is kept")
        let token = try await quinn.csrfToken()
        let refused = try await quinn.post("\(path)/sign", [("csrf", token), ("meaning", "reviewed"), ("record_hash", forged),
                                                            ("password", WebFixture.password)])
        #expect(refused.status == 409 || refused.status == 400, "\(refused.status) \(refused.body.prefix(300))")
        let signed = try await quinn.post("\(path)/sign", [("csrf", token), ("meaning", "reviewed"), ("record_hash", real),
                                                           ("password", WebFixture.password)])
        #expect(signed.status == 303, "\(signed.body.prefix(300))")
        // The signature stored the hash of the rows, and the kept hash is the rows' again.
        #expect(try fixture.db.count("SELECT count(*) FROM batch_signatures WHERE batch = '\(WebFixture.endedBatch)' AND record_hash = '\(real)'") == 1)
        #expect(try fixture.db.count("SELECT count(*) FROM batch_record_hashes WHERE batch = '\(WebFixture.endedBatch)' AND record_hash = '\(real)'") == 1)
    }

    @Test("a signature reads the batch from its rows under a budget of its own, not a page's: beyond it the signature is refused and says why; within it, recorded")
    func signatureHasItsOwnBudget() async throws {
        // The signature's budget well beyond the hold below: reading the rows after the lock is
        // released took over 1.5 s on a machine busy with the rest of the suite.
        let fixture = try await WebFixture {
            $0.pageBudgetSeconds = 1
            $0.signBudgetSeconds = 10
        }
        let path = "/batches/\(Self.site)/\(WebFixture.endedBatch)"
        let quinn = fixture.client()
        try await quinn.signIn("quinn", WebFixture.password)
        let hash = try #require(quinn.hiddenField(try await quinn.get(path).body, "record_hash"))
        let token = try await quinn.csrfToken()
        let form = [("csrf", token), ("meaning", "reviewed"), ("record_hash", hash), ("password", WebFixture.password)]

        // The samples held away longer than the signature may take: refused, naming the setting, and nothing recorded.
        let lock = try PostgresConnection(fixture.db.connectionInfo)
        try lock.execute("BEGIN")
        try lock.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
        let refused = try await quinn.post("\(path)/sign", form)
        try lock.execute("ROLLBACK")
        #expect(refused.status == 503 && refused.body.contains("sign_budget"), "\(refused.status) \(refused.body.prefix(400))")
        #expect(try fixture.db.count("SELECT count(*) FROM batch_signatures WHERE batch = '\(WebFixture.endedBatch)'") == 0)

        // Held for longer than a page's budget but within the signature's: it waits, reads the rows and is recorded.
        try lock.execute("BEGIN")
        try lock.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
        let release = Task {
            try await Task.sleep(for: .milliseconds(1500))
            try lock.execute("ROLLBACK")
        }
        let signed = try await quinn.post("\(path)/sign", form)
        try await release.value
        #expect(signed.status == 303, "\(signed.status) \(signed.body.prefix(400))")
        #expect(try fixture.db.count("SELECT count(*) FROM batch_signatures WHERE batch = '\(WebFixture.endedBatch)' AND record_hash = '\(hash)'") == 1)
    }

    @Test("verify reads each batch's kept readings again from the rows: a kept hash or kept checks altered in the database are named and dropped")
    func verifyComparesKeptReadings() async throws {
        let fixture = try await WebFixture()
        let db = fixture.db, c = db.connection, lookup = SpecLookup(profilesDirectory: shippedProfiles)
        let ended = WebFixture.endedBatch
        let hash = try #require(try BatchRecordDigest.current(site: Self.site, batch: ended, on: c))
        _ = try KeptSiteRecordChecks.current(site: Self.site, batch: ended, specs: { try lookup.ran($0, on: c) }, on: c)
        let intact = try KeptReadingsCheck.verify(site: Self.site, batch: nil, specs: lookup, on: c)
        #expect(intact.intact, "\(intact.lines)")
        #expect(intact.lines.last?.contains("each as kept") == true, "\(intact.lines)")

        // Altered where only a database writer could: the page would show them; verify finds both.
        try c.execute("UPDATE batch_record_hashes SET record_hash = $3 WHERE site = $1 AND batch = $2",
                      [Self.site, ended, String(repeating: "e", count: 64)])
        try c.execute("UPDATE site_record_checks SET checks = '[]' WHERE site = $1 AND batch = $2", [Self.site, ended])
        let found = try KeptReadingsCheck.verify(site: Self.site, batch: ended, specs: lookup, on: c)
        #expect(!found.intact)
        let line = try #require(found.lines.first { $0.hasPrefix("batch \(ended):") })
        #expect(line.contains("the record hash kept for its page is eeee") && line.contains(hash), "\(line)")
        #expect(line.contains("checks of its site records"), "\(line)")
        #expect(try db.count("SELECT count(*) FROM batch_record_hashes WHERE batch = '\(ended)'") == 0)
        #expect(try db.count("SELECT count(*) FROM site_record_checks WHERE batch = '\(ended)'") == 0)
        // Read again from the rows, they are the rows' again.
        #expect(try BatchRecordDigest.current(site: Self.site, batch: ended, on: c) == hash)
        #expect(try KeptReadingsCheck.verify(site: Self.site, batch: ended, specs: lookup, on: c).intact)
    }

    @Test("a batch across two devices has ended only when both have: until then its preparer's round leaves it; changed device metadata has it read again")
    func endedOnEveryDevice() throws {
        let db = try IngestDatabase()
        let feed = SiteFeed(site: "site-x"), end = "{\"kind\":\"batch_ended\",\"reason\":\"run complete\"}"
        try db.write([feed.telemetry("str-1", 1...30, batch: "X-1", phase: "expansion"), feed.telemetry("str-2", 1...30, batch: "X-1", phase: "expansion")])
        #expect(try !PreparedBatchReviews.hasEnded(site: "site-x", batch: "X-1", on: db.connection))
        try db.write([feed.event("str-1", seq: 1, kind: "batch_ended", batch: "X-1", phase: "expansion", body: end)])
        #expect(try !PreparedBatchReviews.hasEnded(site: "site-x", batch: "X-1", on: db.connection))
        #expect(try PreparedBatchReviews.unprepared(reader: Self.reader(), limit: 10, on: db.connection).isEmpty)
        try db.write([feed.event("str-2", seq: 1, kind: "batch_ended", batch: "X-1", phase: "expansion", body: end)])
        #expect(try PreparedBatchReviews.hasEnded(site: "site-x", batch: "X-1", on: db.connection))
        #expect(try PreparedBatchReviews.unprepared(reader: Self.reader(), limit: 10, on: db.connection).map(\.batch) == ["X-1"])
        #expect(try PreparedBatchReviews.unprepared(reader: Self.reader(), limit: 10, excluding: [("site-x", "X-1")], on: db.connection).isEmpty)
        // Read for this reader at the record's version, it is no longer listed.
        _ = try PreparedBatchReviews.parts(site: "site-x", batch: "X-1", specs: { _ in nil }, reader: Self.reader(), on: db.connection)
        #expect(try PreparedBatchReviews.unprepared(reader: Self.reader(), limit: 10, on: db.connection).isEmpty)

        // A device's metadata arriving after the batch ended decides which parameters are followed:
        // listed again, read again, and what was read before is dropped.
        try db.connection.execute("""
            UPDATE device_metadata SET metadata = '{"parameters":[{"id":"temperature","unit":"°C","value":"number","type":"float32"}]}'
            WHERE site = 'site-x' AND device = 'str-1'
            """)
        #expect(try db.count("SELECT count(*) FROM device_metadata WHERE site = 'site-x' AND device = 'str-1'") == 1)
        #expect(try PreparedBatchReviews.unprepared(reader: Self.reader(), limit: 10, on: db.connection).map(\.batch) == ["X-1"])
        _ = try PreparedBatchReviews.parts(site: "site-x", batch: "X-1", specs: { _ in nil }, reader: Self.reader(), on: db.connection)
        #expect(try PreparedBatchReviews.unprepared(reader: Self.reader(), limit: 10, on: db.connection).isEmpty)
        #expect(try PreparedBatchReviews.isPrepared(site: "site-x", batch: "X-1", reader: Self.reader(), on: db.connection))
        #expect(try db.count("SELECT count(*) FROM prepared_batch_reviews WHERE site = 'site-x' AND batch = 'X-1'") == 1)
    }

    @Test("a comparison checks each batch's site record once per version of its record: kept checks answer with the samples locked away, a changed sample is found, and a page's preparation uses them")
    func comparisonChecksKept() async throws {
        let fixture = try await WebFixture()
        let db = fixture.db, c = db.connection, lookup = SpecLookup(profilesDirectory: shippedProfiles)
        var query = BatchFactsQuery(connection: c, reference: Self.site) { site, batch in
            try BatchRecordDigest.current(site: site, batch: batch, on: c)
        }
        query.specs = { try lookup.ran($0, on: c) }
        let ended = WebFixture.endedBatch
        func checked() throws -> String? {
            try db.scalar("SELECT checked::text || ' ' || version FROM site_record_checks WHERE site = $1 AND batch = $2", [Self.site, ended])
        }

        let facts = try query.load(spec: fixture.spec, since: nil)
        let record = try #require(facts.first { $0.batch == ended })
        #expect(record.record != nil && record.recordDifferences == [], "\(record.recordDifferences)")
        let keptAt = try #require(try checked())
        let keptAgreeing = try #require(try db.scalar("SELECT checks FROM site_record_checks WHERE site = $1 AND batch = $2", [Self.site, ended]))

        // Nothing of the checks reads a sample now: with every sample locked, the facts come back the same.
        let lock = try PostgresConnection(db.connectionInfo)
        try lock.execute("BEGIN")
        try lock.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
        try c.execute("SET lock_timeout = '5s'")
        let again = Result { try query.load(spec: fixture.spec, since: nil) }
        try c.execute("RESET lock_timeout")
        try lock.execute("ROLLBACK")
        #expect(try again.get() == facts)
        #expect(try checked() == keptAt)

        // A value changed in place takes a new version of the record: checked again, the change is found.
        try c.execute("""
            UPDATE samples SET "values" = jsonb_set("values"::jsonb, '{temperature}', '45')::json
            WHERE site = $1 AND stream = 'str-1/telemetry' AND seq = 30
            """, [Self.site])
        let changed = try #require(try query.load(spec: fixture.spec, since: nil).first { $0.batch == ended })
        #expect(!changed.recordDifferences.isEmpty)
        let rekept = try #require(try checked())
        #expect(rekept != keptAt)

        // The batch page's preparation takes the checks a comparison kept at this version.
        let parts = try PreparedBatchReviews.parts(site: Self.site, batch: ended, specs: { try lookup.ran($0, on: c) }, reader: Self.reader(), on: c)
        #expect(try checked() == rekept)
        #expect(parts.siteRecords.first { $0.device == "str-1" }?.differences == changed.recordDifferences)
        #expect(parts.siteRecords == (try SiteBatchRecordCheck.load(c, site: Self.site, batch: ended, specs: { try lookup.ran($0, on: c) })))

        // Kept checks altered in the database (the agreeing ones put back): a comparison shown reads
        // them, one stored for signature (`compare --save`) checks the rows and finds the change.
        try c.execute("UPDATE site_record_checks SET checks = $3 WHERE site = $1 AND batch = $2", [Self.site, ended, keptAgreeing])
        #expect(try query.load(spec: fixture.spec, since: nil).first { $0.batch == ended }?.recordDifferences == [])
        var stored = query
        stored.freshChecks = true
        #expect(try stored.load(spec: fixture.spec, since: nil).first { $0.batch == ended }?.recordDifferences == changed.recordDifferences)
    }
}
