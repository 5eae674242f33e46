// What all copies of a `Handle` share; its end is the loop's shutdown signal.
//
// When the last copy of a handle goes away, `deinit` closes the channel
// first and rings the eventfd second: a loop asleep in io_uring_enter wakes,
// finds the channel closed, and starts its shutdown drain at once.
import CURing
import Synchronization
import URing

@usableFromInline
final class HandleCore: Sendable {
    let channel: SubmissionChannel
    let waker: Waker
    let counters: LoopCounters
    let termination: Latch
    let executor: LoopExecutor
    /// The settings the loop runs with (validated).
    let configuration: LoopConfiguration
    /// Cleared once this loop's kernel showed it lacks IORING_OP_FTRUNCATE
    /// (before Linux 6.9): the ring's EINVAL, then a plain `ftruncate` that
    /// succeeded on the same descriptor. `Handle.truncate` then goes
    /// straight to the system call.
    let ringTruncates = Atomic<Bool>(true)

    init(channel: SubmissionChannel, waker: Waker, counters: LoopCounters, termination: Latch, executor: LoopExecutor,
         configuration: LoopConfiguration) {
        self.channel = channel
        self.configuration = configuration
        self.waker = waker
        self.counters = counters
        self.termination = termination
        self.executor = executor
    }

    deinit {
        channel.close()
        waker.wakeForClose()
    }

    /// Hands `request` to the loop and suspends until the loop resumes it.
    ///
    /// Exactly-once: the continuation is resumed either in `submit` (channel
    /// closed, or the task was cancelled before the hand-off), or by the
    /// loop, never both, because a request the channel refused never reaches
    /// the loop.
    ///
    /// Inlinable, down to the continuation: every async frame between the
    /// caller and the continuation costs the task a hop after it resumes,
    /// and for a task with an executor preference each hop looks the
    /// preference up under the Swift runtime's process-wide status-record
    /// lock. So the async shell is inlined into the public operations and,
    /// across modules, into URingStorage, URingNetwork and user code; the
    /// work itself stays in the three opaque steps below. Cancellation is a
    /// bare task record for the same reason (see `TaskCancellationRecord`).
    @inlinable @inline(__always)
    func perform<Value>(_ request: ValueRequest<Value>) async throws -> Value {
        let record = try begin(request)
        defer { end(request, record: record) }
        return try await withUnsafeThrowingContinuation { continuation in
            submit(request, continuation: continuation)
        }
    }

    /// Installs the cancellation record (for requests cancellable in flight),
    /// or throws if the task is already cancelled (for the others).
    @usableFromInline
    func begin(_ request: Request) throws -> UnsafeMutableRawPointer? {
        // If the task is already cancelled, the handler runs at once, and
        // `submit` sees the flag before handing the request over.
        guard request.cancellable else {
            if Task.isCancelled { throw CancellationError() }
            return nil
        }
        request.carrier = self
        return TaskCancellationRecord.add(for: request)
    }

    /// Runs after the continuation resumed: removes the record and makes
    /// everything the loop wrote for the request visible to the caller.
    @usableFromInline
    func end(_ request: Request, record: UnsafeMutableRawPointer?) {
        TaskCancellationRecord.remove(record)
        // The record's handler reaches this core through the request's
        // unowned `carrier`: keep the core alive until the record is gone.
        extendLifetime(self)
        // Pairs with the release in `ValueRequest.takeContinuation`.
        _ = request.lifecycle.load(ordering: .acquiring)
    }

    /// The page-cache half of a `cacheFirst` read: copies on this thread
    /// what the cache holds of `count` bytes at `offset`, from the first
    /// byte on, and returns how many that was. Whatever stops it (EAGAIN at
    /// a page not cached, the end of the file, EOPNOTSUPP from a filesystem
    /// without RWF_NOWAIT, a bad descriptor) leaves the rest to the ring,
    /// whose answer is the one the caller gets; so do a cancelled task and a
    /// shut-down loop, which read nothing here.
    @usableFromInline
    func readFromCache(_ fd: Int32, at offset: UInt64, into buffer: IOBuffer, count: Int, rwFlags: Int32) -> Int {
        if channel.isClosed || Task.isCancelled { return 0 }
        var done = 0
        while done < count {
            let result = curing_read_cached(fd, buffer.base + done, min(count - done, IOBuffer.maximumTransfer),
                                            offset + UInt64(done), rwFlags)
            guard result > 0 else { break }
            done += result
        }
        if done == count { counters.countReadFromCache() }
        return done
    }

    /// Whether a socket call may first be tried on this thread (a
    /// `readyFirst` send or receive): not on the loop's own thread, where
    /// the ring answers without a hop anyway and batches the system calls,
    /// and not for a cancelled task or a shut-down loop, whose answers the
    /// ring path gives.
    @usableFromInline
    var triesSocketsHere: Bool {
        !executor.isCurrent && !channel.isClosed && !Task.isCancelled
    }

    /// The socket half of a `readyFirst` receive: takes on this thread,
    /// without waiting, what `fd` already holds of `count` bytes at `start`
    /// in `buffer` (all of them with `exact`, else one receive's worth).
    /// Returns how many bytes that was and whether the peer has closed its
    /// side (a receive of 0); nothing queued (`EAGAIN`) leaves the rest to
    /// the ring.
    ///
    /// - Throws: the receive's error (`ECONNRESET`, `ENOTSOCK`...), as the
    ///   ring would have reported it: the kernel reports it once, so it
    ///   cannot be left for the ring to find again.
    @usableFromInline
    func receiveReady(_ fd: Int32, into buffer: IOBuffer, at start: Int, count: Int, exact: Bool)
        throws(IOError) -> (received: Int, peerClosed: Bool) {
        var done = 0
        while done < count {
            let result = curing_receive_ready(fd, buffer.base + start + done, min(count - done, IOBuffer.maximumTransfer))
            if result == 0 { return (done, true) }
            if result == -Int(EAGAIN) || result == -Int(EINTR) { break }
            if result < 0 { throw IOError("recv", errno: Int32(result), context: "fd \(fd)") }
            done += result
            if !exact { break }
        }
        return (done, false)
    }

    /// The socket half of a `readyFirst` datagram receive: one datagram
    /// into `buffer` if `fd` holds one now, with its sender; nil when none
    /// is queued, for the ring to wait for.
    ///
    /// - Throws: as the ring's receive would: the kernel's errno, or
    ///   `EMSGSIZE` for a datagram too long for the buffer (dropped).
    func receiveDatagramReady(_ fd: Int32, into buffer: IOBuffer) throws(IOError) -> SocketAddress? {
        var header = DatagramHeader(base: buffer.base, count: buffer.capacity, address: nil, forReceive: true)
        let result = curing_recvmsg_ready(fd, header.message(resettingForReceive: true), Int32(MSG_TRUNC))
        if result == -Int(EAGAIN) || result == -Int(EINTR) { return nil }
        buffer.count = try header.receivedLength(Int32(result), capacity: buffer.capacity, fd: fd, operation: "recvmsg").get()
        counters.countImmediateReceive()
        return header.sender
    }

    /// The socket half of a `readyFirst` batch of datagram receives: the
    /// datagrams `fd` holds now, one per buffer from the first, as the
    /// ring's batch would take them after its first; nil when none is
    /// queued. An error after the first datagram rides along, as there.
    ///
    /// - Throws: the first receive's error (see `receiveDatagramReady`).
    func receiveDatagramsReady(_ fd: Int32, into buffers: [IOBuffer]) throws(IOError) -> ReceivedDatagrams? {
        var header = DatagramHeader(base: buffers[0].base, count: buffers[0].capacity, address: nil, forReceive: true)
        var senders: [SocketAddress] = []
        for buffer in buffers {
            header.retarget(base: buffer.base, count: buffer.capacity)
            let result = curing_recvmsg_ready(fd, header.message(resettingForReceive: true), Int32(MSG_TRUNC))
            if result == -Int(EAGAIN) || result == -Int(EINTR) { break }
            switch header.receivedLength(Int32(result), capacity: buffer.capacity, fd: fd, operation: "recvmsg") {
            case .failure(let error):
                if senders.isEmpty { throw error }
                counters.countImmediateReceive()
                return ReceivedDatagrams(senders: senders, trailingError: error)
            case .success(let length):
                buffer.count = length
            }
            let sender = header.sender
            senders.append(sender)
            // A shut-down socket answers with nothing from nobody, for good.
            if result == 0 && sender.length == 0 { break }
        }
        if senders.isEmpty { return nil }
        counters.countImmediateReceive()
        return ReceivedDatagrams(senders: senders)
    }

    /// The socket half of a `readyFirst` datagram send: sends `buffer`
    /// whole if `fd` has room now. `false` when it has none (`EAGAIN`), for
    /// the ring to wait for room.
    ///
    /// - Throws: as the ring's send would, naming the size and destination.
    func sendDatagramReady(_ fd: Int32, _ buffer: IOBuffer, to destination: SocketAddress?) throws(IOError) -> Bool {
        var header = DatagramHeader(base: buffer.base, count: buffer.count, address: destination, forReceive: false)
        let result = curing_sendmsg_ready(fd, header.message(resettingForReceive: false))
        if result == -Int(EAGAIN) || result == -Int(EINTR) { return false }
        let context = DatagramSendRequest.context(fd: fd, count: buffer.count, to: destination)
        if result < 0 { throw IOError("sendmsg", errno: Int32(result), context: context) }
        guard result == buffer.count else {
            throw IOError("sendmsg", .errno(EMSGSIZE), context: "\(context): the kernel took \(result) bytes of it")
        }
        counters.countImmediateSend()
        return true
    }

    /// Stores the continuation and hands the request over: staged directly
    /// when called on the loop thread, through the channel otherwise.
    @usableFromInline
    func submit<Value>(_ request: ValueRequest<Value>, continuation: UnsafeContinuation<Value, any Error>) {
        request.continuation = continuation
        if request.isCancelRequested {
            request.fail(CancellationError())
            return
        }
        handOff(request)
    }

    /// Hands `request` over with `completionHandler` in place of a waiting
    /// task: no task is suspended, and the handler runs exactly once, on the
    /// loop thread, or at once on this thread if the loop has shut down.
    /// Such a request has no task to cancel it; its deadline still applies.
    func submit<Value>(_ request: ValueRequest<Value>, completionHandler: @escaping @Sendable (Result<Value, any Error>) -> Void) {
        request.completionHandler = completionHandler
        handOff(request)
    }

    /// Hands several requests over together, each with its completion
    /// handler set: on the loop thread staged directly, otherwise through
    /// the channel under one lock, with one publish for all (at most one
    /// eventfd write). If the loop has shut down, each fails at once here.
    func submit(batch: [Request]) {
        if executor.isCurrent {
            if executor.local.isClosing {
                for request in batch { request.fail(request.error(for: .shutdown)) }
            } else {
                for request in batch { executor.local.directRequests.append(request) }
            }
            return
        }
        guard let queued = channel.enqueue(contentsOf: batch) else {
            for request in batch { request.fail(request.error(for: .shutdown)) }
            return
        }
        // Parked ones are published by the loop when it promotes them.
        if queued > 0 { waker.publish(count: UInt64(queued)) }
    }

    private func handOff(_ request: Request) {
        if executor.isCurrent {
            // Already on the loop thread: stage it at the next pass, with no
            // lock, no sequence and no eventfd.
            if executor.local.isClosing {
                request.fail(request.error(for: .shutdown))
            } else {
                executor.local.directRequests.append(request)
            }
            return
        }
        switch channel.enqueue(request) {
        case .queued: waker.publish()
        case .parked: break
        case .closed: request.fail(request.error(for: .shutdown))
        }
    }
}
