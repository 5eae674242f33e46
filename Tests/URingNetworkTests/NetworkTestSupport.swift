// Helpers shared by the network tests: a network with test settings, a
// connected pair on loopback, and byte patterns to check transfers against.
import CURing
import Glibc
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

/// The read/write timeout of a test network unless a test sets its own:
/// only a guard against hangs, so generous: under the sanitizers the tests
/// run side by side many times slower (the 200-connection echo takes about
/// 15 s under ThreadSanitizer), and a test can wait tens of seconds for one
/// of the concurrency pool's two threads (CI runs under TSan saw guards of a
/// minute run out with nothing hung).
let hangGuard: Duration = .seconds(300)

func withNetwork<T>(
    timeout: Duration? = hangGuard, configure: (inout NetworkConfiguration) -> Void = { _ in },
    _ body: (Network) async throws -> T
) async throws -> T {
    var configuration = NetworkConfiguration()
    configuration.readWriteTimeout = timeout
    configuration.receiveBufferSize = 16 * 1024
    configure(&configuration)
    let network = try Network(configuration: configuration)
    do {
        let result = try await body(network)
        await network.shutdown()
        return result
    } catch {
        await network.shutdown()
        throw error
    }
}

/// Waits (at most a minute: a guard against hangs) until a receive has
/// reached the network's receive loop, besides the accepts `listener`
/// keeps armed there (an idle listener's, which no connection ends).
func untilAReceiveIsPending(_ network: Network, besidesTheAcceptsOf listener: Listener? = nil) async throws {
    try await untilPending(network, atLeast: (listener?.queue.armedCount ?? 0) + 1, "the receive")
}

/// Waits (at most a minute) until `count` requests are held by the
/// network's receive loop.
func untilPending(_ network: Network, atLeast count: Int, _ what: String) async throws {
    let patience = ContinuousClock.now + .seconds(60)
    while network.receiveLoop.statistics.pendingRequests < UInt64(count) {
        try #require(ContinuousClock.now < patience, "\(what) never reached the loop")
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// A listener on loopback and one accepted connection per dial.
func connectedPair(_ network: Network, host: String = "127.0.0.1") async throws
    -> (listener: Listener, client: (sink: Sink, stream: Stream), server: (peer: SocketAddress, sink: Sink, stream: Stream)) {
    let listener = try network.bind(try SocketAddress(host: host, port: 0))
    async let accepted = listener.accept()
    let client = try await network.dial(listener.localAddress)
    return (listener, client, try await accepted)
}

/// Accepts `connections` connections from `listener` and echoes each, in
/// a task of its own, until its peer closes.
func echoServer(_ listener: Listener, connections: Int) -> Task<Void, any Error> {
    Task {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                let (_, sink, stream) = try await listener.accept()
                group.addTask {
                    while true {
                        let chunk = try await stream.receive(upTo: 4096)
                        if chunk.isEmpty { return }
                        try await sink.send(chunk)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

func pattern(_ count: Int, seed: Int = 1) -> [UInt8] {
    // Byte i is the low byte of (i * 131) ^ seed, which repeats every 256
    // bytes: one period, then copies of it. (Computed byte by byte, the
    // megabytes some tests send took seconds of a pool thread in debug
    // builds, holding up every other test.)
    let period = (0..<256).map { UInt8(truncatingIfNeeded: ($0 &* 131) ^ seed) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    while bytes.count < count {
        bytes.append(contentsOf: period.prefix(count - bytes.count))
    }
    return bytes
}

/// A TCP socket bound to a free port on 127.0.0.1, and that address (the
/// fd is closed again if binding fails).
func boundLoopbackSocket() throws -> (fd: Int32, local: sockaddr_in, address: SocketAddress) {
    let fd = socket(AF_INET, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0)
    try #require(fd >= 0)
    var local = sockaddr_in()
    local.sin_family = sa_family_t(AF_INET)
    local.sin_addr.s_addr = UInt32(INADDR_LOOPBACK).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &local) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    if !bound { close(fd) }
    try #require(bound)
    return (fd, local, try SocketAddress(host: "127.0.0.1", port: UInt16(bigEndian: local.sin_port)))
}

/// A loopback port nobody listens on, and nobody can start to while this
/// lives: a socket bound to it that never listens. A dial there is refused
/// (the kernel answers a handshake for no listener with a reset), where a
/// port found by closing a listener could be taken by a test running
/// beside, and the dial succeed.
final class RefusingPort {
    let address: SocketAddress
    private let fd: Int32

    init() throws {
        (fd, _, address) = try boundLoopbackSocket()
    }

    deinit { close(fd) }
}

/// A loopback listener that never accepts, its accept queue already full:
/// the kernel drops further handshakes, so a dial to it hears nothing.
final class SilentListener {
    let address: SocketAddress
    private let listener: Int32
    private var fillers: [Int32] = []

    init() throws {
        var local: sockaddr_in
        (listener, local, address) = try boundLoopbackSocket()
        try #require(listen(listener, 0) == 0)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        // A backlog of 0 still queues one connection; a few non-blocking
        // connects fill the queue (those past it stay in SYN_SENT).
        for _ in 0..<4 {
            let filler = socket(AF_INET, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC | CURING_SOCK_NONBLOCK, 0)
            try #require(filler >= 0)
            _ = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) }
            }
            fillers.append(filler)
        }
    }

    deinit {
        for fd in fillers { close(fd) }
        close(listener)
    }
}

