import Dispatch
import Foundation
import Synchronization

/// Turns SIGINT and SIGTERM into one callback, delivered on a dispatch queue, never in signal context.
final class ShutdownSignal: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "pocare.signals")

    func onSignal(_ handler: @escaping @Sendable () -> Void) {
        let fired = Mutex(false)
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                let first = fired.withLock { was in
                    defer { was = true }
                    return !was
                }
                guard first else { return }
                handler()
            }
            source.resume()
            sources.append(source)
        }
    }
}
