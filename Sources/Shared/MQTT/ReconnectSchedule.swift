import POCareCore

/// The one reconnect policy of every POCare MQTT client (the site's link, the Control Site's
/// ingest, the reference consumer): the first attempt connects, later ones reconnect the same
/// session (in-flight QoS 1 messages go again); after each failure or loss the next attempt
/// waits an exponential backoff with jitter (`reconnectDelay`); a failure is worth a log line
/// the first time, every tenth time and whenever its reason changes.
///
/// Owned by the thread that owns the client, like the client itself.
public struct ReconnectSchedule: Sendable {
    public enum Attempt: Sendable {
        /// Connecting: the CONNACK arrives as `.connected`.
        case started
        /// Not yet: the next attempt is due in this many nanoseconds.
        case notDue(nanoseconds: Int64)
        /// Could not connect; the next attempt is due in `retryIn` nanoseconds.
        case failed(MQTTError, failures: Int, retryIn: Int64, worthLogging: Bool)
    }

    public let backoff: ClosedRange<Duration>
    public private(set) var failures = 0
    private var nextAttempt: Int64 = 0
    private var everConnected = false
    private var lastReason = ""

    public init(backoff: ClosedRange<Duration> = .milliseconds(500)...(.seconds(30))) { self.backoff = backoff }

    /// Connects or reconnects `client` when an attempt is due.
    public mutating func attempt(_ client: MQTTClient, now: Int64 = MonotonicClock.now()) -> Attempt {
        guard now >= nextAttempt else { return .notDue(nanoseconds: nextAttempt - now) }
        do {
            if everConnected { try client.reconnect() } else { try client.connect() }
            everConnected = true
            return .started
        } catch {
            let delay = scheduleRetry(now: now)
            let worthLogging = failures == 1 || failures.isMultiple(of: 10) || error.message != lastReason
            lastReason = error.message
            return .failed(error, failures: failures, retryIn: delay, worthLogging: worthLogging)
        }
    }

    /// The broker accepted the connection: the backoff starts again from its lower bound.
    public mutating func connected() {
        failures = 0
        lastReason = ""
    }

    /// The connection was lost or refused: the next attempt waits its backoff.
    public mutating func lost(now: Int64 = MonotonicClock.now()) { _ = scheduleRetry(now: now) }

    private mutating func scheduleRetry(now: Int64) -> Int64 {
        failures += 1
        let delay = reconnectDelay(afterFailures: failures, within: backoff)
        nextAttempt = now + delay
        return delay
    }
}
