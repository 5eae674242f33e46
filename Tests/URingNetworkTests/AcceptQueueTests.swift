// A listener's accepts armed ahead of its callers: a burst taken at once,
// nothing accepted ahead lost or leaked, and every caller resumed once
// (connection, deadline, cancellation, close, shutdown).
import Glibc
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct AcceptQueueTests {
    /// Waits (at most a minute) until `listener` holds `count` connections
    /// accepted ahead.
    private func untilWaiting(_ listener: Listener, _ count: Int) async throws {
        let patience = ContinuousClock.now + .seconds(60)
        while listener.queue.waitingCount < count {
            try #require(ContinuousClock.now < patience, "only \(listener.queue.waitingCount) of \(count) accepted ahead")
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    @Test func aBurstIsAcceptedAheadUpToTheDepthAndEveryConnectionIsServed() async throws {
        try await withNetwork { network in
            let (listener, first, _) = try await connectedPair(network)
            // 40 clients at once, with nobody accepting: the kernel hands
            // over as many as are armed, the rest stay in its backlog.
            let count = 40
            var clients: [(sink: Sink, stream: Stream)] = []
            for _ in 0..<count { clients.append(try await network.dial(listener.localAddress)) }
            try await untilWaiting(listener, network.configuration.acceptDepth)
            #expect(listener.queue.waitingCount == network.configuration.acceptDepth)
            #expect(listener.queue.armedCount == 0)
            // Each accept takes one and arms another; every client is
            // accepted once, in some order, and its connection works.
            var servers: [(peer: SocketAddress, sink: Sink, stream: Stream)] = []
            for _ in 0..<count { servers.append(try await listener.accept()) }
            #expect(listener.queue.waitingCount + listener.queue.armedCount <= network.configuration.acceptDepth)
            let ports = Set(try clients.map { try $0.sink.localAddress.port })
            #expect(Set(servers.map(\.peer.port)) == ports)
            for (index, client) in clients.enumerated() {
                try await client.sink.send([UInt8(index)])
            }
            var echoed: [UInt16: UInt8] = [:]
            for server in servers {
                let byte = try await server.stream.receive(exactly: 1)
                echoed[server.peer.port] = byte[0]
            }
            for (index, client) in clients.enumerated() {
                #expect(echoed[try client.sink.localAddress.port] == UInt8(index))
            }
            withExtendedLifetime(first) {}
        }
    }

    @Test func aListenerKeepsTheConfiguredDepthAheadAndNoMore() async throws {
        try await withNetwork(configure: { $0.acceptDepth = 3 }) { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            defer { listener.close() }
            #expect(listener.queue.armedCount == 0, "nothing is armed before the first accept")
            var clients: [(sink: Sink, stream: Stream)] = []
            for _ in 0..<7 { clients.append(try await network.dial(listener.localAddress)) }
            // The first call arms three; the one it takes is replaced, and
            // the other clients wait in the kernel's backlog.
            var peers: Set<UInt16> = [try await listener.accept(deadline: .now + .seconds(300)).peer.port]
            try await untilWaiting(listener, 3)
            #expect(listener.queue.waitingCount == 3)
            #expect(listener.queue.armedCount == 0)
            for _ in 1..<7 { peers.insert(try await listener.accept(deadline: .now + .seconds(300)).peer.port) }
            #expect(peers == Set(try clients.map { try $0.sink.localAddress.port }))
            #expect(listener.queue.waitingCount + listener.queue.armedCount == 3)
        }
    }

    @Test func anAcceptDepthOutsideItsRangeIsRefused() throws {
        for depth in [0, -1, 1025] {
            var configuration = NetworkConfiguration()
            configuration.acceptDepth = depth
            let error = #expect(throws: IOError.self) { _ = try Network(configuration: configuration) }
            #expect(error?.reason == .invalidArgument("acceptDepth must be in 1...1024, got \(depth)"))
        }
        var largest = NetworkConfiguration()
        largest.acceptDepth = 1024
        #expect(try largest.validated().acceptDepth == 1024)
    }

    @Test func closingTheListenerClosesWhatWasAcceptedAhead() async throws {
        try await withNetwork { network in
            let (listener, _, _) = try await connectedPair(network)
            var clients: [(sink: Sink, stream: Stream)] = []
            for _ in 0..<5 { clients.append(try await network.dial(listener.localAddress)) }
            try await untilWaiting(listener, 5)
            listener.close()
            #expect(listener.queue.waitingCount == 0)
            // Nobody took them, and nothing keeps them open: each client
            // sees its connection end.
            for client in clients {
                do {
                    #expect(try await client.stream.receive(upTo: 8) == [])
                } catch let error as IOError where error.errno == ECONNRESET {}
            }
        }
    }

    @Test func anAcceptPastItsDeadlineTimesOutAndTheNextConnectionIsStillAccepted() async throws {
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            defer { listener.close() }
            await expectIOError(.timedOut) { _ = try await listener.accept(deadline: .now + .milliseconds(50)) }
            // The accepts armed for it stay armed: the next client is taken.
            let client = try await network.dial(listener.localAddress)
            let server = try await listener.accept(deadline: .now + .seconds(300))
            #expect(server.peer.port == (try client.sink.localAddress.port))
        }
    }

    @Test func aCancelledAcceptEndsAloneAndTheNextConnectionIsStillAccepted() async throws {
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            defer { listener.close() }
            let waiting = Task { try await listener.accept() }
            try await untilPending(network, atLeast: network.configuration.acceptDepth, "the accepts")
            waiting.cancel()
            await #expect(throws: CancellationError.self) { _ = try await waiting.value }
            // Cancelled before it started: nothing armed, nothing waits.
            let early = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await listener.accept()
            }
            await #expect(throws: CancellationError.self) { _ = try await early.value }
            let client = try await network.dial(listener.localAddress)
            let server = try await listener.accept()
            #expect(server.peer.port == (try client.sink.localAddress.port))
        }
    }

    @Test func manyCallersRacingCancelsAndDeadlinesAreEachResumedOnce() async throws {
        // 40 callers wait; then 20 more come with deadlines already near
        // while half of the first are cancelled, and only then 20 clients.
        // Every caller ends once, with its own kind of outcome, and every
        // client is accepted once, by a caller that was neither cancelled
        // nor timed out.
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            defer { listener.close() }
            let cancelled = (0..<20).map { _ in
                Task { () async throws -> Bool in
                    do { _ = try await listener.accept() } catch is CancellationError { return true }
                    return false
                }
            }
            let answered = (0..<20).map { _ in Task { try await listener.accept().peer.port } }
            try await bounded("40 callers to wait", seconds: 300) {
                while listener.queue.callerCount < 40 { try await Task.sleep(for: .milliseconds(1)) }
            }
            let timed = (0..<20).map { _ in
                Task { () async throws -> Bool in
                    do {
                        _ = try await listener.accept(deadline: .now + .milliseconds(5))
                    } catch let error as IOError where error.reason == .timedOut {
                        return true
                    }
                    return false
                }
            }
            for task in cancelled { task.cancel() }
            for task in cancelled { #expect(try await task.value, "a cancelled caller got a connection") }
            for task in timed { #expect(try await task.value, "a caller past its deadline got a connection") }
            #expect(listener.queue.callerCount == 20)
            var clients: [(sink: Sink, stream: Stream)] = []
            for _ in 0..<20 { clients.append(try await network.dial(listener.localAddress)) }
            var accepted: [UInt16] = []
            for task in answered { accepted.append(try await task.value) }
            #expect(accepted.sorted() == (try clients.map { try $0.sink.localAddress.port }).sorted())
        }
    }

    @Test func aDrainingShutdownOfAGroupEndsTheAcceptsArmedAhead() async throws {
        // Accepts armed on nobody's behalf are not work in flight: a group
        // shut down without cancelling must not wait for a client that
        // never comes, and a caller waiting for one hears `.shutdown`.
        let group = try LoopGroup(count: 1)
        let network = try Network(loops: group)
        let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
        let waiting = Task { try await listener.accept() }
        try await bounded("the accepts to reach the loop", seconds: 300) {
            while group.handles[0].statistics.pendingRequests < UInt64(network.configuration.acceptDepth) {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        try await bounded("a draining shutdown with accepts armed", seconds: 300) { await group.shutdown() }
        await expectIOError(.shutdown) { _ = try await waiting.value }
        withExtendedLifetime(listener) {}
    }
}
