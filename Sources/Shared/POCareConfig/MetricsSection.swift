import POCareCore

extension MappingReader {
    /// The `metrics:` section of site.yaml and control.yaml: `address: "host:port"` (or
    /// `"[ipv6]:port"`), where Prometheus scrapes `/metrics`. Absent: no metrics are served.
    package func metricsSection() -> MetricsConfig? {
        guard let reader = mappingReader("metrics") else { return nil }
        reader.rejectUnknownKeys(allowed: ["address"])
        guard let address = reader.string("address", required: true) else { return nil }
        guard let (host, port) = parseEndpoint(address) else {
            collector.error(reader.fieldPath("address"), "expected host:port (or [ipv6]:port) with port 1...65535, got '\(address)'")
            return nil
        }
        return MetricsConfig(host: host, port: port)
    }
}
