import ControlSiteRecords
import Foundation
import Logging
import Testing
import TestSupport

/// control.yaml `ingest:`: which sites one instance of `pocare-control run` takes.
@Suite("control.yaml: ingest shard and sites")
struct IngestShareTests {
    func parse(_ extra: String) throws(ControlConfig.Invalid) -> ControlConfig {
        try ControlConfig.parse("broker: mqtt://127.0.0.1:1883\ndatabase: dbname=x\n\(extra)", file: "control.yaml")
    }

    func problems(_ extra: String) -> [String] {
        do { _ = try parse(extra) } catch { return error.diagnostics.map(\.description) }
        return []
    }

    @Test("the shard of a site is the first 8 bytes of SHA-256 of its id, mod n, plus one (values an operator's sha256sum gives)")
    func stableHash() {
        // printf %s site-a | sha256sum: d74a1ffe00242cd0..., which mod 2 is 0: shard 1 of 2. Computed apart from this code.
        let expected: [(String, Int, Int)] = [
            ("site-a", 2, 1), ("site-b", 2, 2), ("site-1", 2, 2), ("site-2", 2, 1), ("south", 3, 3), ("site-1", 3, 1), ("north", 3, 2),
            ("durability", 1, 1),
        ]
        for (site, count, shard) in expected {
            #expect(IngestShare.shard(of: site, count: count) == shard, "\(site) in \(count) shards")
        }
    }

    @Test("of n instances exactly one takes each site")
    func partition() {
        for count in 1...5 {
            let shares = (1...count).map { IngestShare(shard: .init(index: $0, count: count), listed: nil, registered: nil) }
            for n in 0..<500 {
                let site = "site-\(n)"
                #expect(shares.filter { $0.takes(site) }.count == 1, "\(site) of \(count)")
            }
        }
        #expect(IngestShare.everySite.takes("anything"))
    }

    @Test("a shard alone subscribes to every site and filters; a list or the registered sites of the shard subscribe per site")
    func subscriptions() throws {
        let shardOnly = try parse("ingest: { shard: 1/2 }").settings
        #expect(shardOnly.share.shard == .init(index: 1, count: 2) && shardOnly.share.known == nil)
        #expect(shardOnly.subscriptions == ["pocare/v1/+/#"])
        #expect(shardOnly.share.takes("site-a") && !shardOnly.share.takes("site-b"))

        let registered = try parse("sites: [site-a, site-b, site-2]\ningest: { shard: 1/2 }").settings
        #expect(registered.subscriptions == ["pocare/v1/site-2/#", "pocare/v1/site-a/#"])

        let listed = try parse("topic_root: net/v1\ningest:\n  sites: [site-b, site-1]\n").settings
        #expect(listed.subscriptions == ["net/v1/site-1/#", "net/v1/site-b/#"])
        #expect(listed.share.takes("site-b") && !listed.share.takes("site-a"))

        let both = try parse("mqtt_version: \"5\"\nshared_group: g\ningest: { shard: 2/2, sites: [site-b] }").settings
        #expect(both.subscriptions == ["$share/g/pocare/v1/site-b/#"])

        #expect(try parse("").settings.subscriptions == ["pocare/v1/+/#"])
    }

    @Test("without a client_id, instances of different shares get different default client ids")
    func defaultClientIds() throws {
        let one = try parse("ingest: { shard: 1/2 }").settings.broker.clientId
        let two = try parse("ingest: { shard: 2/2 }").settings.broker.clientId
        let plain = try parse("").settings.broker.clientId
        #expect(one != two && one.hasPrefix(plain) && one.hasSuffix("-shard-1-of-2"))
        #expect(try parse("client_id: mine\ningest: { shard: 2/2 }").settings.broker.clientId == "mine")
    }

    @Test("a wrong shard or site list is refused naming the file, line, column and field")
    func refused() {
        #expect(problems("ingest: { shard: 3/2 }") == ["control.yaml:3:18: ingest.shard: instance 3 is out of range 1...2"])
        #expect(problems("ingest: { shard: 0/2 }") == ["control.yaml:3:18: ingest.shard: instance 0 is out of range 1...2"])
        #expect(problems("ingest: { shard: 1/0 }") == ["control.yaml:3:18: ingest.shard: the number of shards 0 is out of range 1...1024"])
        #expect(problems("ingest: { shard: -1/2 }") == ["control.yaml:3:18: ingest.shard: instance -1 is out of range 1...2"])
        #expect(problems("ingest: { shard: half }") == ["control.yaml:3:18: ingest.shard: expected k/n (instance k of n, such as 1/2), got 'half'"])
        #expect(problems("ingest: { shard: 1/99999999999999999999 }").first?.contains("expected k/n") == true)
        #expect(problems("ingest: { shrad: 1/2 }").contains("control.yaml:3:11: ingest.shrad: unknown key 'shrad' (did you mean 'shard'?)"))
        #expect(problems("ingest: {}").contains { $0.contains("ingest: name a shard") })
        #expect(problems("ingest: { sites: [] }").contains { $0.contains("ingest.sites: name at least one site") })
        #expect(problems("ingest: { sites: [a/b] }") == ["control.yaml:3:19: ingest.sites[0]: expected a site id (no '/', '+' or '#')"])
        #expect(problems("ingest: { sites: [a, a] }") == ["control.yaml:3:22: ingest.sites[1]: 'a' is listed twice"])
        // A site outside the register, and one the shard does not hold.
        #expect(problems("sites: [site-a, site-b]\ningest: { sites: [site-c] }")
            == ["control.yaml:4:19: ingest.sites[0]: 'site-c' is not a registered site (sites:) (did you mean 'site-a'?)"])
        #expect(problems("ingest: { shard: 1/2, sites: [site-a, site-b] }")
            == ["control.yaml:3:30: ingest.sites: 'site-b' falls in shard 2/2, not in this instance's 1/2"])
        #expect(problems("sites: [site-b]\ningest: { shard: 1/2 }")
            == ["control.yaml:4:18: ingest.shard: no registered site falls in shard 1/2: this instance would take nothing"])
    }

    @Test("a second instance with the same client id, shard or site is refused while the first runs; free again once it stops")
    func claims() throws {
        let cluster = try TestPostgres()
        let database = try cluster.createDatabase()
        let logger = Logger(label: "test")
        let half = IngestShare(shard: .init(index: 1, count: 2), listed: nil, registered: nil)
        var first: IngestClaim? = try IngestClaim.take(database: database, clientId: "a", share: half, sharedGroup: nil, logger: logger)
        #expect(first?.parts == ["client id 'a'", "shard 1/2"])
        #expect(throws: IngestClaim.Taken.self) {
            try IngestClaim.take(database: database, clientId: "a", share: .everySite, sharedGroup: nil, patience: .zero, logger: logger)
        }
        #expect(throws: IngestClaim.Taken.self) {
            try IngestClaim.take(database: database, clientId: "b", share: half, sharedGroup: nil, patience: .zero, logger: logger)
        }
        // Instances of one shared group split the same shard on purpose.
        let grouped = try IngestClaim.take(database: database, clientId: "c", share: half, sharedGroup: "g", patience: .zero, logger: logger)
        let listed = IngestShare(shard: nil, listed: ["site-x"], registered: nil)
        let x = try IngestClaim.take(database: database, clientId: "d", share: listed, sharedGroup: nil, patience: .zero, logger: logger)
        #expect(throws: IngestClaim.Taken.self) {
            try IngestClaim.take(database: database, clientId: "e", share: listed, sharedGroup: nil, patience: .zero, logger: logger)
        }
        first = nil
        let again = try IngestClaim.take(database: database, clientId: "b", share: half, sharedGroup: nil, patience: .seconds(5), logger: logger)
        withExtendedLifetime((grouped, x, again)) {}
    }
}
