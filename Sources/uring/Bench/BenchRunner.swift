// Runs one (workload, engine) pair and turns it into a result.
import Glibc
import URingLoop

enum BenchRunner {
    static func run(_ settings: BenchSettings, engine: Engine, fixture: StorageFixture?) async throws -> BenchResult {
        switch (settings.workload, engine) {
        case (.nop, .uring), (.wake, .uring):
            return try await runLoopNop(settings)
        case (.nop, .floor), (.wake, .floor):
            let floor = try FloorEngine()
            defer { floor.stop() }
            let measurement = try await ClosedLoop.run(
                concurrency: settings.concurrency, duration: settings.duration, pause: pause(settings)
            ) { _ in await floor.roundTrip() }
            var result = BenchResult(workload: settings.workload, engine: .floor, concurrency: settings.concurrency, measurement: measurement)
            result.eventfdPerOperation = Double(floor.eventfdWrites) / Double(max(measurement.sampler.operations, 1))
            return result
        case (.storageRead, _):
            let measurement = try await StorageEngines.read(settings, engine: engine, fixture: fixture!)
            return BenchResult(workload: settings.workload, engine: engine, concurrency: settings.concurrency, measurement: measurement)
        case (.storageWrite, _):
            let measurement = try await StorageEngines.write(settings, engine: engine, fixture: fixture!)
            return BenchResult(workload: settings.workload, engine: engine, concurrency: settings.concurrency, measurement: measurement)
        case (.echo, .uring), (.echo, .nio):
            let server: any EchoServer = engine == .uring
                ? try URingEchoServer(host: "127.0.0.1", port: 0)
                : try NIOEchoServer(host: "127.0.0.1", port: 0)
            do {
                let port = server.port
                let measurement = try await runBlocking {
                    try EchoClient.run(port: port, connections: settings.concurrency, messageSize: settings.messageSize, duration: settings.duration)
                }
                try await server.stop()
                return BenchResult(workload: settings.workload, engine: engine, concurrency: settings.concurrency, measurement: measurement)
            } catch {
                try? await server.stop()
                throw error
            }
        default:
            throw BenchError("engine \(engine.rawValue) does not run \(settings.workload.rawValue)")
        }
    }

    /// The wake workload idles between requests so every one meets a sleeping thread.
    private static func pause(_ settings: BenchSettings) -> Duration? {
        settings.workload == .wake ? .microseconds(500) : nil
    }

    private static func runLoopNop(_ settings: BenchSettings) async throws -> BenchResult {
        var configuration = LoopConfiguration()
        if let idleSpin = settings.idleSpin { configuration.idleSpin = .microseconds(idleSpin) }
        let handle = try IOLoop.start(configuration)
        let before = handle.statistics
        let measurement = try await ClosedLoop.run(
            concurrency: settings.concurrency, duration: settings.duration, pause: pause(settings)
        ) { _ in try await handle.nop() }
        let after = handle.statistics
        await handle.shutdown()
        var result = BenchResult(workload: settings.workload, engine: .uring, concurrency: settings.concurrency, measurement: measurement)
        let operations = Double(max(measurement.sampler.operations, 1))
        result.eventfdPerOperation = Double(after.eventfdWrites - before.eventfdWrites) / operations
        result.enterPerOperation = Double(after.enterCalls - before.enterCalls) / operations
        return result
    }
}

/// Runs blocking work (thread joins) off the cooperative pool, so the async
/// servers under test keep every pool thread.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = BlockingThread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

private final class BlockingThread: @unchecked Sendable {
    // `@unchecked Sendable`: `body` is immutable and runs once on the new thread.
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func start() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { context in
            Unmanaged<BlockingThread>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        pthread_detach(thread)
    }
}
