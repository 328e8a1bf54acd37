// swift-tools-version: 6.1
import PackageDescription

// POCare Edge in three parts, one folder each under Sources/: what both sides share, what runs at
// a site, what runs at the Control Site. docs/architecture.md draws each room and what it imports.

let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let arguments = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")
let propertyBased = Target.Dependency.product(name: "PropertyBased", package: "swift-property-based")

func shared(_ name: String) -> String { "Sources/Shared/\(name)" }
func site(_ name: String) -> String { "Sources/Site/\(name)" }
func controlSite(_ name: String) -> String { "Sources/ControlSite/\(name)" }

let package = Package(
    name: "POCareEdge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pocared", targets: ["pocared"]),
        .executable(name: "pocarectl", targets: ["pocarectl"]),
        .executable(name: "pocare-sim", targets: ["pocare-sim"]),
        .executable(name: "pocare-bench", targets: ["pocare-bench"]),
        .executable(name: "pocare-control", targets: ["pocare-control"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // MARK: Shared by the site and the Control Site

        // C libraries from Debian, one thin system-library target each.
        .systemLibrary(
            name: "CCrypto", path: shared("CCrypto"), pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CMosquitto", path: shared("CMosquitto"), pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]),
        .target(name: "POCareCore", path: shared("POCareCore")),
        .target(name: "Hashing", dependencies: ["CCrypto"], path: shared("Hashing")),
        .target(name: "POCareConfig", dependencies: ["POCareCore", "Hashing", yams], path: shared("POCareConfig")),
        // The one rule by which a batch's values are weighted and its excursions found (docs/ipc-specs.md):
        // the site's batch record, the Control Site's batch page and checks, and comparability use it.
        .target(name: "BatchStatistics", dependencies: ["POCareCore"], path: shared("BatchStatistics")),
        // The MQTT contract (docs/asyncapi.yaml): every message encoded and decoded in one place,
        // topics and stream names, the consumer's checks of sequence numbers and chains.
        .target(name: "POCareContract", dependencies: ["POCareCore", "Hashing"], path: shared("POCareContract")),
        // One MQTT client over libmosquitto, for the site's link and the Control Site's ingest.
        .target(name: "MQTT", dependencies: ["CMosquitto", "CCrypto", "POCareCore"], path: shared("MQTT")),
        // systemd's notify protocol, the watchdog, journald lines and process signals, for every program.
        .target(name: "ServiceSupport", dependencies: ["POCareCore", log], path: shared("ServiceSupport")),

        // MARK: The site

        .systemLibrary(
            name: "CModbus", path: site("CModbus"), pkgConfig: "libmodbus",
            providers: [.apt(["libmodbus-dev"])]),
        .systemLibrary(
            name: "CSQLite", path: site("CSQLite"), pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),
        // adjtimex(2), for the clock evidence in batch records (not in Swift's Glibc module).
        .target(name: "CKernelClock", path: site("CKernelClock")),
        .target(name: "Acquisition", dependencies: ["POCareCore", "CModbus", log], path: site("Acquisition")),
        .target(name: "InProcessControl", dependencies: ["POCareCore"], path: site("InProcessControl")),
        .target(name: "SiteStore", dependencies: ["POCareCore", "POCareContract", "Hashing", "CSQLite", log], path: site("SiteStore")),
        .target(
            name: "ControlSiteLink",
            dependencies: ["POCareCore", "POCareContract", "MQTT", "SiteStore", "Hashing", log],
            path: site("ControlSiteLink")),
        .target(name: "ControlAPI", dependencies: ["POCareCore", "POCareContract", log], path: site("ControlAPI")),
        // The verification and audit answers read from a store file, for the daemon and for `pocarectl --store`.
        .target(name: "StoreReports", dependencies: ["POCareCore", "SiteStore", "ControlAPI"], path: site("StoreReports")),
        // The running site: daemon, pipeline, operator commands, batch reports, status board.
        .target(
            name: "SiteRuntime",
            dependencies: [
                "POCareCore", "POCareConfig", "POCareContract", "MQTT", "Acquisition", "InProcessControl", "SiteStore", "ControlSiteLink",
                "ServiceSupport", "Hashing", "ControlAPI", "StoreReports", "CKernelClock", "BatchStatistics", log,
            ],
            path: site("SiteRuntime")),
        .target(
            name: "BioreactorSimulator",
            dependencies: ["POCareCore", "Acquisition", "CModbus", log],
            path: site("BioreactorSimulator")),
        .executableTarget(
            name: "pocared",
            dependencies: ["POCareConfig", "SiteRuntime", "ServiceSupport", arguments, log],
            path: site("pocared")),
        .executableTarget(
            name: "pocarectl",
            dependencies: [
                "POCareCore", "POCareConfig", "POCareContract", "MQTT", "SiteStore", "ControlSiteLink", "ControlAPI", "StoreReports",
                "ServiceSupport", "Hashing", arguments,
            ],
            path: site("pocarectl")),
        .executableTarget(
            name: "pocare-sim",
            dependencies: ["POCareCore", "POCareConfig", "BioreactorSimulator", "ServiceSupport", arguments, log],
            path: site("pocare-sim")),

        // MARK: The Control Site

        .systemLibrary(
            name: "CPostgres", path: controlSite("CPostgres"), pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        // The comparability method, pure: distributions, the tiers, the envelope, Hotelling's T².
        .target(name: "ComparabilityMethod", path: controlSite("ComparabilityMethod")),
        // Ingest, integrity, replay requests, the records and reports QA reads.
        .target(
            name: "ControlSiteRecords",
            dependencies: [
                "POCareCore", "POCareConfig", "POCareContract", "MQTT", "Hashing", "CPostgres", "ServiceSupport", "ComparabilityMethod", "BatchStatistics", log, yams,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: controlSite("ControlSiteRecords")),
        // The quality system: users and e-signatures, the POC Master File, change control,
        // qualification, deviations, comparisons and batch disposition.
        .target(
            name: "ControlSiteQuality",
            dependencies: ["POCareCore", "POCareConfig", "POCareContract", "ControlSiteRecords", "Hashing", log],
            path: controlSite("ControlSiteQuality")),
        // Trend and box plots as SVG, rendered on the server; no dependencies.
        .target(name: "SVGPlot", path: controlSite("SVGPlot")),
        // The web pages: routes, HTML and SVG rendering, users, sessions, signatures.
        .target(
            name: "ControlSiteWeb",
            dependencies: [
                "POCareCore", "POCareConfig", "ControlSiteRecords", "ControlSiteQuality", "ComparabilityMethod", "SVGPlot", "Hashing",
                "BatchStatistics",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdTLS", package: "hummingbird"), .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                log,
            ],
            path: controlSite("ControlSiteWeb")),
        .executableTarget(
            name: "pocare-control",
            dependencies: [
                "POCareCore", "POCareConfig", "POCareContract", "Hashing", "ServiceSupport", "ControlSiteRecords", "ControlSiteQuality",
                "ComparabilityMethod", "ControlSiteWeb", "BatchStatistics", arguments, log,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: controlSite("pocare-control")),

        // MARK: Benchmarks

        .executableTarget(
            name: "pocare-bench",
            dependencies: [
                "POCareCore", "POCareConfig", "POCareContract", "MQTT", "Acquisition", "CModbus", "InProcessControl", "SiteStore", "ControlSiteLink",
                arguments, log,
            ],
            path: "Benchmarks/AcquisitionBenchmark"),
        .executableTarget(
            name: "pocare-control-bench",
            dependencies: ["POCareCore", "POCareConfig", "POCareContract", "ControlSiteRecords", "ControlSiteQuality", "ControlSiteWeb", "ControlSiteLink",
                           "SiteStore", "Hashing", arguments, log],
            path: "Benchmarks/ControlIngestBenchmark"),

        // MARK: Tests

        // What tests start and stop: brokers, PostgreSQL clusters, processes, the notify socket,
        // the AsyncAPI schema check; one implementation each.
        .target(
            name: "TestSupport", dependencies: ["POCareCore", "ControlSiteRecords", "MutexHandover", yams], path: "Tests/TestSupport"),
        // Under Thread Sanitizer only: shows it the hand-over of a contended Mutex (scripts/tsan.sh).
        .target(name: "MutexHandover", path: "Tests/MutexHandover"),

        .testTarget(name: "POCareCoreTests", dependencies: ["POCareCore"]),
        .testTarget(name: "POCareConfigTests", dependencies: ["POCareCore", "POCareConfig", "Hashing", propertyBased]),
        .testTarget(name: "HashingTests", dependencies: ["Hashing"]),
        .testTarget(name: "BatchStatisticsTests", dependencies: ["BatchStatistics", "POCareCore", propertyBased]),
        .testTarget(name: "ComparabilityMethodTests", dependencies: ["ComparabilityMethod"], exclude: ["Fixtures"]),
        .testTarget(name: "ServiceSupportTests", dependencies: ["ServiceSupport", "POCareCore"]),
        .testTarget(name: "AcquisitionTests", dependencies: ["POCareCore", "POCareConfig", "Acquisition", propertyBased]),
        .testTarget(name: "InProcessControlTests", dependencies: ["POCareCore", "InProcessControl", propertyBased]),
        .testTarget(name: "SiteStoreTests", dependencies: ["POCareCore", "POCareContract", "SiteStore", "Hashing", propertyBased]),
        .testTarget(name: "ControlSiteLinkTests", dependencies: ["POCareCore", "POCareContract", "ControlSiteLink", "SiteStore", "Hashing", propertyBased]),
        .testTarget(name: "ControlAPITests", dependencies: ["ControlAPI", "POCareCore", "POCareContract"]),
        .testTarget(
            name: "SiteRuntimeTests",
            dependencies: [
                "ControlAPI", "InProcessControl", "POCareConfig", "POCareCore", "POCareContract", "SiteRuntime", "SiteStore", "BatchStatistics",
            ]),
        .testTarget(
            name: "ControlSiteTests",
            dependencies: [
                "TestSupport",
                "ControlAPI", "POCareCore", "POCareConfig", "POCareContract", "MQTT", "ControlSiteRecords", "ControlSiteQuality", "ComparabilityMethod",
                "ControlSiteLink", "ControlSiteWeb", "SVGPlot", "SiteStore", "Hashing", "BatchStatistics", propertyBased,
            ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "TestSupport",
                "POCareCore", "POCareConfig", "POCareContract", "MQTT", "Acquisition", "BioreactorSimulator", "SiteStore", "ControlSiteLink", "Hashing",
                "ControlSiteRecords", yams,
            ]),
    ],
    swiftLanguageModes: [.v6]
)
