// A datagram socket (UDP, or a Unix domain datagram socket) whose sends and
// receives run on the ring: sends on the network's send loop, receives on
// its receive loop, as for connections.
//
// Closing: `close()` retires the descriptor (`ClosableDescriptor`): calls
// after it are refused before anything is submitted, and it shuts the
// socket down so that a receive waiting in the ring ends (the kernel
// completes it with no bytes and no sender, which `receive` tells from an
// empty datagram by the closed mark). The descriptor, and with it the port,
// is released as soon as no call holds it: at once, or when the calls in
// flight have returned.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing
import URingLoop

/// Sends and receives whole datagrams, each with its own address.
public final class DatagramSocket: Sendable {
    /// The most a UDP datagram carries (65,507 bytes over IPv4, 65,527 over
    /// IPv6), rounded up: what `receive()` makes room for by default, so it
    /// never drops part of a UDP datagram.
    public static let maximumUDPPayload = 65_536

    private let descriptor: ClosableDescriptor
    let sendLoop: Handle
    let receiveLoop: Handle
    /// This end's address (with the real port when bound to port 0; for a
    /// Unix domain socket connected without a path, the name the kernel
    /// gave it, so that replies can reach it).
    public let localAddress: SocketAddress
    /// Where a connected socket sends, and the only sender it receives
    /// from; nil for a socket that was only bound.
    public let peer: SocketAddress?
    private let sendTimeout: Duration?
    /// The socket file a Unix domain bind created, removed on close.
    private let socketFile: SocketFile?
    /// An error that ended a batch of receives after its first datagram:
    /// the next receive throws it.
    private let pendingError = Locked<IOError?>(nil)
    /// Which of the sends and receives try the socket first.
    private let readyFirstTurns: ReadyFirstTurns
    /// The network's buffers of `maximumUDPPayload` bytes, for `receive()`.
    private let receiveBuffers: BufferPool

    init(fd: Int32, localAddress: SocketAddress, peer: SocketAddress?, sendLoop: Handle, receiveLoop: Handle,
         sendTimeout: Duration?, readyFirst: ReadyFirst, socketFile: SocketFile?, receiveBuffers: BufferPool) {
        descriptor = ClosableDescriptor(fd)
        self.receiveBuffers = receiveBuffers
        readyFirstTurns = ReadyFirstTurns(readyFirst)
        self.localAddress = localAddress
        self.peer = peer
        self.sendLoop = sendLoop
        self.receiveLoop = receiveLoop
        self.sendTimeout = sendTimeout
        self.socketFile = socketFile
    }

    deinit {
        // The descriptor closes itself, if `close()` has not.
        if !descriptor.isClosed { socketFile?.remove() }
    }

    /// The receive loop's executor: a task that prefers it (`Task(executorPreference:)`)
    /// runs on the loop thread, where its receives are staged and resumed
    /// with no hop between threads. On a `LoopGroup` the socket's sends run
    /// on the same loop.
    public var executor: LoopExecutor { receiveLoop.executor }

    /// The receive buffer the kernel granted (`SO_RCVBUF`, read back): what
    /// it queues for this socket before dropping datagrams, bookkeeping
    /// included (see `DatagramOptions.receiveBufferSize`).
    ///
    /// - Throws: `IOError` `.invalidArgument` once closed.
    public var receiveBufferSize: Int {
        get throws(IOError) { try bufferSize(SO_RCVBUF, "SO_RCVBUF") }
    }

    /// The send buffer the kernel granted (`SO_SNDBUF`, read back).
    ///
    /// - Throws: `IOError` `.invalidArgument` once closed.
    public var sendBufferSize: Int {
        get throws(IOError) { try bufferSize(SO_SNDBUF, "SO_SNDBUF") }
    }

    private func bufferSize(_ name: Int32, _ label: String) throws(IOError) -> Int {
        // Held like a call, so that the number cannot be another file's.
        let size = try descriptor.borrowNow { fd throws(IOError) in
            try SocketOptions.get(fd, level: SOL_SOCKET, name: name, label: label)
        }
        guard let size else { throw closedError("getsockopt(\(label))") }
        return Int(size)
    }

    /// Sends `bytes` as one datagram to `address`, or with nil to the
    /// connected peer. Within `deadline`, by default the network's
    /// read/write timeout (a datagram waits only while the socket's send
    /// buffer is full, as a Unix domain receiver's queue can be).
    ///
    /// - Throws: `IOError` `.errno(EMSGSIZE)` for a datagram longer than the
    ///   protocol carries, `.errno(EDESTADDRREQ)` for no address on an
    ///   unconnected socket, `.errno(ECONNREFUSED)` on a connected UDP socket
    ///   after its peer's port refused an earlier datagram, `.invalidArgument`
    ///   once closed; the socket stays usable after any kernel error.
    public func send(_ bytes: [UInt8], to address: SocketAddress? = nil,
                     deadline: ContinuousClock.Instant? = nil) async throws {
        try await send(IOBuffer(bytes: bytes), to: address, deadline: deadline)
    }

    /// Sends the valid bytes of `buffer` as one datagram (see
    /// `send(_:to:deadline:)`); the buffer is the socket's until this returns.
    public func send(_ buffer: IOBuffer, to address: SocketAddress? = nil,
                     deadline: ContinuousClock.Instant? = nil) async throws {
        try await withDescriptor("sendmsg") { fd in
            try await sendLoop.sendDatagram(buffer, on: fd, to: address, deadline: deadline ?? sendTimeout.map { .now + $0 },
                                            readyFirst: readyFirstTurns.take(.sends))
        }
    }

    /// Sends each element as one datagram, all handed to the send loop in
    /// one trip (a message to many peers), and returns when all have ended:
    /// one outcome per element, in order, each as `send` would end (one
    /// failing does not stop the others). Within `deadline`, by default the
    /// read/write timeout; a task cancelled after the call still gets every
    /// outcome. Datagrams leave in order while the socket has room; those
    /// that wait for room leave as it comes, in no set order.
    ///
    /// - Throws: `IOError` `.invalidArgument` once closed, before anything
    ///   is sent; `CancellationError` if the task was already cancelled.
    public func send(batch: [OutgoingDatagram], deadline: ContinuousClock.Instant? = nil) async throws
        -> [Result<Void, any Error>] {
        let outcomes = try await withDescriptor("sendmsg") { fd in
            try await sendLoop.sendDatagrams(batch, on: fd, deadline: deadline ?? sendTimeout.map { .now + $0 })
        }
        return outcomes.map { $0.mapError { IOError.labelling($0, with: "\(localAddress)") } }
    }

    /// Waits for the next datagram, of at most `maxLength` bytes. Without a
    /// deadline it waits until one comes, the socket is closed, the task is
    /// cancelled or the network shuts down: a datagram socket has no peer to
    /// fall silent, so the read/write timeout does not apply.
    ///
    /// - Throws: `IOError` `.errno(EMSGSIZE)` for a datagram longer than
    ///   `maxLength`, which the kernel drops (the error names its size and
    ///   sender; the next receive gets the next datagram); `.timedOut`;
    ///   `.invalidArgument` once closed (a receive waiting then too); the
    ///   error a batch of receives ended with after its first datagram.
    public func receive(maxLength: Int = DatagramSocket.maximumUDPPayload,
                        deadline: ContinuousClock.Instant? = nil) async throws -> Datagram {
        guard maxLength >= 0 else {
            throw IOError("recvmsg", .invalidArgument("negative maximum length \(maxLength)"), context: "\(localAddress)")
        }
        // The datagram is copied out, so the buffer can serve the next
        // receive: one of the largest size goes back to the network's pool,
        // but only after a receive that completed (after a failure the
        // kernel may not be done with it: a shutdown answers callers
        // before their requests' last completions).
        let pooled = maxLength == receiveBuffers.bufferSize
        let buffer = pooled ? receiveBuffers.take() : try IOBuffer(capacity: maxLength, orThrowFor: "recvmsg")
        let sender = try await receive(into: buffer, deadline: deadline)
        let datagram = Datagram(bytes: buffer.bytes, sender: sender)
        if pooled { receiveBuffers.recycle(buffer) }
        return datagram
    }

    /// Receives the next datagram into `buffer` (`count` becomes its
    /// length), with no copy: see `receive(maxLength:deadline:)`, with
    /// `buffer.capacity` as the largest datagram taken. The buffer is the
    /// socket's until this returns: receives running at once need one each.
    ///
    /// - Returns: the sender's address.
    public func receive(into buffer: IOBuffer, deadline: ContinuousClock.Instant? = nil) async throws -> SocketAddress {
        try throwPendingError()
        let sender = try await withDescriptor("recvmsg") { fd in
            try await receiveLoop.receiveDatagram(on: fd, into: buffer, deadline: deadline,
                                                  readyFirst: readyFirstTurns.take(.receives))
        }
        // A receive that `close` ended looks like an empty datagram from
        // nobody: the mark tells them apart.
        try refuseIfClosed("recvmsg")
        return sender
    }

    /// Receives up to `buffers.count` datagrams, one per buffer, for one
    /// trip to the loop: waits for the first (as `receive(into:)`), then
    /// takes what else the socket already holds, without waiting. A server
    /// that was away while datagrams queued up gets them all at once. Each
    /// filled buffer's `count` is its datagram's length; the buffers are the
    /// socket's until this returns.
    ///
    /// - Returns: the senders, one per filled buffer, from the first.
    /// - Throws: as `receive(into:)` when no datagram came. An error after
    ///   the first datagram (one too long for its buffer: `EMSGSIZE`) does
    ///   not cost the datagrams before it: they are returned, and the next
    ///   receive throws it.
    public func receive(into buffers: [IOBuffer], deadline: ContinuousClock.Instant? = nil) async throws
        -> [SocketAddress] {
        try throwPendingError()
        let received = try await withDescriptor("recvmsg") { fd in
            try await receiveLoop.receiveDatagrams(on: fd, into: buffers, deadline: deadline,
                                                   readyFirst: readyFirstTurns.take(.receives))
        }
        try refuseIfClosed("recvmsg")  // as for a single receive
        if var trailing = received.trailingError {
            trailing.context = trailing.context.map { "\(localAddress): \($0)" } ?? "\(localAddress)"
            pendingError.withLock { $0 = trailing }
        }
        return received.senders
    }

    /// Runs `body` with the descriptor held open. Once the socket is closed
    /// (before, or while `body` ran) the closed error stands in for
    /// whatever the close caused; other errors get the socket's address.
    private func withDescriptor<T>(_ operation: String, _ body: (Int32) async throws -> T) async throws -> T {
        let result: T?
        do {
            result = try await descriptor.borrow(body)
        } catch {
            try refuseIfClosed(operation)
            throw IOError.labelling(error, with: "\(localAddress)")
        }
        guard let result else { throw closedError(operation) }
        return result
    }

    /// Throws (once) the error a batch of receives ended with.
    private func throwPendingError() throws(IOError) {
        if let error = pendingError.withLock({ $0.take() }) { throw error }
    }

    /// Closes the socket: a waiting receive fails, and so do later calls.
    /// The port (or path) is free again as soon as no call is in flight:
    /// at once, or when the calls this close ended have returned. A Unix
    /// domain socket's file is removed (unless another socket has replaced
    /// it).
    public func close() {
        if descriptor.close({ _ = Glibc.shutdown($0, Int32(SHUT_RDWR)) }) { socketFile?.remove() }
    }

    private func refuseIfClosed(_ operation: String) throws(IOError) {
        if descriptor.isClosed { throw closedError(operation) }
    }

    private func closedError(_ operation: String) -> IOError {
        IOError(operation, .invalidArgument("the socket is closed"), context: "\(localAddress)")
    }
}
