import POCareCore
import Testing

@Suite("Default store and socket paths")
struct DefaultPathsTests {
    @Test("the service (root or pocare) gets the system paths; anyone else a folder of their own")
    func systemOnlyForTheService() {
        let environment = ["HOME": "/home/eng"]
        #expect(DefaultPaths.store(isService: true, environment: environment) == "/var/lib/pocare/site.db")
        #expect(DefaultPaths.socket(isService: true, environment: environment) == "/run/pocare/pocared.sock")
        #expect(DefaultPaths.store(isService: false, environment: environment) == "/home/eng/.local/state/pocare/site.db")
        #expect(DefaultPaths.socket(isService: false, environment: environment) == "/home/eng/.local/state/pocare/pocared.sock")
        let xdg = ["HOME": "/home/eng", "XDG_STATE_HOME": "/srv/state"]
        #expect(DefaultPaths.store(isService: false, environment: xdg) == "/srv/state/pocare/site.db")
        #expect(DefaultPaths.store(isService: false, environment: ["HOME": "/h", "XDG_STATE_HOME": "relative"]) == "/h/.local/state/pocare/site.db",
                "a relative XDG_STATE_HOME is ignored, as the XDG specification says")
    }
}
