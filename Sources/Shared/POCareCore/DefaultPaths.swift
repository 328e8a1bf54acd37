import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the store and the control socket live when the configuration and the command line do
/// not say. The system paths (`/var/lib/pocare/site.db`, `/run/pocare/pocared.sock`, which the
/// systemd unit creates) belong to the service: they are the defaults only for root and the
/// service user `pocare`. Anyone else (an engineer trying a profile) gets paths of their own
/// under `$XDG_STATE_HOME/pocare` (by default `~/.local/state/pocare`), so a test run can
/// neither fail on a directory it may not write nor write into the site's real store.
public enum DefaultPaths {
    public static let serviceUser = "pocare"
    public static let systemStore = "/var/lib/pocare/site.db"
    public static let systemSocket = "/run/pocare/pocared.sock"

    /// Whether this process runs as root or as the service user.
    public static var isService: Bool {
        let uid = geteuid()
        if uid == 0 { return true }
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return false }
        return String(cString: name) == serviceUser
    }

    /// `$XDG_STATE_HOME/pocare`, or `~/.local/state/pocare`.
    public static func userStateDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/pocare" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.local/state/pocare"
    }

    public static func store(isService: Bool, environment: [String: String]) -> String {
        isService ? systemStore : userStateDirectory(environment: environment) + "/site.db"
    }

    public static func socket(isService: Bool, environment: [String: String]) -> String {
        isService ? systemSocket : userStateDirectory(environment: environment) + "/pocared.sock"
    }

    public static var store: String { store(isService: isService, environment: ProcessInfo.processInfo.environment) }
    public static var socket: String { socket(isService: isService, environment: ProcessInfo.processInfo.environment) }
}
