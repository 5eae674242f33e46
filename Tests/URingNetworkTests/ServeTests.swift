// Listener.serve: a handler per connection, where it runs, how it ends, and
// accepts that go on through transient failures.
import CURing
import Glibc
import Synchronization
import Testing
import URing
@testable import URingLoop
@testable import URingNetwork
import URingTestSupport

/// An echo handler that records whether it ran on its connection's loop.
private func echo(recordingPlacementIn placements: SharedPlacements) -> @Sendable (SocketAddress, Sink, Stream) async throws -> Void {
    { _, sink, stream in
        placements.record(stream.executor.isCurrent && sink.executor.isCurrent)
        while true {
            let chunk = try await stream.receive(upTo: 4096)
            if chunk.isEmpty { return }
            try await sink.send(chunk)
        }
    }
}

private final class SharedPlacements: Sendable {
    private let onLoop = Atomic<Int>(0)
    private let offLoop = Atomic<Int>(0)
    func record(_ onItsLoop: Bool) {
        if onItsLoop { onLoop.wrappingAdd(1, ordering: .relaxed) } else { offLoop.wrappingAdd(1, ordering: .relaxed) }
    }
    var counts: (onLoop: Int, offLoop: Int) { (onLoop.load(ordering: .relaxed), offLoop.load(ordering: .relaxed)) }
}

private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// Dials `listener`, sends a pattern and checks it comes back.
private func roundTrip(_ network: Network, _ listener: Listener, seed: Int) async throws {
    let (sink, stream) = try await network.dial(listener.localAddress)
    try await sink.send(pattern(1000, seed: seed))
    #expect(try await stream.receive(exactly: 1000) == pattern(1000, seed: seed))
    sink.close()
}

/// `count` connections that each had one echo and then fall silent, so
/// their handlers wait in a receive.
private func idleClients(_ count: Int, of network: Network, _ listener: Listener) async throws -> [(sink: Sink, stream: Stream)] {
    var clients: [(sink: Sink, stream: Stream)] = []
    for index in 0..<count {
        let client = try await network.dial(listener.localAddress)
        try await client.sink.send([UInt8(index)])
        #expect(try await client.stream.receive(exactly: 1) == [UInt8(index)])
        clients.append(client)
    }
    return clients
}

/// Counts a network's accept completions.
private final class AcceptCount: Sendable {
    private let count = Atomic<Int>(0)
    func next() -> Int { count.wrappingAdd(1, ordering: .relaxed).oldValue }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A network (and a listener on it) whose nth accept fails with
/// `injected[n]`, the way a busy server's do: the connection the kernel
/// accepted is closed, so its client sees the end.
private func failingAccepts(
    _ injected: [Int: Int32], seen accepts: AcceptCount, onAGroup: Bool = false
) throws -> (Network, Listener, LoopGroup?) {
    let faults = FaultPlan(completion: { operation, result in
        guard operation == "accept", let code = injected[accepts.next()] else { return result }
        if result >= 0 { close(result) }
        return -code
    })
    var configuration = NetworkConfiguration()
    configuration.readWriteTimeout = hangGuard
    let group = try onAGroup
        ? LoopGroup(count: 1, configuration: NetworkConfiguration.defaultLoop, pinningLoopsToCPUs: false, faults: faults)
        : nil
    let network = try group.map { try Network(configuration: configuration, loops: $0) }
        ?? Network(configuration: configuration, faults: faults)
    return (network, try network.bind(try SocketAddress(host: "127.0.0.1", port: 0)), group)
}

/// Dials `listener` and sees the connection end: its accept was failed.
private func dialRefused(_ network: Network, _ listener: Listener) async throws {
    let (sink, stream) = try await network.dial(listener.localAddress)
    do {
        #expect(try await stream.receive(upTo: 8) == [])
    } catch let error as IOError where error.errno == ECONNRESET {}
    sink.close()
}

@Suite struct ServeTests {
    @Test func servesEveryConnectionAndReturnsOnceClosedAndItsHandlersAreDone() async throws {
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            let placements = SharedPlacements()
            let returned = Flag()
            let server = Task {
                try await listener.serve(echo(recordingPlacementIn: placements))
                returned.set()
            }
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for seed in 0..<20 { clients.addTask { try await roundTrip(network, listener, seed: seed) } }
                try await clients.waitForAll()
            }
            // One connection still open: serve waits for its handler.
            let (lastSink, lastStream) = try await network.dial(listener.localAddress)
            try await lastSink.send([7])
            #expect(try await lastStream.receive(exactly: 1) == [7])
            listener.close()
            // Its handler still serves after the close, and serve waits for it.
            try await lastSink.send([8])
            #expect(try await lastStream.receive(exactly: 1) == [8])
            #expect(!returned.isSet)
            lastSink.close()
            try await bounded("serve's return", seconds: 300) { try await server.value }
            // A network's own loops: the handlers were plain tasks.
            #expect(placements.counts == (0, 21))
        }
    }

    @Test func aFailingHandlerEndsOnlyItsConnection() async throws {
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            let server = Task {
                try await listener.serve { _, sink, stream in
                    while true {
                        let chunk = try await stream.receive(upTo: 64)
                        if chunk == [0xff] { throw IOError("handler", .invalidArgument("a poisoned message")) }
                        if chunk.isEmpty { return }
                        try await sink.send(chunk)
                    }
                }
            }
            let (goodSink, goodStream) = try await network.dial(listener.localAddress)
            let (badSink, badStream) = try await network.dial(listener.localAddress)
            try await badSink.send([0xff])
            // The failed handler's connection was closed: end of stream.
            #expect(try await badStream.receive(upTo: 8) == [])
            try await goodSink.send([1, 2, 3])
            #expect(try await goodStream.receive(exactly: 3) == [1, 2, 3])
            goodSink.close()
            listener.close()
            try await bounded("serve's return", seconds: 300) { try await server.value }
        }
    }

    @Test func cancellingServeEndsItsHandlersAndClosesTheirConnections() async throws {
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            let server = Task { try await listener.serve(echo(recordingPlacementIn: SharedPlacements())) }
            let clients = try await idleClients(5, of: network, listener)
            server.cancel()
            try await bounded("serve's return", seconds: 300) { try await server.value }
            for client in clients { #expect(try await client.stream.receive(upTo: 8) == []) }
        }
    }

    @Test func aNetworkShutdownEndsServeWithItsHandlersMidReceive() async throws {
        var configuration = NetworkConfiguration()
        configuration.readWriteTimeout = nil  // idle handlers would wait forever
        let network = try Network(configuration: configuration)
        let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
        let server = Task { try await listener.serve(echo(recordingPlacementIn: SharedPlacements())) }
        let clients = try await idleClients(3, of: network, listener)
        // Three handlers wait in a receive and serve waits in an accept.
        try await bounded("the network's shutdown", seconds: 300) { await network.shutdown() }
        try await bounded("serve's return", seconds: 300) { try await server.value }
        withExtendedLifetime(clients) {}
    }

    @Test func onAGroupHandlersRunOnTheirConnectionsLoop() async throws {
        let group = try LoopGroup(count: 2)
        let network = try Network(loops: group)
        for onLoops in [true, false] {
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            let placements = SharedPlacements()
            let server = Task { try await listener.serve(handlersOnLoops: onLoops, echo(recordingPlacementIn: placements)) }
            for seed in 0..<6 { try await roundTrip(network, listener, seed: seed) }
            listener.close()
            try await bounded("serve's return", seconds: 300) { try await server.value }
            #expect(placements.counts == (onLoops ? (6, 0) : (0, 6)))
        }
        await group.shutdown()
    }

    @Test func transientAcceptFailuresAreSkippedAndOthersEndServe() async throws {
        // The first accepts fail the way a busy server's do; after them,
        // one that no retry can mend.
        let (network, listener, _) = try failingAccepts([0: ECONNABORTED, 1: EMFILE, 3: EBADF], seen: AcceptCount())
        let server = Task { try await listener.serve(echo(recordingPlacementIn: SharedPlacements())) }
        for _ in 0..<2 { try await dialRefused(network, listener) }
        try await roundTrip(network, listener, seed: 1)
        // The fourth accept's EBADF ends serve (its client is reset).
        let (sink, stream) = try await network.dial(listener.localAddress)
        let outcome = await server.result
        #expect(throws: IOError("accept", .errno(EBADF), context: "listener fd \(listener.fd)")) { try outcome.get() }
        _ = try? await stream.receive(upTo: 8)
        sink.close()
        listener.close()
        await network.shutdown()
    }

    /// What ends a pause of `serve` after a failed accept.
    enum PauseEnder: CaseIterable {
        case closingTheListener, shuttingTheNetworkDown, shuttingItsGroupDown
    }

    @Test(arguments: PauseEnder.allCases)
    func aCloseOrAShutdownEndsAPauseAfterAFailedAccept(_ ender: PauseEnder) async throws {
        // The first accept fails as a busy server's does (EMFILE), and serve
        // pauses for an hour before accepting again: a close or a shutdown
        // must end that pause, not leave serve in it.
        let accepts = AcceptCount()
        let (network, listener, group) = try failingAccepts([0: EMFILE], seen: accepts,
                                                            onAGroup: ender == .shuttingItsGroupDown)
        let server = Task {
            try await listener.serve(handlersOnLoops: true, pausingAcceptsFrom: .seconds(3600), upTo: .seconds(3600),
                                     echo(recordingPlacementIn: SharedPlacements()))
        }
        try await dialRefused(network, listener)
        #expect(accepts.value == 1)
        switch ender {
        case .closingTheListener: listener.close()
        case .shuttingTheNetworkDown: await network.shutdown()
        case .shuttingItsGroupDown: await group?.shutdown()
        }
        try await bounded("serve after \(ender) mid-pause", seconds: 30) { try await server.value }
        listener.close()
        await network.shutdown()
        await group?.shutdown()
    }
}
