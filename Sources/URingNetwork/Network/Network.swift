// TCP (and Unix domain sockets) over io_uring: listeners, dialing, and
// connections as Sink + Stream.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import Synchronization
import URing
import URingLoop

/// TCP (and Unix domain socket) networking on its own loop(s): accept,
/// connect, send and receive all go through io_uring.
public final class Network: Sendable {
    public let configuration: NetworkConfiguration
    let sendLoop: Handle
    let receiveLoop: Handle
    /// With a group: each connection lives on one loop of it, both ways.
    let group: LoopGroup?
    /// Room for the largest UDP datagram, reused by the datagram sockets'
    /// `receive()` calls: a fresh 64 KiB allocation per datagram cost more
    /// than the copy out of it (BENCHMARKS.md, thirty-second session). At
    /// most 16 wait idle, so the network holds 1 MiB for them at most.
    let datagramReceiveBuffers = BufferPool(bufferSize: DatagramSocket.maximumUDPPayload, maximumIdle: 16)
    /// Set when `shutdown` starts stopping the network's own loops.
    private let shuttingDown = Atomic<Bool>(false)

    /// Whether the network can no longer serve: its `shutdown` has started,
    /// or the loop its accepts run on (a group's too) has stopped.
    var isShutDown: Bool { shuttingDown.load(ordering: .relaxed) || receiveLoop.isTerminated }

    /// Starts the loop(s).
    public convenience init(configuration: NetworkConfiguration = NetworkConfiguration()) throws(IOError) {
        try self.init(configuration: configuration, faults: nil)
    }

    /// Starts the loop(s), with `faults` injected (this package's tests).
    package init(configuration: NetworkConfiguration, faults: FaultPlan?) throws(IOError) {
        self.configuration = try configuration.validated()
        group = nil
        var loop = configuration.loop
        loop.threadName = "uring-net-recv"
        receiveLoop = try IOLoop.start(loop, faults: faults)
        if configuration.separateLoops {
            loop.threadName = "uring-net-send"
            sendLoop = try IOLoop.start(loop, faults: faults)
        } else {
            sendLoop = receiveLoop
        }
    }

    /// Runs on an existing group of loops: each connection is assigned one
    /// loop (round-robin) for its sends and receives, and its `executor`
    /// lets a server run the connection's task right there, where its I/O
    /// skips every cross-thread hop. The group stays the caller's, and so
    /// does its loops' `requestCapacity`: each loop holds a request for
    /// every one of its connections waiting for data (a group for a server
    /// can start from `NetworkConfiguration.defaultLoop`).
    ///
    /// - Throws: `IOError` `.invalidArgument` for a configuration a network
    ///   cannot run with.
    public init(configuration: NetworkConfiguration = NetworkConfiguration(), loops: LoopGroup) throws(IOError) {
        self.configuration = try configuration.validated()
        group = loops
        receiveLoop = loops.handles[0]
        sendLoop = loops.handles[0]
    }

    /// Stops the network's own loops (a group's stay its owner's). What
    /// still waits on a peer is not waited for: pending receives, accepts,
    /// connects and sends (a flush too) end with `IOError` `.shutdown`, so
    /// idle connections cannot hold the shutdown up; close connections or
    /// flush first to finish their traffic.
    public func shutdown() async {
        guard group == nil else { return }
        shuttingDown.store(true, ordering: .relaxed)
        await receiveLoop.shutdown(cancellingInFlight: true)
        await sendLoop.shutdown(cancellingInFlight: true)
    }

    /// Listens on `address`: IPv4 or IPv6 (port 0 picks a free port), or
    /// a Unix domain socket path, where the kernel creates a socket file
    /// that the listener removes when closed.
    ///
    /// - Throws: `IOError` `.shutdown` once the network (or the group it
    ///   runs on) is shut down: the kernel would queue connections that
    ///   nothing can ever accept. `.errno(EADDRINUSE)` for a Unix domain
    ///   path where a file already exists (a stale socket file of a server
    ///   that stopped without closing: remove it first if nothing serves
    ///   there); for a TCP port already listened on, `.errno(EADDRINUSE)`
    ///   unless every listener on it set `reusePort`.
    ///
    /// `reusePort` (`SO_REUSEPORT`, TCP only): several listeners, in this
    /// process or others of the same user, may share the address, and the
    /// kernel spreads new connections over them. A new version of a server
    /// can start listening before the old one stops, so no connection is
    /// refused in between.
    public func bind(_ address: SocketAddress, backlog: Int32 = 1024, reusePort: Bool = false) throws(IOError) -> Listener {
        guard !isShutDown else {
            throw IOError("bind", .shutdown, context: "\(address)")
        }
        let fd = try SocketOptions.makeStreamSocket(for: address)
        var socketFile: SocketFile?
        do throws(IOError) {
            if address.family != AF_UNIX {
                try SocketOptions.set(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1, label: "SO_REUSEADDR")
                if reusePort {
                    try SocketOptions.set(fd, level: SOL_SOCKET, name: SO_REUSEPORT, value: 1, label: "SO_REUSEPORT")
                }
            } else if reusePort {
                throw IOError("bind", .invalidArgument("reusePort is for TCP: a Unix domain path has one listener"),
                              context: "\(address)")
            }
            try SocketOptions.bind(fd, to: address)
            socketFile = address.unixDomainSocketPath.flatMap(SocketFile.init(boundAt:))
            guard listen(fd, backlog) == 0 else { throw IOError("listen", errno: curing_errno(), context: "\(address)") }
            return Listener(fd: fd, network: self, localAddress: try SocketOptions.localAddress(of: fd), socketFile: socketFile)
        } catch {
            close(fd)
            socketFile?.remove()
            throw error
        }
    }

    /// Connects to `address` (within `deadline`, default: the connect
    /// timeout): IPv4, IPv6, or a Unix domain socket path.
    ///
    /// - Throws: `IOError` `.timedOut` when no answer came in time (a host
    ///   that drops the handshake, a listener whose backlog is full), or
    ///   the kernel's errno (`ECONNREFUSED`, `ENETUNREACH`; for a Unix
    ///   domain path, `ENOENT` when no socket file is there and
    ///   `ECONNREFUSED` when no server listens on it).
    public func dial(_ address: SocketAddress, deadline: ContinuousClock.Instant? = nil) async throws -> (sink: Sink, stream: Stream) {
        let fd = try SocketOptions.makeStreamSocket(for: address)
        do {
            try SocketOptions.configure(fd, family: address.family, configuration)
            try await receiveLoop.connect(fd, to: address, deadline: deadline ?? configuration.connectTimeout.map { .now + $0 })
        } catch {
            close(fd)
            throw error
        }
        return connection(fd: fd, peer: address)
    }

    /// Connects to `host` by name ("Happy Eyeballs", RFC 8305): looks up its
    /// IPv6 and IPv4 addresses side by side (`getaddrinfo`, each on a
    /// thread of its own), and races connections to them as they come. The
    /// first attempt starts as soon as IPv6 addresses are known, or 50 ms
    /// after IPv4 ones came first; so a resolver that never answers for one
    /// family does not hold the dial, and addresses that come late join the
    /// race. The families alternate, IPv6 first, and each next address is
    /// tried as soon as the one before failed, or `connectionAttemptDelay`
    /// after it started while it keeps trying. The first connection made is
    /// returned; the other attempts and lookups are cancelled, and a
    /// connection made anyway is closed. So an address that never answers
    /// (a dead IPv6 route) costs a quarter of a second, not the connect
    /// timeout. A numeric host is parsed and dialed, with no lookup.
    ///
    /// A `deadline` bounds the whole: the lookups and every attempt.
    /// Without one, each attempt gets the connect timeout.
    ///
    /// - Throws: when no address was found, the lookups' `IOError`
    ///   (`.errno(EAGAIN)` for a resolver that did not answer, else
    ///   `.notFound`), with operation `"resolve"`; `.timedOut` past the
    ///   deadline; when no address connected, the last failure, naming the
    ///   host and how many of its addresses were tried; `CancellationError`
    ///   when the calling task is cancelled.
    public func dial(host: String, port: UInt16, deadline: ContinuousClock.Instant? = nil) async throws -> (sink: Sink, stream: Stream) {
        try await dial(host: host, port: port, deadline: deadline) { SocketAddress.systemLookup($0, family: $1) }
    }

    /// `dial(host:port:deadline:)` with the lookup of one family chosen
    /// (this package's tests: names with several addresses, whatever this
    /// machine's resolver says, and lookups that answer when told).
    package func dial(
        host: String, port: UInt16, deadline: ContinuousClock.Instant?,
        lookup: @escaping @Sendable (_ host: String, _ family: Int32) -> Result<[SocketAddress], IOError>
    ) async throws -> (sink: Sink, stream: Stream) {
        typealias Race = ConnectionRace<(sink: Sink, stream: Stream)>
        let label = "\(host) port \(port)"
        let attempt: Race.Attempt = { address in try await self.dial(address, deadline: deadline) }
        let discard: @Sendable ((sink: Sink, stream: Stream)) -> Void = { $0.sink.close() }
        if let numeric = try SocketAddress.numericHost(host, port: port) {
            return try await Race.run([numeric], delay: configuration.connectionAttemptDelay, deadline: deadline,
                                      label: label, attempt: attempt, discard: discard)
        }
        let lookups = [AF_INET6, AF_INET].map { family in
            Race.Lookup(family: family) {
                try await SocketAddress.resolve(host: host, port: port, family: family, deadline: deadline, lookup: lookup)
            }
        }
        return try await Race.run(resolving: lookups, delay: configuration.connectionAttemptDelay, deadline: deadline,
                                  label: label, attempt: attempt, discard: discard)
    }

    func connection(fd: Int32, peer: SocketAddress) -> (Sink, Stream) {
        let loop = group?.next()
        let socket = Socket(fd: fd, peer: peer, sendLoop: loop ?? sendLoop, receiveLoop: loop ?? receiveLoop,
                            configuration: configuration)
        return (Sink(socket: socket), Stream(socket: socket))
    }
}
