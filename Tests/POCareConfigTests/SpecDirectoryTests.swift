import Foundation
import POCareConfig
import Testing

@Suite("Which spec files an operator may name")
struct SpecDirectoryTests {
    let root: URL
    let specs: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-specdir-\(UUID().uuidString)")
        specs = root.appendingPathComponent("specs")
        try FileManager.default.createDirectory(at: specs, withIntermediateDirectories: true)
        try "spec".write(to: specs.appendingPathComponent("cart.yaml"), atomically: true, encoding: .utf8)
        try "secret".write(to: root.appendingPathComponent("secret.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: specs.appendingPathComponent("link.yaml").path, withDestinationPath: "/etc/passwd")
    }

    @Test("a file in the spec folder is accepted, by absolute path or by name")
    func inside() throws {
        let directory = SpecDirectory(directories: [specs.path])
        let real = try directory.resolve("cart.yaml").get()
        #expect(real.hasSuffix("/specs/cart.yaml"))
        #expect(try directory.resolve(specs.appendingPathComponent("cart.yaml").path).get() == real)
        try? FileManager.default.removeItem(at: root)
    }

    @Test("any other file is refused, however it is reached: absolute, ../, or a link out of the folder")
    func outside() {
        let directory = SpecDirectory(directories: [specs.path])
        for reference in ["/etc/shadow", "/etc/passwd", "../secret.yaml", specs.path + "/../secret.yaml", "link.yaml"] {
            guard case .failure(.outside(let path, _)) = directory.resolve(reference) else {
                Issue.record("\(reference) was not refused as outside")
                continue
            }
            #expect(!path.hasPrefix(specs.path + "/"), "\(reference) -> \(path)")
        }
        #expect(directory.resolve("missing.yaml") == .failure(.notFound(reference: "missing.yaml")))
        // A folder whose name merely starts like the spec folder's is another folder.
        let sibling = SpecDirectory(directories: [root.appendingPathComponent("spec").path])
        #expect((try? sibling.resolve(specs.appendingPathComponent("cart.yaml").path).get()) == nil)
        try? FileManager.default.removeItem(at: root)
    }
}
