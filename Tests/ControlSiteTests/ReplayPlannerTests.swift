import ControlSiteRecords
import POCareContract
import Foundation
import Testing
import TestSupport

/// Which ranges the Control Site asks a site to replay, and when: pure, so each rule is shown
/// with a fixed clock.
@Suite("Planning replay requests")
struct ReplayPlannerTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let planner: ReplayPlanner = {
        var settings = ReplayPlanner.Settings()
        settings.replayAfter = 30
        return ReplayPlanner(settings: settings)
    }()

    func stream(_ name: String = "rocker-1/telemetry", site: String = "site-a", contiguous: Int64 = 40, highest: Int64 = 100,
                gaps: [(ClosedRange<Int64>, Double)] = [], unrecoverable: Int64 = 0) -> ReplayPlanner.Stream {
        ReplayPlanner.Stream(site: site, epoch: "e1", stream: name, contiguous: contiguous, highest: highest,
                             gaps: gaps.map { StreamProgress.Gap($0.0, openedAt: now.addingTimeInterval(-$0.1)) },
                             unrecoverableThrough: unrecoverable)
    }

    func asked(_ from: Int64, _ to: Int64, cause: ReplayPlanner.Cause = .gap, attempt: Int = 1, ago: Double, state: String,
               answeredAgo: Double? = nil, sending: ClosedRange<Int64>? = nil, name: String = "rocker-1/telemetry") -> ReplayPlanner.Asked {
        ReplayPlanner.Asked(site: "site-a", epoch: "e1", stream: name, from: from, to: to, cause: cause, attempt: attempt,
                            requested: now.addingTimeInterval(-ago), state: state,
                            answered: answeredAgo.map { now.addingTimeInterval(-$0) }, sending: sending)
    }

    func ranges(_ plan: ReplayPlanner.Plan) -> [String] {
        plan.requests.map { "\($0.stream) \($0.from)...\($0.to) \($0.cause.rawValue) #\($0.attempt)" }
    }

    @Test("a gap is asked for once it has stayed open replay_after, not before (records may still be on their way)")
    func persistentGap() {
        #expect(ranges(planner.plan(streams: [stream(gaps: [(41...60, 5)])], tailChecks: [], history: [], now: now)) == [])
        #expect(ranges(planner.plan(streams: [stream(gaps: [(41...60, 31)])], tailChecks: [], history: [], now: now))
            == ["rocker-1/telemetry 41...60 gap #1"])
    }

    @Test("a gap larger than a site serves in one request is asked for in pieces of at most 100,000 records")
    func chunks() {
        let plan = planner.plan(streams: [stream(contiguous: 0, highest: 250_001, gaps: [(1...250_000, 60)])], tailChecks: [], history: [], now: now)
        #expect(ranges(plan) == ["rocker-1/telemetry 1...100000 gap #1"])
        let next = planner.plan(streams: [stream(contiguous: 0, highest: 250_001, gaps: [(1...250_000, 60)])], tailChecks: [],
                                history: [asked(1, 100_000, ago: 5, state: "accepted", answeredAgo: 5)], now: now)
        #expect(ranges(next) == [], "one request in flight for the site's first piece: the next waits for the site")
    }

    @Test("a gap still open after the site sent it is asked again, with the wait doubling each time")
    func backoff() {
        let gap = stream(gaps: [(41...60, 600)])
        #expect(ranges(planner.plan(streams: [gap], tailChecks: [], history: [asked(41, 60, ago: 40, state: "done", answeredAgo: 20)], now: now)) == [])
        #expect(ranges(planner.plan(streams: [gap], tailChecks: [], history: [asked(41, 60, ago: 40, state: "done", answeredAgo: 31)], now: now))
            == ["rocker-1/telemetry 41...60 gap #2"])
        #expect(ranges(planner.plan(streams: [gap], tailChecks: [], history: [asked(41, 60, attempt: 3, ago: 200, state: "done", answeredAgo: 100)], now: now)) == [],
                "after the third attempt the wait is 120 s")
        #expect(ranges(planner.plan(streams: [gap], tailChecks: [], history: [asked(41, 60, attempt: 3, ago: 200, state: "busy", answeredAgo: 121)], now: now))
            == ["rocker-1/telemetry 41...60 gap #4"])
        #expect(ranges(planner.plan(streams: [gap], tailChecks: [], history: [asked(41, 60, attempt: 30, ago: 2000, state: "done", answeredAgo: 1799)], now: now)) == [],
                "the wait stops growing at 30 minutes")
    }

    @Test("an unanswered request is asked again (the site may have crashed with it); an accepted one is left to finish")
    func unanswered() {
        let gap = stream(gaps: [(41...60, 600)])
        #expect(ranges(planner.plan(streams: [gap], tailChecks: [], history: [asked(41, 60, ago: 10, state: "sent")], now: now)) == [])
        #expect(ranges(planner.plan(streams: [gap], tailChecks: [], history: [asked(41, 60, ago: 31, state: "sent")], now: now))
            == ["rocker-1/telemetry 41...60 gap #2"])
        #expect(ranges(planner.plan(streams: [gap], tailChecks: [], history: [asked(41, 60, ago: 300, state: "accepted", answeredAgo: 300)], now: now)) == [])
    }

    @Test("numbers the site can no longer send (pruned, another epoch) are never asked for again")
    func unrecoverable() {
        #expect(ranges(planner.plan(streams: [stream(gaps: [(41...60, 600)], unrecoverable: 60)], tailChecks: [], history: [], now: now)) == [])
        #expect(ranges(planner.plan(streams: [stream(gaps: [(41...60, 600)], unrecoverable: 50)], tailChecks: [], history: [], now: now))
            == ["rocker-1/telemetry 51...60 gap #1"])
        #expect(ranges(planner.plan(streams: [stream(gaps: [(41...60, 600)])], tailChecks: [],
                                    history: [asked(41, 60, ago: 3000, state: "refused", answeredAgo: 3000)], now: now)) == [])
    }

    @Test("a stream's tail is asked for from after the highest number held; a stream never seen, from 1")
    func tails() {
        let held = stream(contiguous: 100, highest: 100)
        let plan = planner.plan(streams: [held], tailChecks: [stream(contiguous: 0, highest: 0)], history: [], now: now)
        #expect(ranges(plan) == ["rocker-1/telemetry 101...10100 tail #1"])
        #expect(plan.settledTailChecks == [ReplayPlanner.tailCheckKey(site: "site-a", epoch: "e1", stream: "rocker-1/telemetry")])
        let unseen = planner.plan(streams: [], tailChecks: [stream("audit", contiguous: 0, highest: 0)], history: [], now: now)
        #expect(ranges(unseen) == ["audit 1...10000 tail #1"])
    }

    @Test("a tail the site sent in full is followed by the next; one it had nothing for, or sent in part, ends there")
    func tailContinuation() {
        let held = stream(contiguous: 10_000, highest: 10_000)
        #expect(ranges(planner.plan(streams: [held], tailChecks: [],
                                    history: [asked(1, 10_000, cause: .tail, ago: 20, state: "done", answeredAgo: 2, sending: 1...10_000)], now: now))
            == ["rocker-1/telemetry 10001...20000 tail #1"])
        #expect(ranges(planner.plan(streams: [stream(contiguous: 10_000, highest: 12_000)], tailChecks: [],
                                    history: [asked(1, 10_000, cause: .tail, ago: 20, state: "done", answeredAgo: 2, sending: 1...10_000)], now: now)) == [],
                "live records overtook the tail: what lies between is a gap, if anything")
        #expect(ranges(planner.plan(streams: [stream(contiguous: 700, highest: 700)], tailChecks: [],
                                    history: [asked(1, 10_000, cause: .tail, ago: 20, state: "done", answeredAgo: 2, sending: 1...700)], now: now)) == [])
        #expect(ranges(planner.plan(streams: [stream(contiguous: 700, highest: 700)], tailChecks: [],
                                    history: [asked(701, 10_700, cause: .tail, ago: 20, state: "nothing_new", answeredAgo: 19)], now: now)) == [])
    }

    @Test("a tail another instance asked for a moment ago is not asked again, and counts as checked")
    func tailAskedByAnother() {
        let held = stream(contiguous: 100, highest: 100)
        let plan = planner.plan(streams: [held], tailChecks: [held],
                                history: [asked(101, 10_100, cause: .tail, ago: 3, state: "nothing_new", answeredAgo: 2)], now: now)
        #expect(ranges(plan) == [] && plan.settledTailChecks.count == 1)
    }

    @Test("a site gets one request a second and at most three unanswered; other sites are not held up by it")
    func perSiteLimits() {
        let a = [stream(gaps: [(41...60, 600)]), stream("str-1/telemetry", gaps: [(5...9, 600)])]
        let b = stream("rocker-1/telemetry", site: "site-b", gaps: [(1...3, 600)])
        #expect(ranges(planner.plan(streams: a + [b], tailChecks: [], history: [], now: now))
            == ["rocker-1/telemetry 41...60 gap #1", "rocker-1/telemetry 1...3 gap #1"])
        #expect(ranges(planner.plan(streams: a, tailChecks: [], history: [asked(1, 2, ago: 0.5, state: "done", answeredAgo: 0.2, name: "audit")], now: now)) == [],
                "asked half a second ago")
        let busy = (1...3).map { asked(Int64($0 * 1000), Int64($0 * 1000), ago: 5, state: "sent", name: "audit") }
        #expect(ranges(planner.plan(streams: a, tailChecks: [], history: busy, now: now)) == [])
    }

    @Test("the numbers of a range a stream lacks: those in its gaps and those above its highest")
    func missing() {
        #expect(ReplayPlanner.missing(in: 1...50, contiguous: 10, highest: 40, gaps: [11...20, 30...35]) == [11...20, 30...35, 41...50])
        #expect(ReplayPlanner.missing(in: 1...10, contiguous: 40, highest: 40, gaps: []) == [])
        #expect(ReplayPlanner.missing(in: 15...18, contiguous: 10, highest: 40, gaps: [11...20]) == [15...18])
    }
}
