import BioreactorSimulator
import POCareConfig
import Testing
import TestSupport

@Suite("Simulator fault specifications")
struct FaultSpecTests {
    func parse(_ text: String) throws -> Fault { try FaultSpec.parse(text, parseDuration: parseDuration) }

    @Test("each fault kind parses with its window")
    func kinds() throws {
        #expect(try parse("device=rocker-1 kind=excursion parameter=temperature value=39.5 from=30s to=90s")
            == Fault(device: "rocker-1", kind: .excursion(parameter: "temperature", value: 39.5), from: .seconds(30), to: .seconds(90)))
        #expect(try parse("device=a,kind=spike,parameter=ph,value=6.4,at=45s")
            == Fault(device: "a", kind: .spike(parameter: "ph", value: 6.4), from: .seconds(45), to: .seconds(46)))
        #expect(try parse("kind=drop from=1m for=15s")
            == Fault(device: "*", kind: .connectionDrop, from: .seconds(60), to: .seconds(75)))
        #expect(try parse("device=str-1 kind=offset parameter=temperature value=0.5").kind == .offset(parameter: "temperature", delta: 0.5))
        #expect(try parse("device=s kind=slow delay=2s").kind == .slowResponse(delay: .seconds(2)))
        #expect(try parse("device=c kind=exception code=4 parameter=co2").kind == .exception(code: 4, parameter: "co2"))
        #expect(try parse("device=c kind=stuck parameter=ph from=5s").kind == .stuck(parameter: "ph"))
        #expect(try parse("kind=flag parameter=bag_present value=false at=80s for=15s")
            == Fault(device: "*", kind: .flag(parameter: "bag_present", value: false), from: .seconds(80), to: .seconds(95)))
        #expect(try parse("kind=flag parameter=alarm_summary value=on").kind == .flag(parameter: "alarm_summary", value: true))
        #expect(try parse("kind=status parameter=status value=fault").kind == .status(parameter: "status", label: "fault"))
    }

    @Test("bad fault specifications say what is wrong", arguments: [
        ("kind=melt", "unknown kind 'melt'"),
        ("kind=flag parameter=door_closed value=ajar", "a flag is true or false, not 'ajar'"),
        ("kind=status value=fault", "missing 'parameter='"),
        ("kind=excursion parameter=t", "missing 'value='"),
        ("kind=excursion parameter=t value=hot", "value: 'hot' is not a number"),
        ("kind=drop from=soon", "from: 'soon' is not a duration"),
        ("kind=drop from=20s to=10s", "the window ends before it starts"),
        ("kind=exception code=99", "Modbus exception codes are 1...11"),
        ("kind=drop colour=red", "unknown key 'colour'"),
        ("kind", "'kind' is not key=value"),
    ])
    func errors(text: String, message: String) {
        #expect {
            _ = try parse(text)
        } throws: { error in
            (error as? FaultSpec.ParseError)?.message.contains(message) == true
        }
    }

    @Test("a scenario file names the line of a bad fault")
    func scenarioLine() {
        let scenario = "# comment\ndevice=a kind=drop from=1s to=2s\n\ndevice=a kind=slow\n"
        #expect {
            _ = try FaultSpec.parseScenario(scenario, file: "demo.txt", parseDuration: parseDuration)
        } throws: { error in
            (error as? FaultSpec.ParseError)?.message == "demo.txt:4: missing 'delay='"
        }
    }
}
