import ControlSiteRecords
import ControlSiteWeb
import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

extension WebSuites {
    /// A page whose cost grows with the data cannot take the process with it: it reads within
    /// limits, within a time budget, on threads of its own, and stops when its client leaves.
    @Suite("Pages with a bounded cost", .serialized)
    struct WebPageBoundsTests {
        let batchPath = "/batches/\(WebFixture.site)/\(WebFixture.batch)"

        /// A sample of 200,000 values put straight into the database (ingest refuses it), as one a
        /// version before the contract's limits could have stored.
        static func plantHugeSample(_ fixture: WebFixture, values: String = "{" + (0..<200_000).map { "\"p\($0)\":\($0)" }.joined(separator: ",") + "}") throws {
            try fixture.db.connection.execute("""
                INSERT INTO samples (site, epoch, stream, seq, device, time, batch, phase, spec, "values")
                SELECT site, epoch, stream, 181, device, time + interval '1 second', batch, phase, spec, $1::json
                FROM samples WHERE site = 'site-a' AND stream = 'rocker-1/telemetry' AND seq = 180
                """, [values])
            try fixture.db.connection.execute("""
                UPDATE batch_runs SET last_seq = 181, samples = samples + 1
                WHERE site = 'site-a' AND stream = 'rocker-1/telemetry' AND batch = 'A-1' AND last_seq = 180
                """)
            try fixture.db.connection.execute(
                "UPDATE streams SET highest = 181, contiguous = 181 WHERE site = 'site-a' AND stream = 'rocker-1/telemetry'")
        }

        @Test("a sample larger than a page reads inline but within its limit (a device of thousands of parameters) is read on its own and counted")
        func largeSample() async throws {
            let fixture = try await WebFixture()
            // About 40 KB: beyond the 16 KiB read inline, within the page's 256 KiB.
            let values = "{\"temperature\":55.5," + (0..<3_000).map { "\"p\($0)\":\($0)" }.joined(separator: ",") + "}"
            try Self.plantHugeSample(fixture, values: values)
            let web = fixture.client()
            try await web.signIn("petra", WebFixture.password)
            let record = try await web.get(batchPath + "/record.json")
            #expect(record.status == 200)
            #expect(record.body.contains("55.5"), "the large sample's temperature is in the batch's statistics")
            let page = try await web.get(batchPath)
            #expect(page.status == 200 && !page.body.contains("class=\"notice oversized\""), "\(page.body.prefix(300))")
        }

        @Test("a batch with a 200,000-value sample answers within its budget, says the sample was not read, and other pages keep answering")
        func hugeSample() async throws {
            let fixture = try await WebFixture { $0.pageBudgetSeconds = 30 }
            try Self.plantHugeSample(fixture)
            let web = fixture.client()
            try await web.signIn("petra", WebFixture.password)
            // Three at once, as a reviewer's impatient reloads would, and the sites page meanwhile.
            async let a = web.get(batchPath)
            async let b = web.get(batchPath)
            async let c = web.get(batchPath)
            let sites = try await web.get("/sites")
            #expect(sites.status == 200)
            for page in try await [a, b, c] {
                #expect(page.status == 200, "\(page.body.prefix(300))")
                #expect(page.body.contains("class=\"notice oversized\">1 samples carry values larger than 256 KiB"))
                // Only the device's own parameters are followed, never the sample's 200,000 keys.
                #expect(!page.body.contains("data-parameter=\"p1\""))
                #expect(page.body.contains("data-parameter=\"temperature\""))
            }
            // The site page shows the device's newest sample: this one, not read.
            let site = try await web.get("/sites/site-a")
            #expect(site.status == 200 && site.body.contains("beyond the contract limit: not read"), "\(site.body.prefix(200))")
        }

        @Test("a page that cannot be prepared within its budget says so, and the other pages keep answering")
        func overBudget() async throws {
            let fixture = try await WebFixture { $0.pageBudgetSeconds = 1 }
            let web = fixture.client()
            try await web.signIn("petra", WebFixture.password)
            // The samples are locked by another connection: the batch page waits, up to its budget.
            let lock = try PostgresConnection(fixture.db.connectionInfo)
            try lock.execute("BEGIN")
            try lock.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
            async let page = web.get(batchPath)
            let sites = try await web.get("/sites")
            #expect(sites.status == 200)
            let answer = try await page
            try lock.execute("ROLLBACK")
            // A-1 is running: it is shown from its minute rollups instead, saying why its record was not read.
            #expect(answer.status == 200 && answer.body.contains("minute rollups")
                    && answer.body.contains("could not be prepared within its time budget of 1 s"), "\(answer.body.prefix(300))")
            // The reviewer is told where the record can be read without the page's limit.
            #expect(answer.body.contains("pocare-control batch site-a A-1"), "\(answer.body.prefix(600))")
            #expect(try await web.get(batchPath).status == 200)
        }

        @Test("more pages than may wait are refused at once")
        func boundedQueue() async throws {
            let fixture = try await WebFixture {
                $0.pageThreads = 1
                $0.pageQueue = 1
                $0.pageBudgetSeconds = 120
            }
            let web = fixture.client()
            try await web.signIn("petra", WebFixture.password)
            let lock = try PostgresConnection(fixture.db.connectionInfo)
            try lock.execute("BEGIN")
            try lock.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
            // One page holds the page thread (waiting for the lock) ...
            async let first = web.get(batchPath)
            #expect(try await waitFor(upTo: .seconds(30)) { try Self.waitingOnLock(fixture) >= 1 })
            // ... one may wait behind it, and one more is refused at once, while the lock still holds.
            let answers = try await withThrowingTaskGroup(of: WebClient.Answer.self) { group in
                group.addTask { try await web.get(batchPath) }
                group.addTask { try await web.get(batchPath) }
                let firstAnswer = try await group.next()
                try lock.execute("ROLLBACK")
                var all = [firstAnswer].compactMap { $0 }
                for try await answer in group { all.append(answer) }
                return all
            }
            _ = try await first
            #expect(answers.first?.status == 503 && answers.first?.body.contains("pages are already waiting to be prepared") == true,
                    "\(answers.map { $0.body.prefix(200) })")
            #expect(answers.last?.status == 200)
        }

        @Test("a page whose client leaves stops: its statement is cancelled while the data it waits for is still locked")
        func clientLeaves() async throws {
            let fixture = try await WebFixture { $0.pageBudgetSeconds = 600 }
            let web = fixture.client()
            try await web.signIn("petra", WebFixture.password)
            let cookie = try #require(web.cookie)
            let lock = try PostgresConnection(fixture.db.connectionInfo)
            try lock.execute("BEGIN")
            try lock.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
            defer { try? lock.execute("ROLLBACK") }
            let socket = try Self.send("GET \(batchPath) HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \(cookie)\r\n\r\n", port: fixture.port)
            #expect(try await waitFor(upTo: .seconds(30)) { try Self.waitingOnLock(fixture) >= 1 })
            close(socket)
            // The page's statement goes, though the lock it waits for is still held.
            #expect(try await waitFor(upTo: .seconds(30)) { try Self.waitingOnLock(fixture) == 0 })
            let sites = try await web.get("/sites")
            #expect(sites.status == 200)
        }

        /// Statements of other connections waiting for a lock on the samples.
        static func waitingOnLock(_ fixture: WebFixture) throws -> Int {
            let probe = try PostgresConnection(fixture.db.connectionInfo)
            return Int(try probe.execute("""
                SELECT count(*) FROM pg_stat_activity
                WHERE wait_event_type = 'Lock' AND state = 'active' AND pid <> pg_backend_pid()
                """).int(0, 0) ?? 0)
        }

        /// Opens a TCP connection to the server and sends `request`; returns the socket.
        static func send(_ request: String, port: Int) throws -> Int32 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw TestFailure("cannot connect to the web server") }
            let bytes = Array(request.utf8)
            guard write(fd, bytes, bytes.count) == bytes.count else { throw TestFailure("cannot send the request") }
            return fd
        }
    }
}
