// What all copies of a `Handle` share; its end is the loop's shutdown signal.
//
// When the last copy of a handle goes away, `deinit` closes the channel
// first and rings the eventfd second: a loop asleep in io_uring_enter wakes,
// finds the channel closed, and starts its shutdown drain at once.
import URing

final class HandleCore: Sendable {
    let channel: SubmissionChannel
    let waker: Waker
    let counters: LoopCounters
    let termination: LoopTermination
    let executor: LoopExecutor

    init(channel: SubmissionChannel, waker: Waker, counters: LoopCounters, termination: LoopTermination, executor: LoopExecutor) {
        self.channel = channel
        self.waker = waker
        self.counters = counters
        self.termination = termination
        self.executor = executor
    }

    deinit {
        channel.close()
        waker.ring()
    }

    /// Hands `request` to the loop and suspends until the loop resumes it.
    ///
    /// Exactly-once: the continuation is resumed either here (channel closed,
    /// or the task was cancelled before the hand-off), or by the loop, never
    /// both, because a request the channel refused never reaches the loop.
    ///
    /// Always inlined, and cancellation is a bare task record rather than
    /// `withTaskCancellationHandler`: each async frame between the caller and
    /// the continuation costs a hop on resumption (see
    /// `TaskCancellationRecord.swift`).
    @inline(__always)
    func perform<Value>(_ request: ValueRequest<Value>) async throws -> Value {
        // If the task is already cancelled, the handler runs at once, and the
        // continuation below sees the flag before handing the request over.
        // A request that cannot be cancelled in flight only looks once.
        let record: UnsafeMutableRawPointer?
        if request.cancellable {
            request.carrier = self
            record = TaskCancellationRecord.add(for: request)
        } else {
            if Task.isCancelled { throw CancellationError() }
            record = nil
        }
        defer {
            TaskCancellationRecord.remove(record)
            // The record's handler reaches this core through the request's
            // unowned `carrier`: keep the core alive until the record is gone.
            extendLifetime(self)
            // Pairs with the release in `ValueRequest.takeContinuation`.
            _ = request.lifecycle.load(ordering: .acquiring)
        }
        return try await withUnsafeThrowingContinuation { continuation in
            request.continuation = continuation
            if request.isCancelRequested {
                request.fail(CancellationError())
                return
            }
            if executor.isCurrent {
                // Already on the loop thread: stage it at the next pass,
                // with no lock, no sequence and no eventfd.
                if executor.local.isClosing {
                    request.fail(IOError(request.operation, .shutdown))
                } else {
                    executor.local.directRequests.append(request)
                }
                return
            }
            switch channel.enqueue(request) {
            case .queued: waker.publish()
            case .parked: break
            case .closed: request.fail(IOError(request.operation, .shutdown))
            }
        }
    }
}
