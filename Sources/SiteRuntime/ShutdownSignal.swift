import Dispatch
import Foundation
import Synchronization

/// SIGINT/SIGTERM (shut down) and SIGHUP (reload), delivered as callbacks on a dispatch
/// queue, never in signal context.
final class SignalHandlers: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "pocare.signals")
    private let shuttingDown = Atomic<Bool>(false)

    func onShutdown(_ handler: @escaping @Sendable () -> Void) {
        for signalNumber in [SIGINT, SIGTERM] {
            listen(signalNumber) { [self] in
                if !shuttingDown.exchange(true, ordering: .relaxed) { handler() }
            }
        }
    }

    func onReload(_ handler: @escaping @Sendable () -> Void) {
        listen(SIGHUP) { [self] in
            if !shuttingDown.load(ordering: .relaxed) { handler() }
        }
    }

    private func listen(_ signalNumber: Int32, _ handler: @escaping @Sendable () -> Void) {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
        source.setEventHandler(handler: handler)
        source.resume()
        sources.append(source)
    }
}
