import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Decides which spec files an operator's request may make the daemon read. The daemon reads
/// with its own rights, which are more than an operator's, so a request naming any other
/// file (`/etc/shadow`, a symbolic link out of the folder, `../`) is refused before the file
/// is opened, and no error ever quotes what such a file holds.
public struct SpecDirectory: Sendable {
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case outside(path: String, directories: [String])
        case notFound(reference: String)

        public var description: String {
            switch self {
            case .outside(let path, let directories):
                "'\(path)' is outside the spec folders (\(directories.joined(separator: ", "))); place approved specs there, or name a spec the daemon knows by its fingerprint"
            case .notFound(let reference):
                "no spec file '\(reference)' in the spec folders, and no known spec with that fingerprint"
            }
        }
    }

    public let directories: [String]

    public init(directories: [String]) {
        // Resolved once, so a folder reached through a symbolic link still matches.
        self.directories = directories.map { Self.realPath($0) ?? $0 }
    }

    /// The real path of the spec file a request names: absolute, or relative to the first
    /// spec folder. Symbolic links and `..` are resolved first, then the result must lie
    /// inside one of the folders.
    public func resolve(_ reference: String) -> Result<String, Refusal> {
        let candidates = reference.hasPrefix("/") ? [reference] : directories.map { ($0 as NSString).appendingPathComponent(reference) }
        for candidate in candidates {
            guard let real = Self.realPath(candidate) else { continue }
            guard directories.contains(where: { real.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
                return .failure(.outside(path: real, directories: directories))
            }
            return .success(real)
        }
        return .failure(.notFound(reference: reference))
    }

    /// realpath(3): resolves links and dots by looking at the path's components, without
    /// opening the file itself.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
