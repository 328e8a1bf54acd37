import ArgumentParser
import ControlSiteQuality
import ControlSiteRecords
import Foundation

struct DispositionCommands: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disposition",
        abstract: "Sign a batch record: QA reviews it, then a QP (another person) certifies or rejects it; a QP may withdraw a certification.",
        discussion: """
            Each signature needs your password and the record hash `pocare-control batch` printed (what you
            reviewed); the server refuses it, with the reason and an audit entry, on a running batch, before
            the site's record is received and verified, QP before QA, by the QP who reviewed, with open
            deviations, nonconformances, integrity findings or uncovered unmonitored time (certification),
            or while another disposition stands.
            Examples:
              pocare-control batch site-a B-118
              pocare-control disposition review site-a B-118 --hash 9c1e0a44d2b7 --user quinn
              pocare-control disposition certify site-a B-118 --hash 9c1e0a44d2b7 --comment "released" --user petra
              pocare-control disposition withdraw site-a B-118 --reason "sterility OOS" --user petra
            """,
        subcommands: [Review.self, Certify.self, Reject.self, Withdraw.self])

    struct Review: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "QA's review of a batch record (QA or a QP).")
        @OptionGroup var sign: SignOptions
        func run() throws { try sign.sign(.reviewed) }
    }

    struct Certify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The QP's certification for release, after QA's review, by another person.")
        @OptionGroup var sign: SignOptions
        func run() throws { try sign.sign(.certified) }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The QP's rejection, after QA's review, by another person.")
        @OptionGroup var sign: SignOptions
        func run() throws { try sign.sign(.rejected) }
    }

    struct Withdraw: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A QP withdraws a certification, with the reason; the batch is QA reviewed again.")
        @Argument(help: "The site.") var site: String
        @Argument(help: "The batch id.") var batch: String
        @Option(help: "Why the certification is withdrawn.") var reason: String
        @OptionGroup var credentials: CredentialOptions
        @OptionGroup var db: DatabaseOptions

        func run() throws {
            let connection = try db.connect()
            let password = try credentials.password()
            try quality {
                try BatchSignatures.withdraw(site: site, batch: batch, reason: reason, userName: credentials.user, password: password,
                                             throttle: credentials.throttle, on: connection)
            }
            emit("certification of \(batch) at \(site) withdrawn")
        }
    }
}

struct SignOptions: ParsableArguments {
    @Argument(help: "The site.") var site: String
    @Argument(help: "The batch id.") var batch: String
    @Option(help: "The record hash `pocare-control batch` printed (at least its first 12 hex digits): what you reviewed.") var hash: String
    @Option(help: "A comment for the record.") var comment = ""
    @OptionGroup var credentials: CredentialOptions
    @OptionGroup var db: DatabaseOptions

    func sign(_ meaning: Disposition.Meaning) throws {
        let settings = try db.qualitySettings()
        let connection = try db.connect()
        let password = try credentials.password()
        let signature = try quality {
            try BatchSignatures.sign(site: site, batch: batch, meaning: meaning, shownHash: hash, comment: comment, userName: credentials.user,
                                     password: password, settings: settings, throttle: credentials.throttle, on: connection)
        }
        emit("\(batch) at \(site) \(meaning.words): signed by \(signature.fullName) at \(signature.signed), record sha256:\(signature.recordHash)")
    }
}
