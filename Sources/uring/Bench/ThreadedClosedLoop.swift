// The blocking-syscall pattern: C dedicated threads, each doing one blocking
// operation at a time until the time is up (the `pread`/`pwrite` engines and
// the echo client).
import CURing
import Glibc

enum ThreadedClosedLoop {
    private final class Worker: @unchecked Sendable {
        // `@unchecked Sendable`: `sampler` and `failure` are written only by
        // the worker's own thread and read after pthread_join.
        let index: Int
        let name: String
        let end: ContinuousClock.Instant
        let makeOperation: (Int) -> () throws -> Void
        var sampler = LatencySampler()
        var failure: (any Error)?

        init(index: Int, name: String, end: ContinuousClock.Instant, makeOperation: @escaping (Int) -> () throws -> Void) {
            self.index = index
            self.name = name
            self.end = end
            self.makeOperation = makeOperation
        }

        func run() {
            // Named, so profiles tell the peer's threads from the engine's.
            curing_set_thread_name("\(name)-\(index)")
            // Per-thread state (buffers, generators) lives in the closure.
            let operation = makeOperation(index)
            var now = ContinuousClock.now
            do {
                // At least once, like `ClosedLoop`.
                repeat {
                    try operation()
                    let done = ContinuousClock.now
                    sampler.record(done - now)
                    now = done
                } while now < end
            } catch {
                failure = error
            }
        }
    }

    /// Starts `threads` threads named `name`-index; each calls
    /// `makeOperation(index)` once and then runs the returned operation
    /// until the time is up. The caller waits without holding a pool thread.
    static func run(threads: Int, name: String, duration: Duration,
                    _ makeOperation: @escaping (Int) -> () throws -> Void) async throws -> Measurement {
        let start = ContinuousClock.now
        let workers = (0..<threads).map { Worker(index: $0, name: name, end: start + duration, makeOperation: makeOperation) }
        var handles: [pthread_t] = []
        for worker in workers {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(worker).toOpaque()
            let result = pthread_create(&thread, nil, { context in
                let worker = Unmanaged<Worker>.fromOpaque(context!).takeRetainedValue()
                worker.run()
                return nil
            }, context)
            guard result == 0 else {
                // The threads already started end at `end`; wait for them so
                // none outlives the measurement that failed.
                Unmanaged<Worker>.fromOpaque(context).release()
                await join(handles)
                throw BenchError("could not start benchmark thread \(handles.count + 1) of \(threads): \(String(cString: strerror(result)))")
            }
            handles.append(thread)
        }
        await join(handles)
        var total = LatencySampler()
        for worker in workers {
            if let failure = worker.failure { throw failure }
            total.merge(worker.sampler)
        }
        return Measurement(sampler: total, elapsed: ContinuousClock.now - start)
    }

    /// Joins `threads` from a thread of its own (see `runBlocking`), or
    /// here if no thread could be started for it: every worker is joined.
    private static func join(_ threads: [pthread_t]) async {
        do {
            try await runBlocking {
                for thread in threads { pthread_join(thread, nil) }
            }
        } catch {
            for thread in threads { pthread_join(thread, nil) }
        }
    }
}
