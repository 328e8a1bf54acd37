import ControlSiteRecords
@testable import ControlSiteWeb
import Foundation
import Hashing
import Logging
import Testing
import TestSupport

/// Sign-in throttling as an attacker who knows the QP's user name meets it: his guesses are
/// slowed with growing waits, per address and per user, and the QP still signs in from where she
/// always does. Time is moved by moving the recorded attempts back, never by waiting.
@Suite("Sign-in throttling slows guessing without locking the real user out", .serialized)
struct SignInThrottleTests {
    static let password = "correct horse battery"
    static let qpAddress = "10.0.0.7", attacker = "192.0.2.66"

    final class Database {
        let cluster: TestPostgres
        let connection: PostgresConnection
        init() throws {
            cluster = try TestPostgres()
            connection = try PostgresConnection(try cluster.createDatabase())
            try ControlSchema.migrate(connection, logger: Logger(label: "test"))
            try WebUsers.add(userName: "petra", fullName: "Dr Petra Qualified", role: .qp, password: SignInThrottleTests.password,
                             iterations: PasswordHash.minimumIterations, by: "test", on: connection)
        }
        /// As if `seconds` had passed since every recorded attempt.
        func elapse(_ seconds: Double) throws {
            try connection.execute("UPDATE web_login_attempts SET time = time - make_interval(secs => $1::float8)", [String(seconds)])
        }
        func attempt(_ password: String, from address: String, user: String = "petra", limits: SignIn.Limits) throws -> SignIn.Outcome {
            try SignIn.attempt(userName: user, password: password, address: address, limits: limits, on: connection)
        }
    }

    static var limits: SignIn.Limits {
        var limits = SignIn.Limits()
        limits.perUser = 3
        limits.perAddress = 10
        limits.firstDelaySeconds = 60
        limits.windowSeconds = 900
        return limits
    }

    func isThrottled(_ outcome: SignIn.Outcome) -> Int? {
        if case .throttled(let seconds) = outcome { return seconds }
        return nil
    }

    func signedIn(_ outcome: SignIn.Outcome) -> Bool {
        if case .signedIn = outcome { return true }
        return false
    }

    @Test("an attacker's failures for the QP's name: he and any new address wait, the QP at her own address signs in; every throttled attempt is audited")
    func noLockOutOfTheRealUser() throws {
        let db = try Database()
        #expect(signedIn(try db.attempt(Self.password, from: Self.qpAddress, limits: Self.limits)))
        for _ in 0..<3 { #expect(try db.attempt("guess", from: Self.attacker, limits: Self.limits) == .refused) }
        // The attacker keeps trying, even with the right password: not checked, not counted.
        for _ in 0..<20 { #expect(isThrottled(try db.attempt(Self.password, from: Self.attacker, limits: Self.limits)) != nil) }
        // A new address of the QP's name waits too: the guesser may move on to other addresses.
        #expect(isThrottled(try db.attempt(Self.password, from: "198.51.100.9", limits: Self.limits)) != nil)
        // The QP at the address she signed in from before is not held back by the attacker.
        #expect(signedIn(try db.attempt(Self.password, from: Self.qpAddress, limits: Self.limits)))

        let failures = try db.connection.execute("SELECT count(*) FROM web_login_attempts WHERE NOT succeeded").int(0, 0)
        #expect(failures == 3, "throttled attempts are not counted as failures")
        let trail = try ControlAuditTrail.entries(db.connection)
        #expect(trail.filter { $0.action.action == "web.sign_in.throttled" }.count == 21)
        #expect(trail.contains { $0.action.action == "web.sign_in.throttled" && $0.action.newValue == Self.attacker
            && ($0.action.reason ?? "").contains("retry after") })
    }

    @Test("each failure beyond those allowed doubles the wait, up to the window; a success of the user starts the count again")
    func growingWaits() throws {
        let db = try Database()
        for _ in 0..<3 { #expect(try db.attempt("guess", from: Self.attacker, limits: Self.limits) == .refused) }
        // Third failure: 60 s to wait.
        #expect((55...60).contains(isThrottled(try db.attempt("guess", from: Self.attacker, limits: Self.limits)) ?? 0))
        try db.elapse(61)
        #expect(try db.attempt("guess", from: Self.attacker, limits: Self.limits) == .refused)
        // Fourth failure: 120 s.
        #expect((115...120).contains(isThrottled(try db.attempt("guess", from: Self.attacker, limits: Self.limits)) ?? 0))
        try db.elapse(61)
        #expect(isThrottled(try db.attempt("guess", from: Self.attacker, limits: Self.limits)) != nil)
        try db.elapse(60)
        #expect(try db.attempt("guess", from: Self.attacker, limits: Self.limits) == .refused)
        // Fifth: 240 s. Never longer than the window, however many failures.
        #expect((235...240).contains(isThrottled(try db.attempt("guess", from: Self.attacker, limits: Self.limits)) ?? 0))
        let many = Array(repeating: 1.0, count: 200)
        #expect(SignInThrottle.wait(failureAges: many, allowed: 3, first: 60, longest: 900) == 899)
        // The right password once the wait is over signs in, and the user's count starts again.
        try db.elapse(241)
        #expect(signedIn(try db.attempt(Self.password, from: Self.attacker, limits: Self.limits)))
        #expect(try db.attempt("typo", from: Self.attacker, limits: Self.limits) == .refused)
        #expect(try db.attempt("typo", from: Self.attacker, limits: Self.limits) == .refused)
    }

    @Test("many user names from one address: the address waits, whichever name it tries next")
    func perAddress() throws {
        let db = try Database()
        for n in 0..<10 { #expect(try db.attempt("x", from: Self.attacker, user: "guess-\(n)", limits: Self.limits) == .refused) }
        #expect(isThrottled(try db.attempt(Self.password, from: Self.attacker, limits: Self.limits)) != nil)
        #expect(signedIn(try db.attempt(Self.password, from: Self.qpAddress, limits: Self.limits)))
    }
}
