import ArgumentParser
import Foundation
import Hashing
import POCareConfig

/// `pocare-control identity`: the Control Site's Ed25519 key pair, which signs its replay requests
/// so each site answers them on the Control Site's own quota.
struct Identity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The Control Site's signing key: make it at install, show its public key for each site's configuration.",
        subcommands: [IdentityInit.self, IdentityShow.self])
}

struct IdentityInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Generate the Control Site's Ed25519 key pair and print the public key each site is given.",
        discussion: """
            The private key is written in PKCS#8 PEM form, mode 0600, owned by --owner when run as root
            (the service user). An existing key is never overwritten. Every instance of one Control Site
            uses the same key file (control.yaml identity_key).

            Example:
              sudo pocare-control identity init --key /etc/pocare/control-identity.pem --owner pocare
            """)

    @Option(help: "Where to write the private key.")
    var key = "/etc/pocare/control-identity.pem"

    @Option(help: "The user that owns the key file when run as root (the service user).")
    var owner = "pocare"

    func run() throws {
        let publicKey: Ed25519.PublicKey
        do { publicKey = try IdentityKeyFile.create(path: key, owner: owner) } catch {
            FileHandle.standardError.write(Data("pocare-control: \(error)\n".utf8))
            throw ExitCode.failure
        }
        print("""
            key: \(key) (mode 0600)
            public key: \(publicKey)
            Set identity_key: \(key) in control.yaml, and give each site the public key
            (site.yaml control_site.control_site_key: "\(publicKey)").
            """)
    }
}

struct IdentityShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print the public key of the Control Site's private key file.")

    @Option(help: "The private key file.")
    var key = "/etc/pocare/control-identity.pem"

    func run() throws {
        switch SiteConfigLoader.readIdentityKey(key) {
        case .success(let privateKey): print(try privateKey.publicKey())
        case .failure(let error):
            FileHandle.standardError.write(Data("pocare-control: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
