// The sending half of a connection.
//
// Two ways to send, one byte stream:
// - `send` suspends until the kernel has taken every byte;
// - `write` queues the bytes and returns at once (suspending only while the
//   sink holds `NetworkConfiguration.writeBufferLimit` unsent bytes); the
//   sink sends what was queued in order, one batch in the kernel at a time,
//   everything queued meanwhile as the next (vectored) batch. `flush` waits
//   until all of it is sent. A task that only writes suspends once per
//   message it receives instead of twice, and many small writes leave as one
//   system call.
//
// Invariant: a send or a batch either delivers every byte to the kernel or
// fails; after a failure an unknown prefix may have been sent, so the sink
// refuses all further sends and writes (the peer could not parse what
// follows). One send at a time: a concurrent second send (or a write during
// a send) is refused, not interleaved. The bookkeeping is `SinkState`, under
// `state`'s lock; submissions and resumptions happen after unlocking.
import URing
import URingLoop

/// Sends bytes on a connection. Sendable; use from one task at a time.
public final class Sink: Sendable {
    let socket: Socket
    private let state = Locked(SinkState())  // pthread-based: visible to ThreadSanitizer

    init(socket: Socket) {
        self.socket = socket
    }

    /// The peer's address.
    public var peer: SocketAddress { socket.peer }

    /// This end's address: the interface and port the connection leaves
    /// from (a dialed one's port is the kernel's pick), or its socket file
    /// (`unix:(unnamed)` for a client that bound none).
    ///
    /// - Throws: `IOError` from `getsockname`, which does not fail for a
    ///   connection this network made.
    public var localAddress: SocketAddress {
        get throws(IOError) { try socket.localAddress }
    }

    /// The executor of the loop this connection sends on: a task preferring
    /// it sends without crossing threads.
    public var executor: LoopExecutor { socket.sendLoop.executor }

    /// Bytes written with `write` that the kernel has not taken yet.
    public var unsentByteCount: Int { state.withLock { $0.unsentBytes } }

    /// Sends every byte of `bytes`, as `send(_: IOBuffer)` does.
    @inlinable @inline(__always)
    public func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant? = nil) async throws {
        try await send(IOBuffer(bytes: bytes), deadline: deadline)
    }

    /// Sends every byte of `buffer`, by `deadline` (nil: within the
    /// read/write timeout; a deadline of its own may be later or earlier).
    /// Writes still unsent go first, each batch within the read/write
    /// timeout.
    ///
    /// - Throws: `IOError` (`.timedOut`, `.errno(EPIPE)`...). After any
    ///   failure the sink is unusable: later sends throw at once.
    @inlinable @inline(__always)  // no async frame of its own (see `Handle.send`)
    public func send(_ buffer: IOBuffer, deadline: ContinuousClock.Instant? = nil) async throws {
        try await exclusively(deadline: deadline) { try await $0.send(buffer, to: $1, deadline: $2, readyFirst: $3) }
    }

    /// Sends every byte of `buffers`, back to back (vectored).
    ///
    /// - Throws: as `send(_: IOBuffer)`.
    @inlinable @inline(__always)
    public func send(_ buffers: [IOBuffer], deadline: ContinuousClock.Instant? = nil) async throws {
        try await exclusively(deadline: deadline) { try await $0.send(buffers, to: $1, deadline: $2, readyFirst: $3) }
    }

    /// Runs one send (on the sending loop, to this socket, by `deadline` or
    /// else the read/write timeout) while holding the sink, after any
    /// unsent writes. Inlined with its closure, so it adds no async frame
    /// either.
    @inlinable @inline(__always)
    func exclusively(
        deadline: ContinuousClock.Instant?, _ send: (Handle, Int32, ContinuousClock.Instant?, Bool) async throws -> Void
    ) async throws {
        var target = try acquire(deadline: deadline)
        while target == nil {
            try await flush()
            target = try acquire(deadline: deadline)
        }
        let (loop, fd, deadline, readyFirst) = target!
        do {
            try await send(loop, fd, deadline, readyFirst)
        } catch {
            throw failed(error)
        }
        release()
    }

    // MARK: - One send at a time (opaque steps around the inlined send)

    /// Takes the sink for one send, or refuses: another send is running, or
    /// an earlier one failed. Returns where and until when to send, or nil
    /// while writes are unsent (flush, then ask again).
    @usableFromInline
    func acquire(deadline: ContinuousClock.Instant?) throws -> (Handle, Int32, ContinuousClock.Instant?, readyFirst: Bool)? {
        try socket.refuseIfClosed("send")
        let peer = socket.peer
        switch try state.withLock({ try $0.admit(.sending, peer: peer) }) {
        case .acquired: return (socket.sendLoop, socket.fd, deadline ?? socket.deadline, socket.readyFirstTurns.take(.sends))
        case .flushFirst: return nil
        }
    }

    /// Ends a successful send.
    @usableFromInline
    func release() {
        state.withLock { $0.sendSucceeded() }
    }

    /// Ends a failed send: the sink refuses all later ones, and an IOError
    /// gets the peer's address as context.
    @usableFromInline
    func failed(_ error: any Error) -> any Error {
        state.withLock { $0.sendFailed() }
        return IOError.labelling(error, with: "\(socket.peer)")
    }

    // MARK: - Writes without waiting for the kernel

    /// Queues `buffer` to be sent after everything written before it, and
    /// returns without waiting for the kernel, unless the sink already holds
    /// `writeBufferLimit` unsent bytes: then it first waits for room.
    ///
    /// The sink owns `buffer` from now until a later `flush` returns, or
    /// `unsentByteCount` reads 0, or the sink fails: do not change it
    /// meanwhile. A failure of the send shows up in a later `write`,
    /// `send` or `flush`.
    ///
    /// - Throws: the failure of an earlier write or send (after which the
    ///   sink is unusable), an `IOError` if a `send` is in progress, or
    ///   `CancellationError` if the task is cancelled while waiting for
    ///   room (the buffer is then not queued).
    public func write(_ buffer: IOBuffer) async throws {
        try socket.refuseIfClosed("send")
        let limit = socket.configuration.writeBufferLimit
        let peer = socket.peer
        guard buffer.count > 0 else {
            // Nothing to send, but an earlier failure is still reported.
            return try state.withLock { try $0.refuseUnlessOpen(peer: peer) }
        }
        while true {
            switch try state.withLock({ try $0.admitWrite(buffer, limit: limit, peer: peer) }) {
            case .queued:
                return
            case .submit(let batch):
                submit(batch)
                return
            case .full:
                try await waitUntilUnsent(atMost: limit - 1)
            }
        }
    }

    /// Queues a copy of `bytes`; see `write(_: IOBuffer)`.
    public func write(_ bytes: [UInt8]) async throws {
        try await write(IOBuffer(bytes: bytes))
    }

    /// Waits until the kernel has taken every byte written so far.
    ///
    /// - Throws: the failure of a write (the sink is then unusable), or
    ///   `CancellationError` if the task is cancelled first (the writes
    ///   still go out).
    public func flush() async throws {
        try socket.refuseIfClosed("send")
        try await waitUntilUnsent(atMost: 0)
    }

    /// Submits one batch on the sending loop, and each next one (what was
    /// queued meanwhile) as the one before ends, resuming whoever the drain
    /// frees. With `readyFirst`'s `.sends`, what the socket takes at once is
    /// sent on the writer's thread, and a batch sent whole ends right here
    /// (so `write` returns with nothing unsent), with no trip to the loop.
    ///
    /// Batches that end here are followed by the next in this loop, not
    /// from a completion inside the send: while other tasks keep writing,
    /// every batch this thread sends whole has a next one, and nesting a
    /// call per batch would grow this thread's stack without bound. Nor
    /// does the writer send for the others for ever: after
    /// `batchesSentHereAtMost` batches the next goes to the ring, and the
    /// writer's `write` returns.
    private func submit(_ first: [IOBuffer]) {
        var batch = first
        var sentHere = 0
        // The handler captures only `self` (no context to allocate); it
        // also keeps the sink, and so the descriptor, alive until the
        // batch is done, even if the caller drops the sink. It runs on the
        // loop thread, where no send is tried first: its next batch goes to
        // the ring, and this loop ends there after one pass.
        while let result = socket.sendLoop.send(
            batch, to: socket.fd, deadline: socket.deadline,
            readyFirst: sentHere < Sink.batchesSentHereAtMost && socket.readyFirstTurns.take(.sends),
            completion: { result in self.batchFinished(result) }) {
            guard let next = finishBatch(result) else { return }
            sentHere += 1
            batch = next
        }
    }

    /// The most batches one `write` sends on its own thread in a row (the
    /// first, and what other writers queued meanwhile).
    static let batchesSentHereAtMost = ReadyFirstTurns.period

    /// A batch the ring sent ended (on the loop thread).
    private func batchFinished(_ result: Result<Void, any Error>) {
        if let next = finishBatch(result) { submit(next) }
    }

    /// Accounts for the batch that ended and resumes whoever that frees;
    /// returns the next batch to send, if writes were queued meanwhile.
    private func finishBatch(_ result: Result<Void, any Error>) -> [IOBuffer]? {
        var failure: (any Error)?
        if case .failure(let error) = result { failure = IOError.labelling(error, with: "\(socket.peer)") }
        let outcome = state.withLock { $0.batchFinished(failure: failure) }
        for waiter in outcome.resumed {
            if let failure = outcome.failure {
                waiter.continuation.resume(throwing: failure)
            } else {
                waiter.continuation.resume()
            }
        }
        return outcome.next
    }

    /// Suspends until at most `threshold` written bytes are unsent.
    private func waitUntilUnsent(atMost threshold: Int) async throws {
        let peer = socket.peer
        let id = state.withLock { $0.makeWaiterID() }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                do {
                    // Checked under the lock the handler takes too: a cancel
                    // that came earlier is seen here, a later one finds the waiter.
                    let waiting = try state.withLock { state throws in
                        if Task.isCancelled { throw CancellationError() }
                        return try state.wait(untilUnsentAtMost: threshold, id: id, peer: peer, continuation: continuation)
                    }
                    if !waiting { continuation.resume() }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            state.withLock { $0.removeWaiter(id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Sends everything written so far, then shuts the sending direction:
    /// the peer receives end of stream after the last byte, and this
    /// connection's stream keeps receiving (a half-close, for protocols
    /// that end a request with end of stream). Later sends and writes are
    /// refused.
    ///
    /// - Throws: as `flush`, or an `IOError` if a send is in progress or
    ///   the kernel refuses the shutdown.
    public func finish() async throws {
        try socket.refuseIfClosed("send")
        let peer = socket.peer
        while try state.withLock({ try $0.admit(.finished, peer: peer) }) == .flushFirst {
            try await flush()
        }
        try socket.shutdownSending()
    }

    /// Ends the connection in both directions (a pending receive on its
    /// stream ends with `.endOfFile`). Written bytes not yet sent are
    /// dropped, and a waiting `flush` throws: flush first to close after
    /// everything went out. Later calls on the sink or its stream are
    /// refused ("the connection is closed").
    public func close() {
        socket.shutdown()
    }
}
