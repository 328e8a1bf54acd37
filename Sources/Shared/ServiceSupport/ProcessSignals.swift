import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The one way every POCare program hears SIGINT and SIGTERM (stop) and SIGHUP (reload):
/// as calls on a dispatch queue, never in signal context. The first stop signal is delivered
/// once; a reload after it is ignored. Keep the value alive as long as signals should be heard.
public final class ProcessSignals: Sendable {
    public enum Request: Sendable { case stop, reload }

    private final class Flag: Sendable {
        let raised = Atomic<Bool>(false)
    }

    private let sources: Mutex<[any DispatchSourceSignal]>
    private let stopping = Flag()

    /// Listens for the stop signals, and for SIGHUP when `reload` is true (otherwise SIGHUP keeps
    /// its default action).
    public init(reload: Bool = false, _ handler: @escaping @Sendable (Request) -> Void) {
        let queue = DispatchQueue(label: "pocare.signals")
        let numbers = [SIGINT, SIGTERM] + (reload ? [SIGHUP] : [])
        // A parent (a test runner, a supervisor) may have left these blocked; we want them.
        var mask = sigset_t()
        sigemptyset(&mask)
        for number in numbers { sigaddset(&mask, number) }
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        var list: [any DispatchSourceSignal] = []
        let stopping = self.stopping
        for number in numbers {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if number == SIGHUP {
                    if !stopping.raised.load(ordering: .relaxed) { handler(.reload) }
                } else if !stopping.raised.exchange(true, ordering: .relaxed) {
                    handler(.stop)
                }
            }
            source.resume()
            list.append(source)
        }
        sources = Mutex(list)
    }

    /// Whether a stop signal has arrived.
    public var stopRequested: Bool { stopping.raised.load(ordering: .relaxed) }

    /// Suspends until SIGINT or SIGTERM arrives.
    public static func waitForStop() async {
        let box = Mutex<ProcessSignals?>(nil)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let signals = ProcessSignals { _ in continuation.resume() }
            box.withLock { $0 = signals }
        }
    }
}
