import Acquisition
import ControlSiteLink
import Foundation
import ServiceSupport
import POCareCore
import SiteStore

/// What the watchdog asks: is every poller keeping its schedule and is the store committing?
/// (The Control Site link is reported, not required: an outage of the broker is not a hang.)
enum PipelineHealth {
    static func check(pollers: [DevicePoller], store: SiteStore, link: ControlSiteLink?) -> ServiceWatchdog.Verdict {
        let now = MonotonicClock.now()
        var stalled: [String] = []
        for poller in pollers {
            let interval = poller.settings.interval.nanoseconds
            // A cycle may run long on a timeout; three intervals plus ten seconds is a hang.
            let allowed = 3 * interval + 10_000_000_000
            let started = poller.statistics.lastCycle
            if let started, now - started > allowed { stalled.append(poller.settings.deviceId) }
        }
        let storeHealthy = store.isHealthy(now: now)
        let health = store.health
        var status = "polling \(pollers.count) devices"
        if !stalled.isEmpty { status += ", stalled: \(stalled.joined(separator: ","))" }
        if let problem = health.fileProblem {
            status += ", store LOST: \(problem)"
        } else if health.failing && health.diskFull {
            status += ", store FULL (\(health.pendingRows) rows waiting in memory)"
        } else {
            status += storeHealthy
                ? ", store ok (\(health.committedRows) rows since start)" : ", store NOT committing (\(health.pendingRows) waiting)"
        }
        if let link {
            let s = link.statistics
            status += s.connected ? ", control site connected, backlog \(s.backlog)" : ", control site unreachable"
        }
        return ServiceWatchdog.Verdict(healthy: stalled.isEmpty && storeHealthy, status: status)
    }
}
