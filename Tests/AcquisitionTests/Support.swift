import Foundation
import POCareConfig
import POCareCore

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func shippedProfiles() -> [DeviceProfile] {
    let directory = packageRoot.appendingPathComponent("DeviceProfiles")
    let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return files.filter { $0.hasSuffix(".yaml") }.sorted().compactMap {
        ProfileLoader.load(path: directory.appendingPathComponent($0).path).profile
    }
}
