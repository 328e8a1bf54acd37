import Foundation
import POCareCore

/// A small, plausible model of a cell culture under control, good enough for demos,
/// tests and benchmarks (not a process simulator): each value a profile asks for by
/// parameter id is produced from one shared culture state.
///
/// Control loops (temperature, pH via CO2, dissolved oxygen via agitation) run in real
/// seconds; biology (growth, feeding, metabolism) runs in process hours that `timeScale`
/// can speed up so a demo shows a batch's trends in minutes.
public struct ProcessModel: Sendable {
    public var timeScale: Double
    public var noise: Bool

    public var temperatureSetpoint = 37.0
    public var phSetpoint = 7.2
    public var dissolvedOxygenSetpoint = 40.0
    public var temperature = 36.9
    public var ph = 7.22
    public var dissolvedOxygen = 95.0
    public var co2 = 5.0
    public var agitation = 120.0
    public var rockingRate = 12.0
    public var rockingAngle = 6.0
    public var cellDensity = 0.5  // 1e6 cells/mL
    public var viability = 96.0
    public var volume = 500.0  // mL
    public var feedVolume = 0.0  // mL
    public var glucose = 4.5  // g/L
    public var lactate = 0.3  // g/L
    public var pressure = 12.0  // mbar
    public var runSeconds = 0.0
    public var processHours = 0.0
    private var heaterIntegral = 0.0
    private var rng: SplitMix64

    public init(timeScale: Double = 60, noise: Bool = true, seed: UInt64 = 1) {
        self.timeScale = timeScale
        self.noise = noise
        self.rng = SplitMix64(seed: seed)
    }

    private mutating func jitter(_ amplitude: Double) -> Double {
        noise ? (rng.nextUnit() * 2 - 1) * amplitude : 0
    }

    /// Advances the culture by `dt` real seconds.
    public mutating func step(_ dt: Double) {
        guard dt > 0, timeScale > 0 else { return }
        runSeconds += dt
        let hours = dt * timeScale / 3600
        processHours += hours

        // Logistic growth, slowed as glucose runs out; viability falls late in the run.
        let mu = 0.035 * min(1, glucose / 1.0)
        cellDensity += mu * cellDensity * (1 - cellDensity / 12.0) * hours
        glucose = max(0, glucose - 0.02 * cellDensity * hours)
        lactate += 0.012 * cellDensity * hours
        if glucose < 2.5 {  // fed-batch: the feed pump tops up glucose
            let feed = 8.0 * hours
            feedVolume += feed
            volume += feed
            glucose += feed * 0.04
        }
        if processHours > 200 { viability = max(60, viability - 0.05 * hours) }

        // Temperature: a PI loop on a heater against losses to a 22 °C room (time constant ~ 1 min).
        let error = temperatureSetpoint - temperature
        heaterIntegral = min(max(heaterIntegral + error * dt * 0.02, -0.5), 0.5)
        let heat = min(max(0.05 * error + heaterIntegral + 0.3, 0), 1)
        temperature += (heat * 50 - (temperature - 22)) * dt / 60 + jitter(0.005)

        // pH falls with lactate and CO2; the controller lowers CO2 to hold the set point.
        let phTarget = 7.25 - 0.06 * lactate - 0.07 * (co2 - 5.0)
        ph += (phTarget - ph) * min(1, 0.05 * dt) + jitter(0.002)
        co2 = min(max(co2 + (ph - phSetpoint) * 0.2 * dt, 0), 10)

        // Dissolved oxygen: consumed by cells, replenished by agitation or rocking.
        let uptake = 1.8 * cellDensity
        let transfer = (agitation / 120.0) * 9.0 * (100 - dissolvedOxygen) / 60
        dissolvedOxygen = min(max(dissolvedOxygen + (transfer - uptake) * min(dt, 1) * 0.2, 0), 100) + jitter(0.05)
        agitation = min(max(agitation + (dissolvedOxygenSetpoint - dissolvedOxygen) * 0.05 * dt, 80), 400)
        rockingRate = min(max(10 + (agitation - 80) / 20, 6), 30)
        pressure = 12 + jitter(0.3)
    }

    /// The current value of the quantity a parameter id names, or `nil` for ids the model does not know.
    public func value(for id: String) -> Value? {
        switch id {
        case "temperature", "chamber_temperature": .number(temperature)
        case "temperature_setpoint": .number(temperatureSetpoint)
        case "ph": .number(ph)
        case "ph_setpoint": .number(phSetpoint)
        case "dissolved_oxygen": .number(dissolvedOxygen)
        case "dissolved_oxygen_setpoint": .number(dissolvedOxygenSetpoint)
        case "co2": .number(co2)
        case "agitation", "agitation_speed": .number(agitation)
        case "rocking_rate": .number(rockingRate)
        case "rocking_angle": .number(rockingAngle)
        case "viable_cell_density": .number(cellDensity)
        case "total_viable_cells": .number((cellDensity * 1e6 * volume).rounded())
        case "viability": .number(viability)
        case "culture_volume": .number(volume)
        case "culture_weight": .number(volume * 1.01)
        case "feed_volume": .number(feedVolume)
        case "glucose": .number(glucose)
        case "lactate": .number(lactate)
        case "bag_pressure", "chamber_pressure": .number(pressure)
        case "run_time": .number(runSeconds.rounded(.down))
        case "process_time": .number((processHours * 3600).rounded(.down))
        case "status": .number(2)  // running
        case "status_word": .number(0x11)  // running, feed pump on
        case "phase": .number(3)  // expansion
        case "running", "heater_on", "bag_present", "door_closed", "rocking_enabled", "pump_enabled": .flag(true)
        case "alarm_summary", "maintenance_due": .flag(false)
        case "firmware_version": .text("4.2.1")
        default: nil
        }
    }
}

/// A tiny, fast, seedable generator so a simulated run can be repeated exactly.
struct SplitMix64: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
