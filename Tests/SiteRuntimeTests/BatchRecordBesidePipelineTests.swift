import ControlAPI
import POCareContract
import Foundation
import POCareCore
import SiteRuntime
import SiteStore
import Synchronization
import Testing

@Suite("The batch record is built beside the pipeline")
struct BatchRecordBesidePipelineTests {
    @Test("while a long batch's record is being built, the pipeline goes on answering: a request after the batch's end is answered before the record is committed")
    func pipelineGoesOnWhileTheRecordIsBuilt() async throws {
        try await RuntimeFixture.with { site in
            // A long batch: many stored samples for its record to read (ingested straight into
            // the store; the pipeline's own path is not what this is about).
            let spec = try #require(site.daemon.site.devices[0].batch?.spec.fingerprint)
            let profile = site.daemon.site.devices[0].profile
            let readings = profile.parameters.map { Reading(parameterId: $0.id, value: .number(37), quality: .good) }
            let start = Date().addingTimeInterval(-3600)
            for n in 0..<60_000 {
                site.store.append(
                    Sample(deviceId: "rocker-1", time: start.addingTimeInterval(Double(n) * 0.05), monotonicTime: Int64(n),
                           cycle: UInt64(n), startLateness: .zero, missedCycles: 0, readings: readings),
                    context: SampleContext(batchId: "RT-1", phase: "expansion", specFingerprint: spec),
                    parameters: profile.parameters.map(\.id))
            }
            await site.store.flush()

            let daemon = DaemonHandle(site.daemon)
            let pipeline = Task { await daemon.daemon.runPipeline() }
            let answers = Mutex<[String]>([])
            let recordCommittedWhenAnswered = Mutex<Bool?>(nil)
            let storePath = site.storePath
            let peer = site.operatorPeer
            site.daemon.input.yield(.control(
                ControlRequest(.batchEnd(BatchEnd(device: "rocker-1", reason: "run complete")), id: "end"), peer,
                reply: { response in answers.withLock { $0.append(response.id ?? "") } }))
            site.daemon.input.yield(.control(ControlRequest(.status, id: "status"), peer, reply: { response in
                // What the store holds at the moment the pipeline answers.
                recordCommittedWhenAnswered.withLock { $0 = storeHasBatchRecord(storePath) }
                answers.withLock { $0.append(response.id ?? "") }
            }))
            #expect(await waitFor { answers.withLock { $0 } == ["end", "status"] })
            #expect(recordCommittedWhenAnswered.withLock { $0 } == false, "the status was answered while the record was still being built")
            #expect(await waitFor { storeHasBatchRecord(storePath) }, "the record is committed all the same")
            site.daemon.input.finish()
            await pipeline.value
        }
    }
}

/// Hands the daemon to the task that runs its pipeline. Unchecked Sendable: once that task runs,
/// the test touches the daemon only through its input stream, as the socket and pollers do.
final class DaemonHandle: @unchecked Sendable {
    let daemon: SiteDaemon
    init(_ daemon: SiteDaemon) { self.daemon = daemon }
}

func storeHasBatchRecord(_ path: String) -> Bool {
    guard let reader = try? StoreReader(path: path) else { return false }
    return ((try? reader.events(stream: .events(device: "rocker-1"), after: 0, limit: 100_000)) ?? []).contains { $0.kind == "batch_record" }
}

/// Generous: with the whole suite running beside it, the pipeline's thread may wait its turn long.
func waitFor(_ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(120)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
