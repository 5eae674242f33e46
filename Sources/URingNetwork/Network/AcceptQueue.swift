// Accepts kept in flight ahead of a listener's callers, so a burst of
// connections is taken in one pass of the loop instead of one round trip
// each.
//
// With one accept at a time, every connection costs the accepting task a
// hand-off to the loop and a resume back. A burst that arrives faster than
// that fills the kernel's backlog, and the kernel then drops handshakes,
// which clients repeat only a second later. With `depth` accepts armed the
// kernel hands over up to that many at once; those no caller has asked for
// yet wait here, and the next callers take them without suspending.
//
// Invariants (under `state`'s lock; continuations are resumed, timers
// cancelled, requests submitted and descriptors closed after unlocking):
// - armed accepts + connections waiting here <= `depth`;
// - every caller is resumed exactly once, by whichever takes its `Caller`
//   first: a completion, its deadline's timer, its task's cancellation or
//   `close` (one that comes before the caller is installed leaves its
//   outcome for the installation to deliver);
// - after `close` nothing is armed again, and every connection waiting or
//   completing later is closed here: nothing accepted leaks;
// - the listening descriptor is closed here, once the owner has let go of
//   it (`releaseDescriptor`) and no accept is armed: an accept still on its
//   way to the kernel names the descriptor by number, and were it closed
//   first, the number could by then belong to another socket, whose
//   connections that accept would take;
// - a failure is kept for the next caller only if none is waiting, at most
//   one at a time, and it arms nothing by itself: a listener that fails at
//   once (EMFILE) is retried when a caller next asks, not in a loop.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing
import URingLoop

final class AcceptQueue: Sendable {
    /// One call waiting for a connection. Its fields are read and written
    /// only under the queue's lock, which is why it can be shared.
    private final class Caller: @unchecked Sendable {
        var continuation: UnsafeContinuation<AcceptedSocket, any Error>?
        /// An outcome that came before the continuation was installed.
        var early: Result<AcceptedSocket, any Error>?
        var done = false
        var timer: Task<Void, Never>?
    }

    private struct State {
        var waiting: [AcceptedSocket] = []
        var failure: (any Error)?
        var callers: [Caller] = []
        var armed = 0
        var closed = false
        /// The owner let go of the descriptor: close it when `armed` is 0.
        var released = false
    }

    /// What a finished caller still needs, done after unlocking.
    private struct Delivery {
        let continuation: UnsafeContinuation<AcceptedSocket, any Error>
        let timer: Task<Void, Never>?
        let outcome: Result<AcceptedSocket, any Error>

        func run() {
            timer?.cancel()
            continuation.resume(with: outcome)
        }
    }

    private let state = Locked(State())
    private let fd: Int32
    private let loop: Handle
    private let depth: Int
    private let closedError: IOError

    /// Accepts on `fd` through `loop`, at most `depth` ahead of the callers;
    /// `closedError` answers every call once `close()` has run.
    init(fd: Int32, loop: Handle, depth: Int, closedError: IOError) {
        self.fd = fd
        self.loop = loop
        self.depth = max(depth, 1)
        self.closedError = closedError
    }

    /// The next connection: one waiting here, or the next to complete.
    ///
    /// - Throws: the accept's failure, `.timedOut` past `deadline`,
    ///   `CancellationError`, or `closedError` once closed.
    func next(deadline: ContinuousClock.Instant?) async throws -> AcceptedSocket {
        let caller = Caller()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                let (ready, arms) = state.withLock { state -> (Result<AcceptedSocket, any Error>?, Int) in
                    if let early = caller.early { return (early, 0) }
                    if state.closed {
                        caller.done = true
                        return (.failure(closedError), 0)
                    }
                    if !state.waiting.isEmpty {
                        caller.done = true
                        return (.success(state.waiting.removeFirst()), topUp(&state))
                    }
                    if let failure = state.failure {
                        caller.done = true
                        state.failure = nil
                        return (.failure(failure), 0)
                    }
                    caller.continuation = continuation
                    state.callers.append(caller)
                    return (nil, topUp(&state))
                }
                arm(arms)
                if let ready {
                    continuation.resume(with: ready)
                } else if let deadline {
                    startTimer(for: caller, at: deadline)
                }
            }
        } onCancel: {
            finish(caller, with: .failure(CancellationError()))
        }
    }

    /// Ends every waiting call with `closedError`, closes the connections
    /// accepted ahead, and arms nothing more. The owner shuts the socket
    /// down, which ends the accepts still armed; their connections, if any
    /// completed first, are closed as they arrive.
    func close() {
        let (deliveries, waiting) = state.withLock { state -> ([Delivery], [AcceptedSocket]) in
            state.closed = true
            state.failure = nil
            defer { state.callers = []; state.waiting = [] }
            return (state.callers.compactMap { take($0, .failure(closedError)) }, state.waiting)
        }
        for connection in waiting { Glibc.close(connection.fd) }
        for delivery in deliveries { delivery.run() }
    }

    /// Closes the listening descriptor once no accept is armed (now, or
    /// when the last one ends). Call after `close()` and the socket's
    /// shutdown, which end those accepts.
    func releaseDescriptor() {
        let closeNow = state.withLock { state -> Bool in
            precondition(state.closed, "releasing the descriptor of an open accept queue")
            state.released = true
            return state.armed == 0
        }
        if closeNow { Glibc.close(fd) }
    }

    /// Connections accepted ahead and not yet taken (this package's tests).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Calls waiting for a connection (this package's tests).
    var callerCount: Int { state.withLock { $0.callers.count } }

    /// Accepts armed in the kernel (this package's tests).
    var armedCount: Int { state.withLock { $0.armed } }

    // MARK: - Internals

    /// How many accepts to arm so that armed + waiting reach `depth`; counts
    /// them as armed.
    private func topUp(_ state: inout State) -> Int {
        guard !state.closed else { return 0 }
        let arms = max(depth - state.armed - state.waiting.count, 0)
        state.armed += arms
        return arms
    }

    private func arm(_ count: Int) {
        for _ in 0..<count {
            loop.accept(on: fd) { [self] outcome in completed(outcome) }
        }
    }

    /// One armed accept ended (on the loop thread, or here if the loop had
    /// shut down).
    private func completed(_ outcome: Result<AcceptedSocket, any Error>) {
        var orphan: Int32?
        var lastAfterRelease = false
        let (delivery, arms) = state.withLock { state -> (Delivery?, Int) in
            state.armed -= 1
            if state.closed {
                if case .success(let connection) = outcome { orphan = connection.fd }
                lastAfterRelease = state.released && state.armed == 0
                return (nil, 0)
            }
            while !state.callers.isEmpty {
                let caller = state.callers.removeFirst()
                guard let delivery = take(caller, outcome) else { continue }
                // A connection handed over makes room for one more accept;
                // a failure arms nothing (see the invariants).
                if case .success = outcome { return (delivery, topUp(&state)) }
                return (delivery, 0)
            }
            switch outcome {
            case .success(let connection): state.waiting.append(connection)
            case .failure(let error): if state.failure == nil { state.failure = error }
            }
            return (nil, 0)
        }
        if let orphan { Glibc.close(orphan) }
        if lastAfterRelease { Glibc.close(fd) }
        delivery?.run()
        arm(arms)
    }

    /// Ends `caller` with `outcome` unless it ended already.
    private func finish(_ caller: Caller, with outcome: Result<AcceptedSocket, any Error>) {
        let delivery = state.withLock { state -> Delivery? in
            guard !caller.done else { return nil }
            if caller.continuation == nil {
                // Not installed yet (cancelled before it suspended): the
                // installation delivers this.
                caller.done = true
                caller.early = outcome
                return nil
            }
            state.callers.removeAll { $0 === caller }
            return take(caller, outcome)
        }
        delivery?.run()
    }

    /// Marks an installed `caller` done and returns what resumes it; nil if
    /// it was done already. Caller holds the lock.
    private func take(_ caller: Caller, _ outcome: Result<AcceptedSocket, any Error>) -> Delivery? {
        guard !caller.done, let continuation = caller.continuation else { return nil }
        caller.done = true
        caller.continuation = nil
        defer { caller.timer = nil }
        return Delivery(continuation: continuation, timer: caller.timer, outcome: outcome)
    }

    private func startTimer(for caller: Caller, at deadline: ContinuousClock.Instant) {
        let timer = Task { [self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            guard !Task.isCancelled else { return }
            finish(caller, with: .failure(IOError("accept", .timedOut, context: "listener fd \(fd)")))
        }
        let late = state.withLock { _ -> Bool in
            guard !caller.done else { return true }
            caller.timer = timer
            return false
        }
        if late { timer.cancel() }
    }
}
