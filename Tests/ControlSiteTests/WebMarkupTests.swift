import ControlSiteRecords
import Foundation
import Hashing
import POCareConfig
import POCareContract
import POCareCore
import SiteStore
import Testing
import TestSupport

extension WebSuites {
    /// Everything a site publishes reaches the pages as text: a site that puts markup into its
    /// ids, labels, units, batch and phase names, reasons and audit entries gets it shown,
    /// escaped, on every page and in the plots, never run.
    @Suite("Markup in every site-supplied field shows as text", .serialized)
    struct WebMarkupTests {
        static let markup = "X<img src=x onerror=alert(1)>"
        static let escaped = "X&lt;img src=x onerror=alert(1)&gt;"
        static let site = "evil" + markup, device = "rocker" + markup, batch = "B" + markup, phase = "expansion" + markup
        static let parameter = "temp" + markup

        /// The hostile site's messages, written through the real ingest beside the fixture's sites.
        static func publishHostileSite(_ db: IngestDatabase, spec: String) throws {
            let feed = SiteFeed(site: site)
            let loaded = ProfileLoader.load(path: shippedProfiles + "/rocking-bag-rb50.yaml")
            guard var profile = loaded.profile else { throw TestFailure("profile: \(loaded.diagnostics)") }
            let index = try #require(profile.parameters.firstIndex { $0.id == "temperature" })
            profile.parameters[index].id = parameter
            profile.parameters[index].name = "Temperature" + markup
            profile.parameters[index].unit = "Cel" + markup
            if let states = profile.parameters.firstIndex(where: { $0.enumeration != nil }) {
                profile.parameters[states].enumeration = profile.parameters[states].enumeration!.mapValues { $0 + markup }
            }
            profile.vendor += markup
            profile.model += markup
            let metadata = Contract.DeviceMetadata(device: device, profile: profile, profileFingerprint: ProfileFingerprint.of(profile))
            var messages: [SiteFeed.Message] = [(feed.topics.metadata(device), String(decoding: metadata.message(site: site).payload, as: UTF8.self))]
            messages.append(feed.status(devices: [.init(id: device, profile: profile.id + markup, batch: batch, phase: phase, spec: spec, reachable: true)]))
            messages.append(feed.telemetry(device, 1...120, batch: batch, phase: phase, spec: spec) { seq in
                [parameter: (50...60).contains(seq) ? 38.6 : 37.0, "ph": 7.2]
            })
            func at(_ seq: Int64) -> SiteFeed { SiteFeed(site: site, start: feed.start.addingTimeInterval(Double(seq))) }
            let alarm = "\"alarm\":\"\(json(device + "/" + parameter + "/limit"))\",\"priority\":\"high\",\"level\":\"action\""
            messages.append(at(50).event(device, seq: 1, kind: "raised", batch: batch, phase: phase, spec: spec, body: "{\(alarm),\"value\":38.6}"))
            messages.append(at(52).event(device, seq: 2, kind: "acknowledged", batch: batch, phase: phase, spec: spec,
                                         body: "{\(alarm),\"user\":\"\(json("operator" + markup))\",\"reason\":\"\(json("checked" + markup))\"}"))
            messages.append(at(61).event(device, seq: 3, kind: "cleared", batch: batch, phase: phase, spec: spec, body: "{\(alarm),\"value\":37.0}"))
            let action = AuditAction(user: "operator" + markup, action: "batch.start" + markup, target: batch, reason: "reason" + markup,
                                     oldValue: "old" + markup, newValue: "new" + markup)
            let ns = Int64(feed.start.timeIntervalSince1970 * 1e9)
            let zero = String(repeating: "0", count: 64)
            let entry = AuditEntry(seq: 1, time: feed.start, timeNanoseconds: ns, action: action, previousHash: zero,
                                   hash: AuditEntry.hash(seq: 1, timeNanoseconds: ns, action: action, previousHash: zero))
            messages.append((feed.topics.audit, String(decoding: Contract.audit(site: site, entry: entry), as: UTF8.self)))
            try db.connection.execute("INSERT INTO site_devices (site, device, profile) VALUES ($1, $2, $3) ON CONFLICT (site, device) DO NOTHING",
                                      [site, device, profile.id + markup])
            _ = try db.writer.write(messages.map { .message(try ContractMessage.of($0)) })
        }

        static func json(_ text: String) -> String {
            text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        }

        static func path(_ parts: String...) -> String {
            "/" + parts.map { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0 }.joined(separator: "/")
        }

        @Test("ids, labels, units, batch and phase, reasons, users and audit entries with markup: escaped on every page and in the plots, and every page forbids scripts")
        func markupIsText() async throws {
            let fixture = try await WebFixture(alsoKnown: [Self.site])
            try await onOwnThread { try Self.publishHostileSite(fixture.db, spec: fixture.spec) }
            let web = fixture.client()
            try await web.signIn("petra", WebFixture.password)
            let pages = ["/sites", Self.path("sites", Self.site), "/batches", Self.path("batches", Self.site, Self.batch),
                         "/specs", "/audit", "/comparability", "/comparisons"]
            var shown: [String: String] = [:]
            for page in pages {
                let answer = try await web.get(page)
                #expect(answer.status == 200, "\(page): \(answer.status)")
                #expect(!answer.body.contains("<img src=x"), "\(page) carries the site's markup as markup")
                #expect(answer.headers["content-security-policy"]?.contains("default-src 'none'") == true, "\(page) without its CSP")
                shown[page] = answer.body
            }
            // The fields were on the pages, as text: the test sees what it claims to check.
            let sitePage = shown[Self.path("sites", Self.site)] ?? "", batchPage = shown[Self.path("batches", Self.site, Self.batch)] ?? ""
            #expect(shown["/sites"]?.contains("evil" + Self.escaped) == true)
            #expect(shown["/batches"]?.contains("B" + Self.escaped) == true)
            for field in ["rocker", "Temperature", "Cel", "expansion"] {
                #expect(sitePage.contains(field + Self.escaped) || batchPage.contains(field + Self.escaped), "\(field) not shown")
            }
            for field in ["checked", "operator"] { #expect(batchPage.contains(field + Self.escaped), "\(field) not on the batch page") }
            #expect(batchPage.contains("<svg"), "the batch page has its plots")
            let record = try await web.get(Self.path("batches", Self.site, Self.batch) + "/record.json")
            #expect(record.status == 200 && record.headers["content-type"]?.hasPrefix("application/json") == true)
        }
    }
}
