import Foundation
import InProcessControl
import POCareCore

/// A bioreactor with a temperature, a pH, a running bit and a phase code.
let testProfile = DeviceProfile(
    id: "test-reactor", vendor: "Test", model: "T", firmware: "any", modbus: ModbusDefaults(),
    parameters: [
        Parameter(id: "temperature", name: "T", unit: "Cel", table: .inputRegister, address: 0, dataType: .float32),
        Parameter(id: "ph", name: "pH", unit: "[pH]", table: .inputRegister, address: 2, dataType: .float32),
        Parameter(id: "running", name: "run", unit: "", table: .holdingRegister, address: 10, dataType: .bit(0)),
        Parameter(
            id: "phase", name: "phase", unit: "", table: .holdingRegister, address: 11, dataType: .uint16,
            enumeration: [1: "activation", 3: "expansion", 4: "harvest"]),
    ])

let temperatureLimits = ParameterLimits(
    parameterId: "temperature", unit: "Cel", target: 37, alertLow: 36.5, alertHigh: 37.5, actionLow: 36, actionHigh: 38,
    onDelay: .seconds(30), offDelay: .seconds(10), deadband: 0.1, priority: .high)

func makeSpec(
    temperature: ParameterLimits = temperatureLimits, ph: ParameterLimits? = nil, harvestTemperature: ParameterLimits? = nil,
    running: RunningSignal? = RunningSignal(parameterId: "running"), lossPolls: Int = 3
) -> IPCSpec {
    var expansion = [temperature]
    if let ph { expansion.append(ph) }
    var phases = [PhaseLimits(phase: "expansion", limits: expansion)]
    phases.append(PhaseLimits(phase: "harvest", limits: harvestTemperature.map { [$0] } ?? []))
    return IPCSpec(
        identity: SpecIdentity(
            product: "p", process: "p", documentId: "IPC-TEST", version: "1", approvedBy: "qa", approvalDate: "2026-01-01",
            changeControl: "cc", profiles: ["test-reactor"]),
        phases: phases, communicationLossPolls: lossPolls, running: running, fingerprint: "sha256:" + String(repeating: "ab", count: 32))
}

let epoch = Date(timeIntervalSince1970: 1_800_000_000)

/// Drives an engine with one sample per second of simulated time.
final class Run {
    let engine = ControlEngine()
    private(set) var events: [ControlEvent] = []
    private(set) var second = 0
    var running = true
    var phaseCode = 3

    init(spec: IPCSpec = makeSpec(), phase: String = "expansion", followDevicePhase: Bool = false) throws {
        engine.register(device: "r1", profile: testProfile)
        events += try engine.startBatch(
            device: "r1", batchId: "B-1", spec: spec, phase: phase, followDevicePhase: followDevicePhase, at: now)
    }

    var now: Timestamp { Timestamp(wall: epoch.addingTimeInterval(Double(second)), monotonic: Int64(second) * 1_000_000_000) }

    /// Feeds one sample and advances one second. A nil temperature is a failed read.
    @discardableResult
    func feed(temperature: Double?, ph: Double = 7.2) -> [ControlEvent] {
        let readings = [
            Reading(parameterId: "temperature", value: temperature.map(Value.number),
                    quality: temperature == nil ? .badCommunication : .good),
            Reading(parameterId: "ph", value: .number(ph), quality: temperature == nil ? .badCommunication : .good),
            Reading(parameterId: "running", value: .flag(running), quality: temperature == nil ? .badCommunication : .good),
            Reading(parameterId: "phase", value: .number(Double(phaseCode)), quality: temperature == nil ? .badCommunication : .good,
                    label: testProfile.parameter("phase")!.enumeration![phaseCode]),
        ]
        let sample = Sample(
            deviceId: "r1", time: now.wall, monotonicTime: now.monotonic, cycle: UInt64(second), startLateness: .zero,
            missedCycles: 0, readings: readings)
        var produced: [ControlEvent] = []
        engine.evaluate(sample, into: &produced)
        events += produced
        second += 1
        return produced
    }

    func feed(_ values: [Double]) { for v in values { feed(temperature: v) } }

    func feed(_ value: Double, seconds: Int) { for _ in 0..<seconds { feed(temperature: value) } }

    func kinds(_ filter: ControlEvent.Kind...) -> [ControlEvent] { events.filter { filter.contains($0.kind) } }

    var limitAlarm: AlarmID { AlarmID(device: "r1", parameter: "temperature", kind: .limit) }

    func state(_ alarm: AlarmID) -> AlarmState {
        engine.alarms().first { $0.id == alarm }?.state ?? .normal
    }
}
