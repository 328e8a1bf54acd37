import Foundation
import POCareConfig
import POCareCore
import Testing

/// The shipped profiles live at the package root; tests find them from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let shippedProfileFiles = try! FileManager.default
    .contentsOfDirectory(atPath: packageRoot.appendingPathComponent("DeviceProfiles").path)
    .filter { $0.hasSuffix(".yaml") }.sorted()
    .map { packageRoot.appendingPathComponent("DeviceProfiles").appendingPathComponent($0).path }

/// A minimal valid profile; tests append or replace lines to break it in one place.
let validProfile = """
    profile: test-device
    vendor: Test
    model: T-1
    modbus:
      word_order: CDAB
    parameters:
      - { id: temperature, name: Temperature, unit: Cel, table: input_register, address: 0, type: float32 }
      - { id: ph, unit: "[pH]", table: input_register, address: 2, type: int16, scale: 0.01 }
      - { id: running, table: holding_register, address: 10, type: bit0 }
      - { id: alarm, table: holding_register, address: 10, type: bit1 }
      - { id: door, table: discrete_input, address: 0, type: bool }
    """

func diagnostics(_ yaml: String) -> [Diagnostic] {
    ProfileLoader.parse(yaml, file: "test.yaml").diagnostics
}

@Suite("Device profile validation")
struct ProfileValidationTests {
    @Test("every shipped profile is valid and says its register map is an example")
    func shippedProfilesAreValid() throws {
        #expect(shippedProfileFiles.count >= 3)
        for file in shippedProfileFiles {
            let result = ProfileLoader.load(path: file)
            #expect(result.diagnostics.isEmpty, "\(file): \(result.diagnostics)")
            #expect(result.profile != nil)
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.contains("EXAMPLE REGISTER MAP"), "\(file) must say its map is an example")
        }
    }

    @Test("a valid profile parses with defaults applied")
    func validProfileParses() throws {
        let result = ProfileLoader.parse(validProfile, file: "test.yaml")
        #expect(result.diagnostics.isEmpty)
        let profile = try #require(result.profile)
        #expect(profile.parameters.count == 5)
        #expect(profile.modbus.wordOrder == .cdab)
        #expect(profile.parameter("temperature")?.wordOrder == .cdab)
        #expect(profile.parameter("ph")?.scale == 0.01)
        #expect(profile.parameter("running")?.dataType == .bit(0))
        #expect(profile.modbus.maxRegistersPerRequest == 125)
        #expect(profile.modbus.responseTimeout == .milliseconds(500))
    }

    @Test("an unknown key is reported at its line and column with a suggestion")
    func unknownKey() {
        let yaml = validProfile.replacingOccurrences(of: "model: T-1", with: "model: T-1\nfirmwre: 1.0")
        let found = diagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.description == "test.yaml:4:1: firmwre: unknown key 'firmwre' (did you mean 'firmware'?)")
    }

    @Test("an unknown key inside a parameter names the parameter")
    func unknownParameterKey() {
        let yaml = validProfile + "\n  - { id: x, unit: '1', table: input_register, address: 20, type: uint16, scal: 2 }"
        let found = diagnostics(yaml)
        #expect(found.map(\.field) == ["parameters[5].scal"])
        #expect(found.first?.line == 12)
    }

    @Test("a duplicate parameter id is an error pointing at the second one")
    func duplicateId() {
        let yaml = validProfile + "\n  - { id: ph, unit: '1', table: input_register, address: 30, type: uint16 }"
        let found = diagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.field == "parameters[5].id")
        #expect(found.first?.message.contains("duplicate id 'ph'") == true)
        #expect(found.first?.line == 12)
    }

    @Test("overlapping registers are an error, bits of one register are not")
    func overlappingRegisters() {
        let yaml = validProfile + "\n  - { id: low_word, unit: '1', table: input_register, address: 1, type: uint16 }"
        let found = diagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.field == "parameters[5].address")
        #expect(found.first?.message.contains("overlaps") == true)
        #expect(found.first?.message.contains("'temperature'") == true)

        let sameBit = validProfile + "\n  - { id: again, table: holding_register, address: 10, type: bit1 }"
        #expect(diagnostics(sameBit).map(\.field) == ["parameters[5].address"])

        let statusWord = validProfile + "\n  - { id: status_word, unit: '1', table: holding_register, address: 10, type: uint16 }"
        #expect(diagnostics(statusWord).isEmpty, "a status word and its bits may both be read")
    }

    @Test("an address beyond 65535 is out of range, including a value that runs past the end")
    func addressOutOfRange() {
        let tooHigh = validProfile + "\n  - { id: x, unit: '1', table: input_register, address: 70000, type: uint16 }"
        #expect(diagnostics(tooHigh).first?.message.contains("out of range") == true)
        let runsPast = validProfile + "\n  - { id: x, unit: '1', table: input_register, address: 65534, type: float64 }"
        #expect(diagnostics(runsPast).first?.message.contains("runs past address 65535") == true)
    }

    @Test("a word order on a single-register type is a mismatch")
    func wordOrderMismatch() {
        let yaml = validProfile + "\n  - { id: x, unit: '1', table: input_register, address: 20, type: uint16, word_order: CDAB }"
        let found = diagnostics(yaml)
        #expect(found.map(\.field) == ["parameters[5].word_order"])
        #expect(found.first?.line == 12)
    }

    @Test("bit tables hold only bools, and bool is not a register type")
    func tableTypeMismatch() {
        let onCoil = validProfile + "\n  - { id: x, unit: '1', table: coil, address: 3, type: uint16 }"
        #expect(diagnostics(onCoil).map(\.field) == ["parameters[5].type"])
        let boolRegister = validProfile + "\n  - { id: x, table: holding_register, address: 30, type: bool }"
        #expect(diagnostics(boolRegister).map(\.field) == ["parameters[5].type"])
    }

    @Test("a string must have a length that fits in one request")
    func stringLength() {
        let zero = validProfile + "\n  - { id: s, table: holding_register, address: 30, type: string0 }"
        #expect(diagnostics(zero).first?.message.contains("string length 0") == true)
        let long = validProfile + "\n  - { id: s, table: holding_register, address: 30, type: string126 }"
        #expect(diagnostics(long).first?.message.contains("string length 126") == true)
    }

    @Test("a value larger than the device's request limit cannot be read")
    func typeLargerThanRequestLimit() {
        let yaml = validProfile.replacingOccurrences(of: "  word_order: CDAB", with: "  word_order: CDAB\n  max_registers_per_request: 1")
        let found = diagnostics(yaml)
        #expect(found.map(\.field) == ["parameters[0].type"])
        #expect(found.first?.message.contains("max_registers_per_request is 1") == true)
    }

    @Test("type names are exact", arguments: ["bit01", "bit+1", "string+4", "float", "bit", "string"])
    func typeNamesAreExact(name: String) {
        let yaml = validProfile + "\n  - { id: x, unit: '1', table: input_register, address: 40, type: \(name) }"
        #expect(diagnostics(yaml).map(\.field) == ["parameters[5].type"])
    }

    @Test("a numeric parameter without a unit is an error; states need none")
    func missingUnit() {
        let yaml = validProfile + "\n  - { id: flow, table: input_register, address: 20, type: uint16 }"
        let found = diagnostics(yaml)
        #expect(found.map(\.field) == ["parameters[5].unit"])
        #expect(found.first?.message.contains("missing unit") == true)
        let enumerated = validProfile + "\n  - { id: phase, table: input_register, address: 20, type: uint16, enum: { 1: a } }"
        #expect(diagnostics(enumerated).isEmpty)
    }

    @Test("a parameter inside an unreadable range is an error")
    func parameterInUnreadableRange() {
        let yaml = validProfile.replacingOccurrences(
            of: "parameters:", with: "unreadable:\n  - { table: input_register, start: 1, count: 4 }\nparameters:")
        let found = diagnostics(yaml)
        #expect(found.map(\.field) == ["parameters[0].address", "parameters[1].address"])
    }

    @Test("every problem in a file is reported, not just the first")
    func reportsAllProblems() {
        let yaml = """
            profile: Bad Id
            vendor: Test
            parameters:
              - { id: a, table: input_register, address: 0, type: float32, word_order: XYZW, unit: Cel }
              - { id: a, table: registers, address: 2, type: int12 }
            """
        let fields = Set(diagnostics(yaml).map(\.field))
        #expect(fields.isSuperset(of: ["profile", "model", "parameters[0].word_order", "parameters[1].table", "parameters[1].type"]))
    }

    @Test("a YAML syntax error names its line and column")
    func syntaxError() {
        let found = diagnostics("profile: x\nvendor: [unclosed\nmodel: y\n")
        #expect(found.count == 1)
        #expect(found.first?.field == "(syntax)")
        #expect(found.first?.line ?? 0 >= 2)
    }

    @Test("a control character the YAML reader refuses is named with its line, without the file quoted")
    func readerError() {
        let filler = (1...200).map { "# comment line \($0) of a long file, long enough to make a long message" }.joined(separator: "\n")
        let found = diagnostics("profile: x\nvendor: y\nmodel: \u{1}z\n" + filler + "\n")
        #expect(found.count == 1)
        #expect(found.first?.field == "(syntax)")
        #expect(found.first?.line == 3)
        #expect(found.first?.message.contains("control characters") == true)
        #expect(found.first.map { !$0.message.contains("comment line") && $0.message.count < 200 } == true)
    }

    @Test("a long message is cut below 2,000 characters, with the mark of the cut")
    func longMessageCut() {
        for length in [1_990, 1_999, 2_000, 2_001, 5_000] {
            let message = DiagnosticCollector.shortened(String(repeating: "x", count: length))
            #expect(message.count < 2000)
            #expect(length < 2000 ? message.count == length : message.hasSuffix("..."))
        }
    }

    @Test("a key given twice in one mapping is named with its line")
    func duplicateKey() {
        let found = diagnostics(validProfile.replacingOccurrences(of: "model: T-1", with: "model: T-1\nvendor: Other"))
        #expect(found.count == 1)
        #expect(found.first?.line == 2)
        #expect(found.first?.message.contains("duplicate key 'vendor'") == true)
    }

    @Test("a file that does not exist is a clear error, not a crash")
    func missingFile() {
        let result = ProfileLoader.load(path: "/nonexistent/profile.yaml")
        #expect(result.profile == nil)
        #expect(result.diagnostics.first?.description.hasPrefix("/nonexistent/profile.yaml:1:1: (file): cannot read file") == true)
    }
}

@Suite("Site configuration")
struct SiteConfigTests {
    func write(_ text: String, named name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pocare-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("the demo configuration is valid and resolves profiles relative to itself")
    func demoConfig() throws {
        let result = SiteConfigLoader.load(path: packageRoot.appendingPathComponent("docs/examples/site-demo.yaml").path)
        #expect(result.diagnostics.isEmpty)
        let config = try #require(result.config)
        #expect(config.devices.map(\.id) == ["rocker-1", "str-1", "cpu-1"])
        #expect(config.devices[1].unitId == 17, "unit id comes from the profile unless the config overrides it")
        #expect(config.devices[2].pollInterval == .seconds(2))
    }

    @Test("bad device entries are reported with their place, and errors in a profile surface too")
    func badDevices() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try write(validProfile + "\n  - { id: x, table: input_register, address: 40, type: uint16 }", named: "broken.yaml", in: directory)
        _ = try write(validProfile, named: "good.yaml", in: directory)
        let config = try write("""
            site: test-site
            devices:
              - { id: a, profile: good.yaml, address: "127.0.0.1:502" }
              - { id: a, profile: good.yaml, address: "localhost" }
              - { id: c, profile: broken.yaml, address: "[::1]:502", poll_interval: 5ms }
              - { id: d, profile: missing.yaml, address: "h:1", unit: 3 }
            """, named: "site.yaml", in: directory)
        let result = SiteConfigLoader.load(path: config)
        #expect(result.config == nil)
        let messages = result.diagnostics.map(\.description)
        #expect(messages.contains { $0.hasSuffix("site.yaml:4:11: devices[1].id: duplicate device id 'a' (first used by devices[0])") }, "\(messages)")
        #expect(messages.contains { $0.contains("devices[1].address: expected host:port") })
        #expect(messages.contains { $0.contains("broken.yaml:12:") && $0.contains("missing unit") })
        #expect(messages.contains { $0.contains("devices[2].poll_interval") })
        #expect(messages.contains { $0.contains("devices[3].unit: unknown key") })
        #expect(messages.contains { $0.contains("missing.yaml:1:1: (file): cannot read file") })
    }

    @Test("a credentials file others can read is refused; a private one is read")
    func credentialsFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let credentials = try write("site-a\ns3cret\n", named: "broker.credentials", in: directory)
        let config = try write("""
            site: s
            control_site: { broker: "mqtt://127.0.0.1:1883", credentials_file: broker.credentials }
            devices:
              - { id: a, profile: \(packageRoot.appendingPathComponent("DeviceProfiles/rocking-bag-rb50.yaml").path), address: "127.0.0.1:502" }
            """, named: "site.yaml", in: directory)
        chmod(credentials, 0o644)
        let open = SiteConfigLoader.load(path: config)
        #expect(open.config == nil)
        #expect(open.diagnostics.contains { $0.field == "control_site.credentials_file" && $0.message.contains("can be read by others (mode 644)") })
        chmod(credentials, 0o600)
        let closed = try #require(SiteConfigLoader.load(path: config).config?.controlSite)
        #expect(closed.username == "site-a" && closed.password == "s3cret")
        #expect(closed.clientId == "pocare-s")
    }

    @Test("the control site block checks its broker URL and TLS files")
    func controlSiteErrors() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try write("""
            site: s
            control_site: { broker: "http://x", mqtt_version: "4.5" }
            devices:
              - { id: site, profile: \(packageRoot.appendingPathComponent("DeviceProfiles/rocking-bag-rb50.yaml").path), address: "127.0.0.1:502" }
            """, named: "site.yaml", in: directory)
        let fields = SiteConfigLoader.load(path: config).diagnostics.map(\.field)
        #expect(fields.contains("control_site.broker"))
        #expect(fields.contains("devices[0].id"), "'site' is reserved")
        let tls = try write("""
            site: s
            control_site: { broker: "mqtts://cs.example:8883", tls: { cert_file: nowhere.pem } }
            devices:
              - { id: a, profile: \(packageRoot.appendingPathComponent("DeviceProfiles/rocking-bag-rb50.yaml").path), address: "127.0.0.1:502" }
            """, named: "tls.yaml", in: directory)
        let tlsFields = SiteConfigLoader.load(path: tls).diagnostics.map(\.field)
        #expect(tlsFields.contains("control_site.tls.cert_file"))
        #expect(tlsFields.contains("control_site.tls"))
        #expect(tlsFields.contains("control_site.tls.ca_file"))
    }

    @Test("durations accept milliseconds, seconds, minutes and hours")
    func durations() {
        #expect(parseDuration("250ms") == .milliseconds(250))
        #expect(parseDuration("2.5s") == .milliseconds(2500))
        #expect(parseDuration("5m") == .seconds(300))
        #expect(parseDuration("1h") == .seconds(3600))
        #expect(parseDuration("30d") == .seconds(30 * 86_400))
        #expect(parseDuration("3") == .seconds(3))
        #expect(parseDuration("fast") == nil)
        #expect(parseDuration("-1s") == nil)
    }

    @Test("endpoints accept IPv4, host names and bracketed IPv6")
    func endpoints() {
        #expect(parseEndpoint("127.0.0.1:502")! == ("127.0.0.1", 502))
        #expect(parseEndpoint("[::1]:1502")! == ("::1", 1502))
        #expect(parseEndpoint("reactor-3.site:502")! == ("reactor-3.site", 502))
        #expect(parseEndpoint("::1:502") == nil)
        #expect(parseEndpoint("host:0") == nil)
        #expect(parseEndpoint("host") == nil)
    }
}
