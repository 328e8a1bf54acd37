import ControlSiteLink
import POCareContract
import Testing

@Suite("Control Site chain verification")
struct ChainTrackerTests {
    let h = (0..<6).map { String(repeating: "\($0)", count: 64) }

    @Test("a continuous chain is quiet in any arrival order; a forged link is named once")
    func continuity() {
        var chains = ChainTracker()
        #expect(chains.observe(stream: "s/a", records: [.init(seq: 3, previousHash: h[2], hash: h[3])]).isEmpty)
        #expect(chains.observe(stream: "s/a", records: [.init(seq: 1, previousHash: h[0], hash: h[1]), .init(seq: 2, previousHash: h[1], hash: h[2])]).isEmpty)
        let forged = chains.observe(stream: "s/a", records: [.init(seq: 4, previousHash: h[5], hash: h[4])])
        #expect(forged == [.broken(stream: "s/a", seq: 4, expected: h[3], found: h[5])])
        // The same break is found when the later record arrives first.
        var reversed = ChainTracker()
        #expect(reversed.observe(stream: "s/a", records: [.init(seq: 4, previousHash: h[5], hash: h[4])]).isEmpty)
        #expect(reversed.observe(stream: "s/a", records: [.init(seq: 3, previousHash: h[2], hash: h[3])]).count == 1)
        #expect(reversed.breaks == ["s/a": 1])
    }

    @Test("a duplicate with another hash is a break; an identical one is not")
    func duplicates() {
        var chains = ChainTracker()
        _ = chains.observe(stream: "s/a", records: [.init(seq: 1, previousHash: h[0], hash: h[1])])
        #expect(chains.observe(stream: "s/a", records: [.init(seq: 1, previousHash: h[0], hash: h[1])]).isEmpty)
        #expect(chains.observe(stream: "s/a", records: [.init(seq: 1, previousHash: h[0], hash: h[2])]).count == 1)
    }

    @Test("a new epoch starts the site's chains again; records of the replaced store are recognised")
    func epochs() {
        var chains = ChainTracker()
        #expect(chains.observe(site: "s", epoch: "e1") == nil)
        _ = chains.observe(stream: "s/a", records: [.init(seq: 1, previousHash: h[0], hash: h[1])])
        #expect(chains.observe(site: "s", epoch: "e2") == .newEpoch(site: "s", previous: "e1", current: "e2"))
        #expect(chains.observe(stream: "s/a", records: [.init(seq: 1, previousHash: h[0], hash: h[3])]).isEmpty)
        #expect(chains.isFormer(site: "s", epoch: "e1"))
        #expect(chains.observe(site: "s", epoch: "e1") == nil)
        #expect(chains.epoch(of: "s") == "e2")
    }
}
