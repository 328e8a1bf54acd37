import ArgumentParser
import BioreactorSimulator
import Foundation
import Logging
import POCareConfig
import POCareCore
import ServiceSupport

@main
struct POCareSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pocare-sim",
        abstract: "Modbus/TCP bioreactor simulator with fault injection.",
        discussion: """
            Without --device it serves the three shipped example profiles:
              rocker-1  rocking-bag-rb50.yaml      127.0.0.1:5020
              str-1     stirred-tank-str10.yaml    127.0.0.1:5021
              cpu-1     cell-processing-cpu1.yaml  127.0.0.1:5022

            Faults are key=value lists, given with --fault or one per line in a --scenario file:
              --fault "device=rocker-1 kind=excursion parameter=temperature value=39.5 from=30s to=90s"
              --fault "device=str-1 kind=slow delay=2s from=10s for=30s"
              --fault "device=* kind=drop from=60s to=75s"
              --fault "device=cpu-1 kind=exception code=4 from=0s to=20s"
              --fault "device=rocker-1 kind=spike parameter=ph value=6.4 at=45s"
              --fault "device=str-1 kind=offset parameter=temperature value=0.5"   (reads 0.5 warm)
              --fault "device=str-1 kind=stuck parameter=dissolved_oxygen from=20s"
            Times count from the simulator's start.
            """)

    @Option(help: "Folder of device profiles for the default devices and for relative --device profiles.")
    var profiles: String = "DeviceProfiles"

    @Option(
        name: .customLong("device"),
        help: "A device to serve, as ID=PROFILE@HOST:PORT (repeatable). Port 0 picks a free port.")
    var devices: [String] = []

    @Option(help: "Serve N copies of the first device on consecutive ports (benchmarks).")
    var replicate: Int = 1

    @Option(name: .customLong("fault"), help: "A fault to inject (repeatable); see above.")
    var faults: [String] = []

    @Option(help: "A scenario file: one fault per line, '#' for comments.")
    var scenario: String?

    @Option(help: "Process hours per real hour for growth and feeding (control loops run in real time).")
    var timeScale: Double = 60

    @Option(help: "Seed for the measurement noise, so a run can be repeated.")
    var seed: UInt64 = 1

    @Flag(help: "No measurement noise.")
    var noNoise = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "pocare.sim")

        let planned = try plannedDevices()
        let injected = try injectedFaults()
        let running = try startDevices(planned, faults: injected, logger: logger)
        let unknown = injected.filter { f in f.device != "*" && !planned.contains { $0.id == f.device } }
        for fault in unknown { logger.warning("fault names unknown device '\(fault.device)'") }

        await ProcessSignals.waitForStop()
        for device in running { device.stop() }
    }

    typealias PlannedDevice = (id: String, profile: DeviceProfile, host: String, port: Int)

    /// The devices to simulate, from `--device` (or the three examples), replicated if asked.
    private func plannedDevices() throws -> [PlannedDevice] {
        var specs = devices
        if specs.isEmpty {
            specs = [
                "rocker-1=rocking-bag-rb50.yaml@127.0.0.1:5020",
                "str-1=stirred-tank-str10.yaml@127.0.0.1:5021",
                "cpu-1=cell-processing-cpu1.yaml@127.0.0.1:5022",
            ]
        }
        var planned: [PlannedDevice] = []
        for spec in specs {
            guard let equals = spec.firstIndex(of: "="), let at = spec.lastIndex(of: "@"), equals < at,
                let endpoint = parseEndpoint(String(spec[spec.index(after: at)...]))
            else {
                throw ValidationError("--device '\(spec)': expected ID=PROFILE@HOST:PORT")
            }
            let id = String(spec[..<equals])
            let profileName = String(spec[spec.index(after: equals)..<at])
            let path = profileName.contains("/") ? profileName : "\(profiles)/\(profileName)"
            let result = ProfileLoader.load(path: path)
            guard let profile = result.profile else {
                for d in result.diagnostics { FileHandle.standardError.write(Data("\(d)\n".utf8)) }
                throw ExitCode(1)
            }
            planned.append((id, profile, endpoint.host, endpoint.port))
        }
        if replicate > 1, let first = planned.first {
            planned = (0..<replicate).map { n in
                ("\(first.id)-\(n + 1)", first.profile, first.host, first.port == 0 ? 0 : first.port + n)
            }
        }

        return planned
    }

    /// The faults from `--fault` and the scenario file.
    private func injectedFaults() throws -> [Fault] {
        var injected: [Fault] = []
        do {
            for text in faults { injected.append(try FaultSpec.parse(text, parseDuration: parseDuration)) }
            if let scenario {
                let text = try String(contentsOfFile: scenario, encoding: .utf8)
                injected += try FaultSpec.parseScenario(text, file: scenario, parseDuration: parseDuration)
            }
        } catch let error as FaultSpec.ParseError {
            throw ValidationError("fault: \(error.message)")
        }

        return injected
    }

    /// Starts every planned device with the faults that name it; on a failure stops those started.
    private func startDevices(_ planned: [PlannedDevice], faults injected: [Fault], logger: Logger) throws -> [SimulatedDevice] {
        let origin = MonotonicClock.now()
        var running: [SimulatedDevice] = []
        for (n, device) in planned.enumerated() {
            let model = ProcessModel(timeScale: timeScale, noise: !noNoise, seed: seed &+ UInt64(n))
            let simulated: SimulatedDevice
            do {
                simulated = try SimulatedDevice(
                    id: device.id, profile: device.profile, host: device.host, port: device.port, model: model,
                    simulatorOrigin: origin)
            } catch {
                for started in running { started.stop() }
                FileHandle.standardError.write(Data("pocare-sim: \(error)\n".utf8))
                throw ExitCode(1)
            }
            for fault in injected where fault.applies(to: device.id) { simulated.inject(fault) }
            running.append(simulated)
            if planned.count <= 10 {
                logger.notice(
                    "serving", metadata: ["device": "\(device.id)", "profile": "\(device.profile.id)",
                                          "endpoint": "\(device.host):\(simulated.port)"])
            }
        }
        if planned.count > 10 {
            logger.notice("serving \(planned.count) devices", metadata: ["first_port": "\(running[0].port)"])
        }
        return running
    }
}
