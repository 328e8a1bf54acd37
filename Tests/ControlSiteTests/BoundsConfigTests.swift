import ControlSiteRecords
import Testing

/// `sites:` and the page bounds of `web:` in control.yaml.
@Suite("control.yaml: registered sites and page bounds")
struct BoundsConfigTests {
    func parse(_ extra: String) throws(ControlConfig.Invalid) -> ControlConfig {
        try ControlConfig.parse("broker: mqtt://127.0.0.1:1883\ndatabase: dbname=x\n\(extra)", file: "control.yaml")
    }

    func refusal(_ extra: String) -> String {
        do {
            _ = try parse(extra)
            return "accepted"
        } catch { return error.description }
    }

    @Test("sites lists the registered sites; without it every site is taken; anything but a list of ids is refused")
    func sites() throws {
        #expect(try parse("").settings.registeredSites == nil)
        #expect(try parse("sites: [site-a, site-b]").settings.registeredSites == ["site-a", "site-b"])
        for bad in ["sites: []", "sites: site-a", "sites: [\"\"]", "sites: [a/b]", "sites: [[a]]", "sites: {a: 1}"] {
            let said = refusal(bad)
            #expect(said.hasPrefix("control.yaml:3:") && (said.contains(": sites:") || said.contains(": sites[0]:")), "\(bad): \(said)")
        }
    }

    @Test("the page bounds have defaults, take values within their ranges and refuse others naming the field")
    func pageBounds() throws {
        let defaults = try #require(try parse("web: {}").web)
        #expect(defaults.pageThreads == 2 && defaults.pageQueue == 8 && defaults.pageBudgetSeconds == 20)
        #expect(defaults.pageMaxParameters == 48 && defaults.pageMaxSampleBytes == 256 * 1024 && defaults.pageMaxRows == 5_000)
        let set = try #require(try parse("web: { page_threads: 4, page_queue: 0, page_budget: 1500ms, page_max_parameters: 10 }").web)
        #expect(set.pageThreads == 4 && set.pageQueue == 0 && set.pageBudgetSeconds == 1.5 && set.pageMaxParameters == 10)
        #expect(refusal("web: { page_threads: 0 }").contains(": web.page_threads:"))
        #expect(refusal("web: { page_budget: 2h }").contains(": web.page_budget:"))
        #expect(refusal("web: { page_budget: never }").contains(": web.page_budget:"))
        #expect(refusal("web: { page_max_sample_bytes: 10 }").contains(": web.page_max_sample_bytes:"))
        #expect(refusal("web: { page_max_rows: -1 }").contains(": web.page_max_rows:"))
    }

    @Test("the page preparer reads ended batches every 30 s by default, at another interval, or only on request, and refuses other values")
    func preparerBounds() throws {
        let defaults = try #require(try parse("web: {}").web)
        #expect(defaults.prepareIntervalSeconds == 30 && defaults.preparedMaxSamples == 50_000_000)
        let set = try #require(try parse("web: { prepare_interval: 5m, prepared_max_samples: 1000 }").web)
        #expect(set.prepareIntervalSeconds == 300 && set.preparedMaxSamples == 1000)
        #expect(try #require(try parse("web: { prepare_interval: off }").web).prepareIntervalSeconds == nil)
        #expect(refusal("web: { prepare_interval: 0s }").contains(": web.prepare_interval:"))
        #expect(refusal("web: { prepare_interval: soon }").contains(": web.prepare_interval:"))
        #expect(refusal("web: { prepared_max_samples: 0 }").contains(": web.prepared_max_samples:"))
        #expect(refusal("web: { prepared_max_samples: 1e400 }").contains(": web.prepared_max_samples:"))
        // A signature's budget: an hour unless set, from a second to six hours.
        #expect(defaults.signBudgetSeconds == 3600)
        #expect(try #require(try parse("web: { sign_budget: 10m }").web).signBudgetSeconds == 600)
        #expect(refusal("web: { sign_budget: 500ms }").contains(": web.sign_budget:"))
        #expect(refusal("web: { sign_budget: 7h }").contains(": web.sign_budget:"))
        #expect(refusal("web: { sign_budget: later }").contains(": web.sign_budget:"))
        // A running batch is shown from its rollups beyond 500,000 samples on a device unless set.
        #expect(defaults.pageRunningMaxSamples == 500_000)
        #expect(try #require(try parse("web: { page_running_max_samples: 86400 }").web).pageRunningMaxSamples == 86_400)
        #expect(refusal("web: { page_running_max_samples: 0 }").contains(": web.page_running_max_samples:"))
        #expect(refusal("web: { page_running_max_samples: -5 }").contains(": web.page_running_max_samples:"))
        #expect(refusal("web: { page_running_max_samples: many }").contains(": web.page_running_max_samples:"))
    }
}
