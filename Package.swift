// swift-tools-version:6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The per-frame path (ExotelKit → MediaStore → Ingest). Release builds used to pass
/// `-enforce-exclusivity=unchecked` here; measured again for issue 13 (docs/PERFORMANCE.md), the
/// run-time checks it removed were about 0.5 % of the service thread's samples at saturation
/// (`swift_beginAccess`/`swift_endAccess`: MediaStore 0.35 %, Ingest 0.15 %, ExotelKit none) and
/// saturation showed no difference beyond the run-to-run spread, so every build keeps the checks.
/// SwiftPM cannot scope a flag below a target; a single hot stored property could take
/// `@exclusivity(unchecked)` instead, if a profile ever asks for it.
let hotPathSettings: [SwiftSetting] = strictSettings

let package = Package(
    name: "exorec",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "exorec", targets: ["exorec"]),
        // For the libFuzzer targets in Fuzz/Package.swift (docs/FUZZING.md), which depend on this package by path.
        .library(name: "ExotelKit", targets: ["ExotelKit"]),
        .library(name: "MediaStore", targets: ["MediaStore"]),
        .library(name: "Ingest", targets: ["Ingest"]),
        .library(name: "Doors", targets: ["Doors"]),
        .library(name: "ExotelClient", targets: ["ExotelClient"]),
        .library(name: "Orchestrator", targets: ["Orchestrator"]),
        .library(name: "Catalog", targets: ["Catalog"]),
        .library(name: "Console", targets: ["Console"]),
        .library(name: "ObjectStore", targets: ["ObjectStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/vapor/sql-kit", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit", from: "2.17.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        // The compliance console's pages (docs/CONSOLE.md).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // Tests only: the stream machine's property test and the per-frame allocation count.
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/ordo-one/malloc-interposer.git", from: "1.6.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibWebSockets",
            path: "Sources/CLibWebSockets",
            pkgConfig: "libwebsockets",
            providers: [.apt(["libwebsockets-dev", "libev-dev"])]
        ),
        .systemLibrary(
            name: "CSndFile",
            path: "Sources/CSndFile",
            pkgConfig: "sndfile",
            providers: [.apt(["libsndfile1-dev"])]
        ),
        .systemLibrary(name: "CSystemShims", path: "Sources/CSystemShims"),
        .target(name: "ExotelKit", swiftSettings: hotPathSettings),
        .target(
            name: "MediaStore",
            dependencies: [
                "CSndFile", "ExotelKit",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "Ingest",
            dependencies: [
                "CLibWebSockets", "ExotelKit", "MediaStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "Doors",
            dependencies: [
                "ExotelKit", "MediaStore", "Ingest",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ExotelClient",
            dependencies: [
                "ExotelKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                // The transport tells a refused connection (never sent) from one that failed after sending.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ExotelSimulator",
            dependencies: [
                "ExotelKit", "MediaStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The archive's S3 client (docs/ARCHIVE.md): SigV4 and the Object Lock operations, nothing else.
        .target(
            name: "ObjectStore",
            dependencies: [
                "ExotelKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Catalog",
            dependencies: [
                "ExotelKit", "MediaStore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Orchestrator",
            dependencies: [
                "ExotelKit", "MediaStore", "Catalog", "ExotelClient", "Ingest", "Doors", "ObjectStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CSV", package: "CSV.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // The compliance web console on the internal door (docs/CONSOLE.md).
        .target(
            name: "Console",
            dependencies: [
                "ExotelKit", "MediaStore", "Catalog", "Doors", "Orchestrator", "Ingest",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LoadGen",
            dependencies: [
                "CSystemShims", "ExotelKit", "MediaStore",
                // Insecure.SHA1, for the handshake's Sec-WebSocket-Accept.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ExorecTesting",
            dependencies: [
                "CSystemShims", "ExotelKit", "MediaStore", "Ingest", "Doors",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "exorec",
            dependencies: [
                "ExotelKit", "MediaStore", "Ingest", "Doors", "LoadGen", "ExotelClient", "ExotelSimulator", "Catalog",
                "Orchestrator", "Console", "ObjectStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "ExotelKitTests", dependencies: ["ExotelKit"], swiftSettings: strictSettings),
        .testTarget(
            name: "ExotelClientTests",
            dependencies: [
                "ExotelClient", "ExotelKit", .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ExotelSimulatorTests",
            dependencies: [
                "ExotelSimulator", "ExotelClient", "ExotelKit", "MediaStore", "ExorecTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "MediaStoreTests",
            dependencies: ["MediaStore", "ExorecTesting"],
            swiftSettings: strictSettings
        ),
        // Runs the per-frame path single-threaded between the malloc interposer's hook() and unhook();
        // StreamMachineAllocationTests starts it with LD_PRELOAD of libMallocInterposerSwift.so.
        .executableTarget(
            name: "AllocationProbe",
            dependencies: [
                "ExotelKit", "MediaStore", "Ingest",
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IngestTests",
            dependencies: [
                "Ingest", "ExorecTesting", .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DoorsTests",
            dependencies: [
                "Doors", "Ingest", "ExotelKit", "MediaStore", "ExorecTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CatalogTests",
            dependencies: [
                "Catalog", "ExotelKit", "MediaStore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OrchestratorTests",
            dependencies: [
                "Orchestrator", "Catalog", "ExotelClient", "ExotelSimulator", "ExotelKit", "MediaStore", "Ingest",
                "Doors", "ExorecTesting",
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ConsoleTests",
            dependencies: [
                "Console", "Catalog", "Doors", "ExotelKit", "MediaStore", "Orchestrator", "Ingest", "ExorecTesting",
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ObjectStoreTests",
            dependencies: [
                "ObjectStore", "ExotelKit", "ExorecTesting", .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "LoadGenTests", dependencies: ["LoadGen", "ExotelKit"], swiftSettings: strictSettings),
        .testTarget(name: "ExorecTestingTests", dependencies: ["ExorecTesting"], swiftSettings: strictSettings),
        .testTarget(
            name: "ExorecCLITests",
            dependencies: [
                "ExorecTesting", "MediaStore", .product(name: "PostgresKit", package: "postgres-kit"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
