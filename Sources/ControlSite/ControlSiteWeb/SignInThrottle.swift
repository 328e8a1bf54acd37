import ControlSiteRecords
import ControlSiteQuality
import Foundation

/// How long a sign-in must wait after failed attempts. Failures are counted per user name from
/// one address, per address whatever the name, and per user name from every address the user has
/// never signed in from. Beyond the failures allowed, each further one doubles the wait (from
/// `firstDelaySeconds`, up to `windowSeconds`) since the last failure of that count. A wrong
/// password tried for the QP's name from elsewhere therefore slows the guesser and any new address,
/// never the QP at an address she has signed in from before: no one can lock a user out.
public enum SignInThrottle {
    /// One counted failure or success of the window: who, from where, how many seconds ago.
    struct Attempt: Equatable {
        var userName: String
        var address: String
        var succeeded: Bool
        var ageSeconds: Double
    }

    /// The wait still due, in seconds (0: may try now), and which count imposes it.
    public struct Verdict: Sendable, Equatable {
        public var waitSeconds: Double
        public var reason: String
    }

    /// The wait a count imposes: none within `allowed` failures, then `first` doubling per failure
    /// up to `longest`, measured from the most recent failure (`ages` in seconds before now).
    static func wait(failureAges ages: [Double], allowed: Int, first: Double, longest: Double) -> Double {
        guard ages.count >= allowed, let latest = ages.min() else { return 0 }
        let doublings = min(ages.count - allowed, 40)
        let delay = min(first * pow(2, Double(doublings)), longest)
        return max(0, delay - latest)
    }

    /// The verdict for `userName` from `address` over the attempts of the window. `knownAddress`:
    /// the user has signed in from this address before, so failures from elsewhere do not count.
    static func verdict(userName: String, address: String, knownAddress: Bool, attempts: [Attempt],
                        limits: SignIn.Limits) -> Verdict {
        // Failures of a user name count from that user's latest success (the real user has shown
        // herself); those of an address never reset, since anyone may sign in as himself.
        func failures(_ matches: (Attempt) -> Bool, resetBySuccess: Bool) -> [Double] {
            let mine = attempts.filter(matches)
            let since = resetBySuccess ? (mine.filter(\.succeeded).map(\.ageSeconds).min() ?? .infinity) : .infinity
            return mine.filter { !$0.succeeded && $0.ageSeconds < since }.map(\.ageSeconds)
        }
        func wait(_ ages: [Double], _ allowed: Int) -> Double {
            Self.wait(failureAges: ages, allowed: allowed, first: limits.firstDelaySeconds, longest: limits.windowSeconds)
        }
        var candidates = [
            Verdict(waitSeconds: wait(failures({ $0.userName == userName && $0.address == address }, resetBySuccess: true), limits.perUser),
                    reason: "failed attempts for this user from this address"),
            Verdict(waitSeconds: wait(failures({ $0.address == address }, resetBySuccess: false), limits.perAddress),
                    reason: "failed attempts from this address"),
        ]
        if !knownAddress {
            candidates.append(Verdict(waitSeconds: wait(failures({ $0.userName == userName }, resetBySuccess: true), limits.perUser),
                                      reason: "failed attempts for this user from addresses it has not signed in from"))
        }
        return candidates.max { $0.waitSeconds < $1.waitSeconds }!
    }

    /// Reads the window's attempts for this user name or this address and gives the verdict.
    static func check(userName: String, address: String, limits: SignIn.Limits, on connection: PostgresConnection) throws -> Verdict {
        // Bounded: a throttled attempt is not counted, so each count grows by one per wait at most.
        let rows = try connection.execute("""
            SELECT user_name, address, succeeded, extract(epoch FROM now() - time)::float8 AS age
            FROM web_login_attempts
            WHERE (user_name = $1 OR address = $2) AND time > now() - make_interval(secs => $3::float8)
            ORDER BY time DESC LIMIT 10000
            """, [userName, address, String(limits.windowSeconds)])
        let attempts = (0..<rows.rowCount).map { r in
            Attempt(userName: rows.string(r, "user_name") ?? "", address: rows.string(r, "address") ?? "",
                    succeeded: rows.bool(r, "succeeded") ?? false, ageSeconds: rows.double(r, "age") ?? 0)
        }
        let known = try connection.execute("""
            SELECT 1 FROM web_login_attempts WHERE user_name = $1 AND address = $2 AND succeeded LIMIT 1
            """, [userName, address]).rowCount > 0
        return verdict(userName: userName, address: address, knownAddress: known, attempts: attempts, limits: limits)
    }
}

/// The sign-in throttle, applied to the password re-entered at every e-signature on the pages:
/// its failures are rows of the same table, so guesses at signing and at sign-in add up per
/// user and per address, and the same growing waits (never a lock) hold for both.
public struct SignatureThrottle: PasswordThrottle {
    public let address: String
    let limits: SignIn.Limits

    public init(address: String, limits: SignIn.Limits) {
        self.address = address
        self.limits = limits
    }

    public func wait(userName: String, on connection: PostgresConnection) throws -> (seconds: Int, reason: String) {
        let verdict = try SignInThrottle.check(userName: String(userName.prefix(64)), address: address, limits: limits, on: connection)
        return (Int(verdict.waitSeconds.rounded(.up)), verdict.reason)
    }

    public func count(userName: String, succeeded: Bool, on connection: PostgresConnection) throws {
        try connection.execute("INSERT INTO web_login_attempts (user_name, address, succeeded) VALUES ($1, $2, $3)",
                               [String(userName.prefix(64)), address, succeeded ? "true" : "false"])
    }
}
