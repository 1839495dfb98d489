// swift-tools-version:6.1
// The libFuzzer targets (docs/FUZZING.md). A package of its own, so that `swift build` and
// `swift test` of exorec never see them; built only by `make fuzz` / `make fuzz-ci`:
//
//     swift build --package-path Fuzz --scratch-path .build-fuzz -c debug \
//         -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing
//
// Each target is one executable whose `LLVMFuzzerTestOneInput` libFuzzer calls.
import Foundation
import PackageDescription

/// A path dependency's identity is its folder's name, which differs between clones (`exorec`,
/// `main`, a worktree's name), so it is derived rather than written down.
let exorec = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent.lowercased()

func fuzzer(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: dependencies + ["FuzzEntry"],
        swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
    )
}

let package = Package(
    name: "exorec-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // `<Target>_main` for each target: see FuzzEntry.c.
        .target(name: "FuzzEntry"),
        fuzzer("FuzzStreamMessage", [.product(name: "ExotelKit", package: exorec)]),
        fuzzer(
            "FuzzStreamEvents",
            [
                .product(name: "ExotelKit", package: exorec), .product(name: "MediaStore", package: exorec),
                .product(name: "Ingest", package: exorec),
            ]
        ),
        fuzzer("FuzzCallback", [.product(name: "ExotelKit", package: exorec)]),
        fuzzer(
            "FuzzCampaignFile",
            [.product(name: "Orchestrator", package: exorec), .product(name: "ExotelKit", package: exorec)]
        ),
        fuzzer("FuzzByteRange", [.product(name: "Doors", package: exorec)]),
        fuzzer("FuzzS3Response", [.product(name: "ObjectStore", package: exorec)]),
        fuzzer("FuzzWavHeaderRepair", [.product(name: "MediaStore", package: exorec)]),
        fuzzer(
            "FuzzConsoleInput",
            [.product(name: "Console", package: exorec), .product(name: "Catalog", package: exorec)]
        ),
        // The configuration parser lives in the executable target, which cannot be imported: its
        // files are compiled into this target through symlinks (Sources/FuzzConfig/*.swift).
        fuzzer(
            "FuzzConfig",
            [
                .product(name: "Ingest", package: exorec), .product(name: "Doors", package: exorec),
                .product(name: "MediaStore", package: exorec),
                .product(name: "ExotelKit", package: exorec), .product(name: "ExotelClient", package: exorec),
                .product(name: "Yams", package: "Yams"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
