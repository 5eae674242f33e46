// The measured pattern shared by every async engine: C tasks, each awaiting
// one operation at a time in a loop until the time is up.

enum ClosedLoop {
    /// Runs `operation(task)` from `concurrency` tasks for `duration` (each
    /// task at least once); `pause` inserts an idle gap after each operation
    /// (the wake workload).
    /// With `executors`, task i runs with `executors[i % count]` as its
    /// task-executor preference (on that loop's thread).
    static func run(
        concurrency: Int, duration: Duration, pause: Duration? = nil, executors: [any TaskExecutor] = [],
        operationsPerCall: Int = 1, _ operation: @escaping @Sendable (Int) async throws -> Void
    ) async throws -> Measurement {
        let start = ContinuousClock.now
        let end = start + duration
        let sampler = try await withThrowingTaskGroup(of: LatencySampler.self) { group in
            for task in 0..<concurrency {
                let body: @Sendable () async throws -> LatencySampler = {
                    var sampler = LatencySampler()
                    var now = ContinuousClock.now
                    // At least one operation per task, so a task that starts
                    // only after the time is up (a crowded machine) is still
                    // measured instead of reporting nothing.
                    repeat {
                        try await operation(task)
                        let done = ContinuousClock.now
                        sampler.record(done - now, count: UInt64(operationsPerCall))
                        if let pause {
                            try await Task.sleep(for: pause)
                            now = ContinuousClock.now
                        } else {
                            now = done
                        }
                    } while now < end
                    return sampler
                }
                // Plain tasks for engines without a preference: even a nil
                // preference marks a task as having one, and the runtime
                // then looks it up under a global lock at every hop.
                if executors.isEmpty {
                    group.addTask(operation: body)
                } else {
                    group.addTask(executorPreference: executors[task % executors.count], operation: body)
                }
            }
            var total = LatencySampler()
            for try await sampler in group { total.merge(sampler) }
            return total
        }
        return Measurement(sampler: sampler, elapsed: ContinuousClock.now - start)
    }
}
