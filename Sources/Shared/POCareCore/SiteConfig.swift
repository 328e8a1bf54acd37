/// A batch the site configuration names for a device: started once, where the device runs no
/// batch and the batch id was never used at the site (operators start theirs with `pocarectl batch start`).
public struct BatchPlan: Sendable, Hashable {
    public var batchId: String
    public var spec: IPCSpec
    public var phase: String?
    /// Whether the phase follows the device's enumerated `phase` parameter (the default where
    /// the profile has one).
    public var followDevicePhase: Bool

    public init(batchId: String, spec: IPCSpec, phase: String?, followDevicePhase: Bool) {
        self.batchId = batchId
        self.spec = spec
        self.phase = phase
        self.followDevicePhase = followDevicePhase
    }
}

/// One bioreactor at the site and how to reach it.
public struct DeviceConfig: Sendable, Hashable {
    public var id: String
    public var profile: DeviceProfile
    public var host: String
    public var port: Int
    public var unitId: Int
    public var pollInterval: Duration
    public var batch: BatchPlan?

    public init(
        id: String, profile: DeviceProfile, host: String, port: Int, unitId: Int, pollInterval: Duration,
        batch: BatchPlan? = nil
    ) {
        self.id = id
        self.profile = profile
        self.host = host
        self.port = port
        self.unitId = unitId
        self.pollInterval = pollInterval
        self.batch = batch
    }
}

/// Where and how the site store keeps its records.
public struct StoreConfig: Sendable, Hashable {
    /// The system path for the service, a path of the user's own otherwise (see `DefaultPaths`).
    public static var defaultPath: String { DefaultPaths.store }

    public var path = StoreConfig.defaultPath
    /// SQLite `synchronous`: FULL (the default for GMP data) or NORMAL.
    public var synchronousFull = true
    public var commitInterval: Duration = .milliseconds(100)
    public var commitRows = 1000
    public var retention: Duration = .seconds(30 * 86_400)
    public var freeSpaceWarningBytes: Int64 = 512 << 20
    public var freeSpaceLimitBytes: Int64 = 64 << 20

    public init() {}
}

/// How the site reaches the Control Site's MQTT broker.
public struct ControlSiteConfig: Sendable, Hashable {
    /// `mqtt://host:port` or `mqtts://host:port`.
    public var brokerURL: String
    public var host: String
    public var port: Int
    public var clientId: String
    public var mqtt5 = false
    public var keepAlive: Duration = .seconds(30)
    public var topicRoot = "pocare/v1"
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var username: String?
    public var password: String?
    public var window = 64
    public var telemetryBatch = 200
    /// The site's Ed25519 private key (`pocarectl identity init`): it signs checkpoints and the birth.
    public var identityKeyFile: String?
    /// How often the site signs a checkpoint of every chain (at most a minute).
    public var checkpointInterval: Duration = .seconds(60)
    /// The Control Site's public key (`ed25519:` and 64 hex digits, from `pocare-control identity
    /// init`): replay requests it signed are the Control Site's, answered on a quota of their own.
    public var controlSiteKey: String?
    /// Whether replay requests not proven to be the Control Site's are answered (on a smaller
    /// quota of their own) or refused with the reason (the default).
    public var answerUnsignedReplay = false

    public init(brokerURL: String, host: String, port: Int, clientId: String) {
        self.brokerURL = brokerURL
        self.host = host
        self.port = port
        self.clientId = clientId
    }

    public var usesTLS: Bool { brokerURL.hasPrefix("mqtts://") || caFile != nil }
}

/// Where operators reach the daemon.
public struct ControlSocketConfig: Sendable, Hashable {
    /// The system path for the service, a path of the user's own otherwise (see `DefaultPaths`).
    public static var defaultPath: String { DefaultPaths.socket }
    public var path = ControlSocketConfig.defaultPath
    /// Group that may connect (mode 0660); nil means `pocare-operators` where that group
    /// exists, and the daemon's own group elsewhere (a development machine).
    public var group: String?
    /// A client running as root must name the person it acts for (`pocarectl --user NAME`)
    /// for every state-changing command (`control: { require_user: true }`).
    public var requireUserForRoot = false
    public init() {}
}

/// The daemon's configuration for one site.
public struct SiteConfig: Sendable, Hashable {
    public var siteId: String
    public var devices: [DeviceConfig]
    public var store: StoreConfig
    public var controlSite: ControlSiteConfig?
    public var control = ControlSocketConfig()
    /// The folders an operator's `batch start --spec FILE` may read specs from (absolute).
    /// The daemon reads with its own rights, so a path outside them is refused unopened.
    public var specDirectories: [String] = []
    /// Batches start only under specs the Control Site's register holds as released for the
    /// device's equipment model (`specs: { require_release: false }` turns this off for
    /// commissioning and tests; such a batch's record says its spec was not released).
    public var requireSpecRelease = true
    /// Operator actions by someone the Control Site's personnel register does not list, or
    /// whose GxP training has expired, are refused; `personnel: { allow_unregistered: true }`
    /// lets them through, each one audited as a `personnel.exception` (a deviation at the
    /// Control Site). Nothing is checked before the site holds a personnel register.
    public var allowUnregisteredOperators = false
    /// Where Prometheus metrics are served; nil: not served.
    public var metrics: MetricsConfig?

    public init(siteId: String, devices: [DeviceConfig], store: StoreConfig = StoreConfig(), controlSite: ControlSiteConfig? = nil) {
        self.siteId = siteId
        self.devices = devices
        self.store = store
        self.controlSite = controlSite
    }
}

/// Where a program serves its Prometheus metrics (`metrics: { address: "127.0.0.1:9464" }`):
/// a local address, as the metrics carry device and site names.
public struct MetricsConfig: Sendable, Hashable {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
