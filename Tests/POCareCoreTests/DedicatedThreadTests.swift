import Dispatch
import POCareCore
import Testing

/// A stop waits for the threads that hold C handles, up to a limit, and a stop usually runs in a
/// task that is already cancelled (a service's shutdown is a cancellation).
@Suite("Waiting for a dedicated thread at a stop")
struct DedicatedThreadTests {
    @Test("a stop in a cancelled task still waits for the thread to finish")
    func waitsWhenCancelled() async {
        let thread = DedicatedThread(name: "held"), release = DispatchSemaphore(value: 0)
        thread.start { release.wait() }
        let stop = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await thread.joined(within: .seconds(60))
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) { release.signal() }
        #expect(await stop.value, "the stop gave up on a thread that finished within its limit")
    }

    @Test("a thread that does not finish within the limit is left behind, and one already finished is joined at once")
    func leavesAStuckThread() async {
        let thread = DedicatedThread(name: "stuck"), release = DispatchSemaphore(value: 0)
        thread.start { release.wait() }
        #expect(await !thread.joined(within: .milliseconds(200)))
        release.signal()
        #expect(await thread.joined(within: .seconds(60)))
        #expect(await thread.joined(within: .zero))
        #expect(await DedicatedThread(name: "never started").joined(within: .zero))
    }
}
