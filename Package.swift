// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "swift-uring",
    products: [
        .library(name: "URing", targets: ["URing"]),
        .library(name: "URingLoop", targets: ["URingLoop"]),
        .library(name: "URingStorage", targets: ["URingStorage"]),
        .library(name: "URingNetwork", targets: ["URingNetwork"]),
        .executable(name: "uring", targets: ["uring"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // Property-based tests of the waiter table and the timing wheel.
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        // Peers for the benchmark tool only; no library module depends on them.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Kernel ABI: linux/io_uring.h, raw system calls, ordered loads and stores on ring memory.
        .target(name: "CURing"),
        // The raw ring: setup, SQ/CQ, typed SQE preparation, submit/wait, registration.
        .target(name: "URing", dependencies: ["CURing"]),
        // The event loop: Waker, waiter table, timing wheel, requests, buffers, Handle.
        .target(
            name: "URingLoop",
            dependencies: [
                "URing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Partitions and blobs on the loop.
        .target(name: "URingStorage", dependencies: ["URingLoop", "URing", "CURing"]),
        // TCP on the loop.
        .target(name: "URingNetwork", dependencies: ["URingLoop", "URing", "CURing"]),
        .executableTarget(
            name: "uring",
            dependencies: [
                "URing",
                "URingLoop",
                "URingStorage",
                "URingNetwork",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ]
        ),
        // Helpers shared by the test targets (not shipped in any product).
        .target(name: "URingTestSupport", dependencies: ["URing", "CURing"], path: "Tests/URingTestSupport"),
        // A process that hands its global executor to a LoopGroup: a takeover
        // lasts for the process, so GlobalExecutorTests run it as a child.
        .executableTarget(
            name: "GlobalExecutorProbe", dependencies: ["URingLoop", "URing", "URingNetwork", "URingStorage"],
            path: "Tests/GlobalExecutorProbe"
        ),
        .testTarget(name: "URingTests", dependencies: ["URing", "CURing", "URingTestSupport"]),
        .testTarget(
            name: "URingLoopTests",
            dependencies: [
                "URingLoop", "URing", "CURing", "URingTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "URingLeakTests",
            dependencies: ["URingStorage", "URingNetwork", "URingLoop", "URing", "CURing", "URingTestSupport"]
        ),
        .testTarget(name: "URingNetworkTests", dependencies: ["URingNetwork", "URingLoop", "URing", "CURing", "URingTestSupport"]),
        .testTarget(name: "URingStorageTests", dependencies: ["URingStorage", "URingLoop", "URing", "CURing", "URingTestSupport"]),
        // The command-line tool: argument checks and a smoke run of every engine.
        .testTarget(name: "UringToolTests", dependencies: ["uring", "URingTestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ],
    swiftLanguageModes: [.v6]
)
