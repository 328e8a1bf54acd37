import Foundation

// What `status` and `reload` answer.

public struct StatusReport: Codable, Sendable, Hashable {
    public struct Store: Codable, Sendable, Hashable {
        public var path: String
        public var sizeBytes: Int64
        /// Free bytes on the store's file system, nil when unknown.
        public var freeBytes: Int64?
        public var pendingRows: Int
        public var committedRows: Int
        public var healthy: Bool
        /// The oldest record the Control Site does not have yet: how far behind the site is.
        public var oldestUndelivered: String?
        /// The store's identity, made when it was created.
        public var epoch: String?
        /// Set when the file was deleted or replaced under the running daemon.
        public var fileProblem: String?
        public init(
            path: String, sizeBytes: Int64, freeBytes: Int64?, pendingRows: Int, committedRows: Int, healthy: Bool, oldestUndelivered: String?,
            epoch: String? = nil, fileProblem: String? = nil
        ) {
            self.path = path
            self.sizeBytes = sizeBytes
            self.freeBytes = freeBytes
            self.pendingRows = pendingRows
            self.committedRows = committedRows
            self.healthy = healthy
            self.oldestUndelivered = oldestUndelivered
            self.epoch = epoch
            self.fileProblem = fileProblem
        }
    }

    public struct ControlSiteLink: Codable, Sendable, Hashable {
        public var connected: Bool
        public var backlog: Int64
        public var lastDelivery: String?
        public var lastError: String?
        public init(connected: Bool, backlog: Int64, lastDelivery: String?, lastError: String?) {
            self.connected = connected
            self.backlog = backlog
            self.lastDelivery = lastDelivery
            self.lastError = lastError
        }
    }

    public struct AlarmCounts: Codable, Sendable, Hashable {
        public var active: Int
        public var unacknowledged: Int
        public init(active: Int, unacknowledged: Int) {
            self.active = active
            self.unacknowledged = unacknowledged
        }
    }

    public struct Device: Codable, Sendable, Hashable {
        public var id: String
        public var profile: String
        public var connected: Bool
        /// Seconds since the last cycle that read every parameter; nil when none has.
        public var lastGoodPollS: Double?
        public var missedCycles: UInt64
        public var activeAlarms: Int
        public var batch: String?
        public var phase: String?
        public var spec: String?
        /// Set while the whole device is out of service.
        public var outOfService: OutOfServiceItem?
        /// `ok` or `lost` (the communication alarm stands), with or without a batch.
        public var communication: String?
        /// Polls in a row without a good value (missed polls included): so far, or in the loss that stands.
        public var missedPolls: Int?
        public var communicationLostSince: String?
        /// Whether the batch follows the phase the device reports.
        public var phaseFromDevice: Bool?
        /// The batch the site configuration names for the device, and what became of it.
        public var configuredBatch: ConfiguredBatchStatus?
        public init(id: String, profile: String, connected: Bool, lastGoodPollS: Double?, missedCycles: UInt64, activeAlarms: Int,
                    batch: String?, phase: String?, spec: String?, outOfService: OutOfServiceItem? = nil) {
            self.outOfService = outOfService
            self.id = id
            self.profile = profile
            self.connected = connected
            self.lastGoodPollS = lastGoodPollS
            self.missedCycles = missedCycles
            self.activeAlarms = activeAlarms
            self.batch = batch
            self.phase = phase
            self.spec = spec
        }
    }

    public var version: String
    public var site: String
    public var uptimeS: Int
    public var store: Store
    /// Fingerprints of the specs in force.
    public var specs: [String]
    /// nil when the site has no Control Site configured.
    public var controlSite: ControlSiteLink?
    public var alarms: AlarmCounts
    public var devices: [Device]
    /// Alarms and devices out of service, until returned.
    public var outOfService: [OutOfServiceItem]?
    /// The Control Site's register of released specs the site enforces; nil when none was received.
    public var specRegister: RegisterVersion?
    /// False when the site starts batches under specs the Control Site has not released (commissioning).
    public var requireSpecRelease: Bool?
    /// Who may act at the site: the Control Site's personnel register, nil when none was received.
    public var personnelRegister: RegisterVersion?
    /// The people that register lists.
    public var personnelListed: Int?
    /// True when people the register does not list act anyway, each action audited as an exception.
    public var allowUnregisteredOperators: Bool?
    /// True when a root client must name the person it acts for (`control.require_user`).
    public var requireUserForRoot: Bool?

    public init(version: String, site: String, uptimeS: Int, store: Store, specs: [String], controlSite: ControlSiteLink?,
                alarms: AlarmCounts, devices: [Device], outOfService: [OutOfServiceItem]? = nil) {
        self.outOfService = outOfService
        self.version = version
        self.site = site
        self.uptimeS = uptimeS
        self.store = store
        self.specs = specs
        self.controlSite = controlSite
        self.alarms = alarms
        self.devices = devices
    }
}

public struct ReloadResult: Codable, Sendable, Hashable {
    public var applied: Bool
    /// The configuration's identity as the audit trail records it.
    public var configuration: String
    public init(applied: Bool, configuration: String) {
        self.applied = applied
        self.configuration = configuration
    }
}
