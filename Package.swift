// swift-tools-version: 6.1
import PackageDescription

// Rooms of POCare Edge; see docs/architecture.md for what each holds and may import.
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
        // C libraries from Debian, one thin system-library target each.
        .systemLibrary(
            name: "CModbus", pkgConfig: "libmodbus",
            providers: [.apt(["libmodbus-dev"])]),
        .systemLibrary(
            name: "CMosquitto", pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(
            name: "CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(
            name: "CPostgres", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),

        // adjtimex(2), for the clock evidence in batch records (not in Swift's Glibc module).
        .target(name: "CKernelClock"),
        .target(name: "POCareCore"),
        .target(
            name: "POCareConfig",
            dependencies: ["POCareCore", "Hashing", .product(name: "Yams", package: "Yams")]),
        .target(name: "Hashing", dependencies: ["CCrypto"]),
        .target(name: "SiteService", dependencies: ["POCareCore", .product(name: "Logging", package: "swift-log")]),
        .target(name: "ControlAPI", dependencies: ["POCareCore", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "ControlSiteLink",
            dependencies: [
                "POCareCore", "SiteStore", "Hashing", "CMosquitto", "CCrypto", .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "SiteStore", dependencies: ["POCareCore", "Hashing", "CSQLite", .product(name: "Logging", package: "swift-log")]),
        .target(name: "InProcessControl", dependencies: ["POCareCore"]),
        .target(
            name: "Acquisition",
            dependencies: ["POCareCore", "CModbus", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "BioreactorSimulator",
            dependencies: [
                "POCareCore", "Acquisition", "CModbus",
                .product(name: "Logging", package: "swift-log"),
            ]),

        .target(
            name: "ControlSite",
            dependencies: [
                "POCareCore", "POCareConfig", "Hashing", "CPostgres", "ControlSiteLink", "SiteStore", "ControlAPI",
                .product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams"),
            ]),

        // Trend and box plots as SVG, rendered on the server; no dependencies.
        .target(name: "SVGPlot"),
        // The Control Site's web pages: routes, HTML and SVG rendering, users, sessions, signatures.
        .target(
            name: "ControlSiteWeb",
            dependencies: [
                "POCareCore", "POCareConfig", "ControlSite", "SVGPlot", "Hashing", "CCrypto",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdTLS", package: "hummingbird"), .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // The running site: daemon, pipeline, operator commands, batch reports, status board.
        .target(
            name: "SiteRuntime",
            dependencies: [
                "POCareCore", "POCareConfig", "Acquisition", "InProcessControl", "SiteStore", "ControlSiteLink", "SiteService",
                "Hashing", "ControlAPI", "CKernelClock",
                .product(name: "Logging", package: "swift-log"),
            ]),

        .executableTarget(
            name: "pocared",
            dependencies: [
                "POCareConfig", "SiteRuntime", "SiteService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "pocarectl",
            dependencies: [
                "POCareCore", "POCareConfig", "SiteStore", "ControlSiteLink", "ControlAPI", "SiteRuntime", "SiteService", "Hashing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "pocare-sim",
            dependencies: [
                "POCareCore", "POCareConfig", "BioreactorSimulator", "SiteService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "pocare-bench",
            dependencies: [
                "POCareCore", "POCareConfig", "Acquisition", "CModbus", "InProcessControl", "SiteStore", "ControlSiteLink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/AcquisitionBenchmark"),

        .testTarget(name: "POCareCoreTests", dependencies: ["POCareCore"]),
        .testTarget(
            name: "POCareConfigTests",
            dependencies: [
                "POCareCore", "POCareConfig", "Hashing",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "AcquisitionTests",
            dependencies: [
                "POCareCore", "POCareConfig", "Acquisition",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "InProcessControlTests",
            dependencies: [
                "POCareCore", "InProcessControl",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "SiteStoreTests",
            dependencies: [
                "POCareCore", "SiteStore", "Hashing",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "ControlSiteLinkTests",
            dependencies: [
                "POCareCore", "ControlSiteLink", "SiteStore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(name: "ControlAPITests", dependencies: ["ControlAPI", "POCareCore"]),
        .testTarget(name: "HashingTests", dependencies: ["Hashing"]),
        .testTarget(name: "SiteServiceTests", dependencies: ["SiteService", "POCareCore"]),
        .testTarget(
            name: "SiteRuntimeTests",
            dependencies: ["ControlAPI", "InProcessControl", "POCareConfig", "POCareCore", "SiteRuntime", "SiteStore"]),
        .executableTarget(
            name: "pocare-control",
            dependencies: [
                "POCareCore", "POCareConfig", "ControlSite", "ControlSiteLink", "ControlSiteWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "pocare-control-bench",
            dependencies: [
                "POCareCore", "ControlSite", "ControlSiteLink", "SiteStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/ControlIngestBenchmark"),

        .testTarget(
            name: "ControlSiteTests",
            dependencies: [
                "ControlAPI", "POCareCore", "POCareConfig", "ControlSite", "ControlSiteLink", "ControlSiteWeb", "SVGPlot", "SiteStore", "Hashing",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "POCareCore", "POCareConfig", "Acquisition", "BioreactorSimulator", "SiteStore", "ControlSiteLink", "Hashing",
                "ControlSite", .product(name: "Yams", package: "Yams"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
