import ArgumentParser
import Foundation
import Hashing
import POCareConfig

#if canImport(Glibc)
import Glibc
#endif

/// `pocarectl identity`: the site's Ed25519 key pair, which signs its checkpoints and births.
struct Identity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The site's signing key: make it at install, show its public key for QA to register.",
        subcommands: [IdentityInit.self, IdentityShow.self])
}

struct IdentityInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Generate the site's Ed25519 key pair and print the public key for QA to register at the Control Site.",
        discussion: """
            The private key is written in PKCS#8 PEM form, mode 0600, owned by --owner when run as root
            (the service user, pocare). An existing key is never overwritten: rotating a key is a new file,
            registered by QA with a valid-from time, the old key retired from a time.

            Example:
              sudo pocarectl identity init --key /var/lib/pocare/identity.pem --owner pocare
            """)

    @Option(help: "Where to write the private key.")
    var key = "/var/lib/pocare/identity.pem"

    @Option(help: "The user that owns the key file when run as root (the service user).")
    var owner = "pocare"

    func run() throws {
        let publicKey: Ed25519.PublicKey
        do { publicKey = try IdentityKeyFile.create(path: key, owner: owner) } catch {
            FileHandle.standardError.write(Data("pocarectl: \(error)\n".utf8))
            throw ExitCode.failure
        }
        print("""
            key: \(key) (mode 0600)
            public key: \(publicKey)
            Give the public key to QA to register for this site (control.yaml sites: <site>: keys:),
            then set control_site.identity_key: \(key) in site.yaml.
            """)
    }
}

struct IdentityShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print the public key of the site's private key file.")

    @Option(help: "The private key file.")
    var key = "/var/lib/pocare/identity.pem"

    func run() throws {
        switch SiteConfigLoader.readIdentityKey(key) {
        case .success(let privateKey): print(try privateKey.publicKey())
        case .failure(let error):
            FileHandle.standardError.write(Data("pocarectl: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
