import Foundation
import POCareContract
import POCareCore
import SiteStore

/// What an ingest instance spends per sample before the database: parsing the telemetry JSON
/// (`ContractMessage.parse`, as `pocare-control run` does) and recomputing each record's hash
/// (what recomputing every hash on arrival will cost), each on one thread.
enum ParseCost {
    static func measure(_ backlog: [SampleColumns], perMessage: Int) throws -> (parse: Rate, hash: Rate) {
        var payloads: [(String, [UInt8])] = []
        for c in backlog {
            for first in stride(from: 0, to: c.count, by: perMessage) {
                let samples = (first..<min(first + perMessage, c.count)).map { i in
                    PublishedSample(
                        seq: c.seq(i), time: Date(timeIntervalSince1970: Double(c.timeNs[i]) / 1e9), cycle: c.cycle[i],
                        batch: c.stream.context.batchId, phase: c.stream.context.phase, spec: c.stream.context.specFingerprint,
                        readings: designParameters.indices.map { p in
                            Reading(parameterId: designParameters[p], value: c.value(i, p).map { .number($0) },
                                    quality: c.quality[i * designParameters.count + p] == 0 ? .good : .badCommunication)
                        },
                        hash: hex(c.hash(i)), previousHash: hex(c.previousHash(i)))
                }
                payloads.append(("pocare/v1/\(c.stream.site)/\(c.stream.device)/telemetry",
                                 Contract.telemetry(site: c.stream.site, device: c.stream.device, samples: samples, sent: Date())))
            }
        }
        let total = backlog.reduce(0) { $0 + $1.count }
        let before = CPUMeter.processCPU(), clock = ContinuousClock(), started = clock.now
        var parsed = 0
        for (topic, payload) in payloads {
            if case .records(let m) = try ContractMessage.parse(topic: topic, payload: payload) { parsed += m.records.count }
        }
        let parseRate = Rate(seconds: seconds(clock.now - started), clientCPU: CPUMeter.processCPU() - before, serverCPU: nil, samples: parsed)

        let hashBefore = CPUMeter.processCPU(), hashStarted = clock.now
        var hasher = RecordChain.Hasher()
        var mismatches = 0
        for c in backlog {
            for i in 0..<c.count {
                let p = designParameters.count
                let h = c.chainHash(previous: hex(c.previousHash(i)), seq: c.seq(i), timeNs: c.timeNs[i], cycle: c.cycle[i],
                                    values: c.values[(i * p)..<((i + 1) * p)], quality: c.quality[(i * p)..<((i + 1) * p)], hasher: &hasher)
                if !h.elementsEqual(c.hash(i)) { mismatches += 1 }
            }
        }
        precondition(mismatches == 0, "recomputed hashes differ from the generated ones")
        let hashRate = Rate(seconds: seconds(clock.now - hashStarted), clientCPU: CPUMeter.processCPU() - hashBefore, serverCPU: nil, samples: total)
        return (parseRate, hashRate)
    }

    private static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
}
