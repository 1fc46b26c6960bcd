// swift-tools-version:6.1
import PackageDescription

// The boot binary compiles the core a second time, as Embedded Swift, through
// `Sources/EarlybindBootCore` (a symlink to `Sources/EarlybindCore`): SwiftPM
// does not let two targets share one directory.
let embedded: [SwiftSetting] = [
    .enableExperimentalFeature("Embedded"),
    .unsafeFlags(["-wmo"]),
    .unsafeFlags(["-Osize"], .when(configuration: .release)),
]

let package = Package(
    name: "earlybind",
    products: [
        .executable(name: "earlybind", targets: ["earlybind"]),
        .executable(name: "earlybind-boot", targets: ["earlybind-boot"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // No pkgConfig: its `-lkmod` would reach the CLI, which loads libkmod on demand.
        .systemLibrary(
            name: "CKmod",
            providers: [.apt(["libkmod-dev"])]
        ),
        .target(
            name: "EarlybindCore",
            dependencies: ["CKmod"]
        ),
        // libkmod for the CLI, loaded on first use (see its header).
        .target(
            name: "CKmodOnDemand",
            dependencies: ["CKmod"],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .target(
            name: "EarlybindBootCore",
            dependencies: ["CKmod"],
            exclude: ["PCIIDs.swift"],  // names are for the CLI
            swiftSettings: embedded
        ),
        .executableTarget(
            name: "earlybind-boot",
            dependencies: ["EarlybindBootCore", "CKmod"],
            swiftSettings: embedded + [.unsafeFlags(["-parse-as-library"])],
            linkerSettings: [
                // Embedded objects carry no autolink entries.
                .linkedLibrary("kmod"),
                .unsafeFlags(["-Xlinker", "--strip-all"], .when(configuration: .release)),
            ]
        ),
        .executableTarget(
            name: "earlybind",
            dependencies: [
                "EarlybindCore",
                "CKmodOnDemand",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: [
                // Runs on machines without a Swift toolchain. ArgumentParser uses
                // FoundationEssentials, whose static archive needs its support libraries.
                .unsafeFlags(["-static-stdlib"], .when(configuration: .release)),
                .linkedLibrary("_FoundationCShims", .when(configuration: .release)),
                .linkedLibrary("_FoundationCollections", .when(configuration: .release)),
                .linkedLibrary("swiftSynchronization", .when(configuration: .release)),
            ],
            plugins: ["EmbedHookFiles"]
        ),
        .plugin(name: "EmbedHookFiles", capability: .buildTool()),
        .target(
            name: "EarlybindTestSupport",
            dependencies: ["EarlybindCore"],
            path: "Tests/EarlybindTestSupport"
        ),
        .testTarget(
            name: "EarlybindCoreTests",
            dependencies: ["EarlybindCore", "EarlybindTestSupport"],
            linkerSettings: [.linkedLibrary("kmod")]
        ),
        .testTarget(
            name: "EarlybindCLITests",
            dependencies: ["earlybind", "EarlybindCore", "EarlybindTestSupport"]
        ),
    ]
)
