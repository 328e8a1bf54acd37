import Foundation
import Hashing

#if canImport(Glibc)
import Glibc
#endif

/// An Ed25519 private key file as `pocarectl identity init` (a site's key) and `pocare-control
/// identity init` (the Control Site's) write it: PKCS#8 PEM, mode 0600, never overwritten.
public enum IdentityKeyFile {
    /// Writes a new key to `path`, owned by `owner` when run as root; returns its public key.
    public static func create(path: String, owner: String) throws(SiteConfigLoader.IdentityKeyError) -> Ed25519.PublicKey {
        let privateKey: Ed25519.PrivateKey, publicKey: Ed25519.PublicKey
        do {
            privateKey = try Ed25519.PrivateKey.generate()
            publicKey = try privateKey.publicKey()
        } catch { throw .init(error.description) }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = errno == EEXIST ? "it exists already; a key is never overwritten" : String(cString: strerror(errno))
            throw .init("cannot write \(path): \(reason)")
        }
        let pem = Array(privateKey.pem.utf8)
        let written = pem.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if geteuid() == 0, let user = getpwnam(owner) {
            _ = fchown(descriptor, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        guard written == pem.count, fsync(descriptor) == 0, close(descriptor) == 0 else {
            throw .init("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return publicKey
    }
}
