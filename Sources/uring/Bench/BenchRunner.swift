// Runs one (workload, engine) pair and turns it into a result.
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
        if let idleSpin = settings.idleSpin { configuration.idleSpinYields = idleSpin }
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
