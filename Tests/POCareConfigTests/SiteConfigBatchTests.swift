import Foundation
import POCareConfig
import POCareCore
import Testing

@Suite("Site configuration: spec release and configured batches")
struct SiteConfigBatchTests {
    func load(_ extra: String, batch: String = "{ id: B-1, spec: spec.yaml }") throws -> SiteConfigLoader.Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(
            at: packageRoot.appendingPathComponent("docs/examples/specs/cart-expansion-example.yaml"),
            to: directory.appendingPathComponent("spec.yaml"))
        let text = """
            site: s1
            profile_dir: \(packageRoot.appendingPathComponent("DeviceProfiles").path)
            \(extra)
            devices:
              - { id: rocker-1, profile: rocking-bag-rb50.yaml, address: "127.0.0.1:5020", batch: \(batch) }
            """
        try text.write(to: directory.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        return SiteConfigLoader.load(path: directory.appendingPathComponent("site.yaml").path)
    }

    @Test("release is required unless specs.require_release says false; any other key under specs is an error")
    func requireRelease() throws {
        #expect(try load("").config?.requireSpecRelease == true)
        #expect(try load("specs: { require_release: false }").config?.requireSpecRelease == false)
        let wrong = try load("specs: { require_released: false }")
        #expect(wrong.config == nil && wrong.diagnostics.contains { $0.field.hasPrefix("specs") && $0.message.contains("require_released") })
        #expect(try load("specs: { require_release: maybe }").config == nil)
    }

    @Test("a configured batch on a device that reports its phase follows it, unless the configuration says otherwise")
    func followsReportedPhase() throws {
        #expect(try load("").config?.devices.first?.batch?.followDevicePhase == true)
        #expect(try load("", batch: "{ id: B-1, spec: spec.yaml, follow_device_phase: false }").config?.devices.first?.batch?.followDevicePhase == false)
    }
}
