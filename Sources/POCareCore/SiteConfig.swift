/// One bioreactor at the site and how to reach it.
public struct DeviceConfig: Sendable, Hashable {
    public var id: String
    public var profile: DeviceProfile
    public var host: String
    public var port: Int
    public var unitId: Int
    public var pollInterval: Duration

    public init(id: String, profile: DeviceProfile, host: String, port: Int, unitId: Int, pollInterval: Duration) {
        self.id = id
        self.profile = profile
        self.host = host
        self.port = port
        self.unitId = unitId
        self.pollInterval = pollInterval
    }
}

/// The daemon's configuration for one site.
public struct SiteConfig: Sendable, Hashable {
    public var siteId: String
    public var devices: [DeviceConfig]

    public init(siteId: String, devices: [DeviceConfig]) {
        self.siteId = siteId
        self.devices = devices
    }
}
