// Runs one (workload, engine) pair and turns it into a result.
import ArgumentParser
import CURing
import Glibc
import URingLoop
import URingNetwork
import URingStorage

enum BenchRunner {
    static func run(_ settings: BenchSettings, engine: Engine, fixture: StorageFixture?) async throws -> BenchResult {
        switch (settings.workload, engine) {
        case (.nop, .uring), (.wake, .uring):
            return try await runLoopNop(settings)
        case (.nop, .uringLocal), (.wake, .uringLocal):
            return try await runLocalNop(settings)
        case (.nop, .floor), (.wake, .floor):
            let floor = try FloorEngine(niceness: settings.threadNice)
            defer { floor.stop() }
            let measurement = try await ClosedLoop.run(
                concurrency: settings.concurrency, duration: settings.duration, pause: pause(settings)
            ) { _ in await floor.roundTrip() }
            var result = BenchResult(workload: settings.workload, engine: .floor, concurrency: settings.concurrency, measurement: measurement)
            result.eventfdPerOperation = Double(floor.eventfdWrites) / Double(max(measurement.sampler.operations, 1))
            return result
        case (.storageRead, .uringLocal):
            let measurement = try await withLocalGroup(settings) { group in
                let storage = try Storage(directory: fixture!.root, loops: group)
                let blob = try await storage.open(partition: "bench", name: [1], direct: settings.direct).blob
                if settings.batch > 1 {
                    return try await StorageEngines.readInBatches(
                        blob, settings, fileSize: fixture!.fileSize, executors: group.handles.map(\.executor))
                }
                let buffers = PerTask(settings.concurrency) { _ in IOBuffer(capacity: StorageFixture.blockSize, alignment: 4096) }
                let offsets = PerTask(settings.concurrency) {
                    RandomOffsets(seed: $0, fileSize: fixture!.fileSize, blockSize: UInt64(StorageFixture.blockSize))
                }
                return try await ClosedLoop.run(
                    concurrency: settings.concurrency, duration: settings.duration, executors: group.handles.map(\.executor)
                ) { task in
                    _ = try await blob.read(at: offsets.with(task) { $0.next() }, into: buffers.with(task) { $0 },
                                            options: settings.readOptions)
                }
            }
            var result = BenchResult(workload: settings.workload, engine: engine, concurrency: settings.concurrency, measurement: measurement)
            if settings.batch > 1 { result.batch = settings.batch }
            return result
        case (.storageRead, _):
            let measurement = try await StorageEngines.read(settings, engine: engine, fixture: fixture!)
            var result = BenchResult(workload: settings.workload, engine: engine, concurrency: settings.concurrency, measurement: measurement)
            if engine == .uring && settings.batch > 1 { result.batch = settings.batch }
            return result
        case (.storageWrite, .uringLocal):
            let measurement = try await withLocalGroup(settings) { group in
                let storage = try Storage(directory: fixture!.root, loops: group)
                return try await StorageEngines.writeBlobs(settings, storage: storage, executors: group.handles.map(\.executor))
            }
            return BenchResult(workload: settings.workload, engine: engine, concurrency: settings.concurrency, measurement: measurement)
        case (.storageWrite, _):
            let measurement = try await StorageEngines.write(settings, engine: engine, fixture: fixture!)
            return BenchResult(workload: settings.workload, engine: engine, concurrency: settings.concurrency, measurement: measurement)
        case (.echo, .uringLocal):
            return try await withLocalGroup(settings) { group in
                try await measureEcho(settings, engine: engine, server: URingEchoServer(host: "127.0.0.1", port: 0, loops: group))
            }
        case (.echo, .uringGlobal):
            var options = ["--global-executor"]
            if settings.pinLoops { options.append("--pin-loops") }
            if let idleSpin = settings.idleSpin { options += ["--idle-spin", "\(idleSpin)"] }
            if let threadNice = settings.threadNice { options += ["--thread-nice", "\(threadNice)"] }
            return try await measureEcho(settings, engine: engine, server: ChildEchoServer.start(options: options))
        case (.echo, .uring):
            let configuration = echoConfiguration(settings)
            // Under --global-executor the server's network is the installed
            // group, its connection tasks plain ones: the takeover moves each
            // onto its connection's loop. (A network of its own would split
            // every connection between a send and a receive loop, and a task
            // can follow only one.)
            return try await measureEcho(settings, engine: engine, server: URingEchoServer(
                host: "127.0.0.1", port: 0, configuration: configuration, loops: settings.globalLoops, preferLoops: false))
        case (.echo, .nio):
            return try await measureEcho(settings, engine: engine, server: await NIOEchoServer(
                host: "127.0.0.1", port: 0, pinnedCPU: settings.pinLoops ? LoopGroup.usableCPUs().first : nil,
                niceness: settings.threadNice))
        case (.echo, .nioAsync):
            return try await measureEcho(settings, engine: engine, server: NIOAsyncEchoServer(
                host: "127.0.0.1", port: 0, pinnedCPU: settings.pinLoops ? LoopGroup.usableCPUs().first : nil,
                niceness: settings.threadNice))
        case (.udpEcho, .uring):
            let configuration = echoConfiguration(settings)
            // Under --global-executor on the installed group, as echo's.
            return try await measureDatagramEcho(settings, engine: engine, server: URingDatagramEchoServer.start(
                address: try URingLoop.SocketAddress(host: "127.0.0.1", port: 0), configuration: configuration,
                loops: settings.globalLoops))
        case (.udpEcho, .uringLocal):
            return try await withLocalGroup(settings) { group in
                try await measureDatagramEcho(settings, engine: engine, server: URingDatagramEchoServer.start(
                    address: try URingLoop.SocketAddress(host: "127.0.0.1", port: 0),
                    configuration: URingEchoServer.defaultConfiguration, loops: group, preferLoop: true))
            }
        case (.udpEcho, .nio):
            return try await measureDatagramEcho(settings, engine: engine, server: await NIODatagramEchoServer(
                host: "127.0.0.1", port: 0, pinnedCPU: settings.pinLoops ? LoopGroup.usableCPUs().first : nil,
                niceness: settings.threadNice))
        default:
            throw BenchError("engine \(engine.rawValue) does not run \(settings.workload.rawValue)")
        }
    }

    /// The echo client against `server` for the run; the server is stopped
    /// on every path.
    private static func measureEcho(_ settings: BenchSettings, engine: Engine, server: any EchoServer) async throws -> BenchResult {
        do {
            let port = server.port
            let measurement = try await EchoClient.run(
                port: port, connections: settings.concurrency, messageSize: settings.messageSize, duration: settings.duration)
            try await server.stop()
            return BenchResult(workload: settings.workload, engine: engine, concurrency: settings.concurrency, measurement: measurement)
        } catch {
            try? await server.stop()
            throw error
        }
    }

    /// The datagram echo client against `server` for the run; the server is
    /// stopped on every path.
    private static func measureDatagramEcho(_ settings: BenchSettings, engine: Engine, server: any EchoServer) async throws
        -> BenchResult {
        do {
            let measurement = try await DatagramEchoClient.run(
                port: server.port, clients: settings.concurrency, messageSize: settings.messageSize, duration: settings.duration)
            try await server.stop()
            return BenchResult(workload: settings.workload, engine: engine, concurrency: settings.concurrency, measurement: measurement)
        } catch {
            try? await server.stop()
            throw error
        }
    }

    /// The wake workload idles between requests so every one meets a sleeping thread.
    private static func pause(_ settings: BenchSettings) -> Duration? {
        settings.workload == .wake ? .microseconds(500) : nil
    }

    /// Our loops' settings for a run: the defaults a user gets (a network's
    /// for echo, with room for every connection), with --idle-spin,
    /// --thread-nice, --no-read-pacing and --no-idle-futex.
    static func loopConfiguration(_ settings: BenchSettings) -> LoopConfiguration {
        let base = [.echo, .udpEcho].contains(settings.workload) ? NetworkConfiguration.defaultLoop : LoopConfiguration()
        var configuration = loopConfiguration(idleSpin: settings.idleSpin, threadNice: settings.threadNice, base: base)
        configuration.pacesDeviceReads = settings.readPacing
        configuration.sleepsOnFutexWhenIdle = settings.idleFutex
        return configuration
    }

    /// The uring engine's network settings for echo and udp-echo: the echo
    /// server's, with the run's loop settings and --ready-first.
    static func echoConfiguration(_ settings: BenchSettings) -> NetworkConfiguration {
        var configuration = URingEchoServer.defaultConfiguration
        configuration.loop = loopConfiguration(settings)
        configuration.readyFirst = settings.readyFirst
        return configuration
    }

    /// Refuses --idle-spin and --thread-nice values our loops cannot take
    /// (both `bench` and `echo-server` accept them).
    static func validateLoopOptions(idleSpin: Int?, threadNice: Int32?) throws {
        if let idleSpin, !(0...10_000).contains(idleSpin) { throw ValidationError("--idle-spin must be in 0...10000 µs") }
        if let threadNice, !(-20...19).contains(threadNice) { throw ValidationError("--thread-nice must be in -20...19, got \(threadNice)") }
    }

    static func loopConfiguration(idleSpin: Int?, threadNice: Int32?, base: LoopConfiguration) -> LoopConfiguration {
        var configuration = base
        if let idleSpin { configuration.idleSpin = .microseconds(idleSpin) }
        configuration.niceness = threadNice
        return configuration
    }

    /// Runs `body` on the uring-local engines' loops (one per CPU, pinned
    /// with --pin-loops), shutting them down on every path.
    private static func withLocalGroup<T>(_ settings: BenchSettings, _ body: (LoopGroup) async throws -> T) async throws -> T {
        let group = try LoopGroup(configuration: loopConfiguration(settings), pinningLoopsToCPUs: settings.pinLoops)
        do {
            let result = try await body(group)
            await group.shutdown()
            return result
        } catch {
            await group.shutdown()
            throw error
        }
    }

    /// nop/wake with tasks on the loops themselves: a LoopGroup (one loop
    /// per CPU), tasks spread over it, every request submitted directly.
    private static func runLocalNop(_ settings: BenchSettings) async throws -> BenchResult {
        // The counters are read after the group's shutdown, when they are final.
        let (measurement, handles) = try await withLocalGroup(settings) { group in
            let handles = settings.workload == .wake ? [group.handles[0]] : group.handles
            let measurement = try await ClosedLoop.run(
                concurrency: settings.concurrency, duration: settings.duration, pause: pause(settings),
                executors: handles.map(\.executor)
            ) { task in try await handles[task % handles.count].nop() }
            return (measurement, handles)
        }
        var result = BenchResult(workload: settings.workload, engine: .uringLocal, concurrency: settings.concurrency, measurement: measurement)
        let operations = Double(max(measurement.sampler.operations, 1))
        let statistics = handles.map(\.statistics)
        result.eventfdPerOperation = Double(statistics.reduce(0) { $0 + $1.eventfdWrites }) / operations
        result.futexPerOperation = Double(statistics.reduce(0) { $0 + $1.futexWakes }) / operations
        result.enterPerOperation = Double(statistics.reduce(0) { $0 + $1.enterCalls }) / operations
        result.wakeCompletionsPerOperation = Double(statistics.reduce(0) { $0 + $1.wakeCompletions }) / operations
        return result
    }

    private static func runLoopNop(_ settings: BenchSettings) async throws -> BenchResult {
        let handle = try IOLoop.start(loopConfiguration(settings))
        let before = handle.statistics
        let measurement = try await ClosedLoop.run(
            concurrency: settings.concurrency, duration: settings.duration, pause: pause(settings)
        ) { _ in try await handle.nop() }
        let after = handle.statistics
        await handle.shutdown()
        var result = BenchResult(workload: settings.workload, engine: .uring, concurrency: settings.concurrency, measurement: measurement)
        let operations = Double(max(measurement.sampler.operations, 1))
        result.eventfdPerOperation = Double(after.eventfdWrites - before.eventfdWrites) / operations
        result.futexPerOperation = Double(after.futexWakes - before.futexWakes) / operations
        result.enterPerOperation = Double(after.enterCalls - before.enterCalls) / operations
        result.wakeCompletionsPerOperation = Double(after.wakeCompletions - before.wakeCompletions) / operations
        return result
    }
}
