import Foundation
import SiteRuntime
import Synchronization
import Testing

/// A clock whose synchronisation a test sets.
final class FakeClockSynchronisation: ClockSynchronisationSource, Sendable {
    private let state = Mutex<ClockSynchronisation?>(ClockSynchronisation(synchronised: true, estimatedErrorMicroseconds: 500))
    func set(_ value: ClockSynchronisation?) { state.withLock { $0 = value } }
    func read() -> ClockSynchronisation? { state.withLock { $0 } }
}

@Suite("Clock evidence")
struct ClockWatchTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("the state at start is recorded once; a change of synchronisation is recorded when the kernel is next asked")
    func synchronisation() {
        let kernel = FakeClockSynchronisation()
        var watch = ClockWatch(source: kernel)
        let first = watch.observe(wall: start, monotonic: 0)
        #expect(first == [.synchronisation(.init(synchronised: true, estimatedErrorMicroseconds: 500), previous: nil)])
        kernel.set(.init(synchronised: false, estimatedErrorMicroseconds: 16_000_000))
        #expect(watch.observe(wall: start + 1, monotonic: 1_000_000_000).isEmpty, "asked again only after the check interval")
        let later = watch.observe(wall: start + 61, monotonic: 61_000_000_000)
        #expect(later == [.synchronisation(.init(synchronised: false, estimatedErrorMicroseconds: 16_000_000), previous: .init(synchronised: true, estimatedErrorMicroseconds: 500))])
        #expect(watch.observe(wall: start + 122, monotonic: 122_000_000_000).isEmpty, "no change, nothing recorded")
    }

    @Test("a wall-clock step against the monotonic clock is found, in either direction; jitter is not")
    func steps() {
        var watch = ClockWatch(source: FakeClockSynchronisation())
        _ = watch.observe(wall: start, monotonic: 0)
        #expect(watch.observe(wall: start + 1.003, monotonic: 1_000_000_000).isEmpty, "3 ms of jitter")
        let forward = watch.observe(wall: start + 3602, monotonic: 2_000_000_000)
        #expect(forward.count == 1)
        if case .step(let seconds, _, _)? = forward.first { #expect(abs(seconds - 3599.997) < 0.01) } else { Issue.record("no step") }
        let back = watch.observe(wall: start + 3, monotonic: 3_000_000_000)
        if case .step(let seconds, _, _)? = back.first { #expect(seconds < -3598) } else { Issue.record("no step back") }
    }
}
