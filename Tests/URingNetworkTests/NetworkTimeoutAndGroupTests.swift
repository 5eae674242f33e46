// A network on a caller's loop group, the read/write timeout against the
// loops' timing wheel, and deadlines given to one call.
import Glibc
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct NetworkOnAGroupTests {
    @Test func eachConnectionLivesOnOneLoopAndItsTasksSubmitThereDirectly() async throws {
        let group = try LoopGroup(count: 2)
        let network = try Network(loops: group)
        let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
        for index in 0..<4 {
            async let accepted = listener.accept()
            let client = try await network.dial(listener.localAddress)
            let (_, sink, stream) = try await accepted
            // Both directions of a connection on one loop; the two ends took
            // consecutive round-robin picks, so they are on different loops.
            #expect(client.sink.executor === client.stream.executor)
            #expect(sink.executor === stream.executor)
            #expect(client.stream.executor !== stream.executor)
            let loop = try #require(group.handles.first { $0.executor === stream.executor })
            let before = loop.statistics.directSubmissions
            try await client.sink.send(pattern(32, seed: index))
            // Served by a task on the connection's loop: its receive and its
            // send skip the channel.
            try await withTaskExecutorPreference(stream.executor) {
                try await sink.send(try await stream.receive(exactly: 32))
            }
            #expect(loop.statistics.directSubmissions - before >= 2)
            #expect(try await client.stream.receive(exactly: 32) == pattern(32, seed: index))
            client.sink.close()
            sink.close()
        }
        listener.close()
        await network.shutdown()  // the group's owner shuts the loops down
        #expect(!group.handles.contains { $0.isTerminated })
        await group.shutdown()
    }

    /// On a group whose timing wheel reaches 200 ms, a one-second
    /// read/write timeout fires at one second, not at the wheel's horizon.
    @Test func aTimeoutPastTheGroupsHorizonIsHonoured() async throws {
        var loop = LoopConfiguration()
        loop.timeoutWheelHorizon = .milliseconds(200)
        loop.timeoutWheelTick = .milliseconds(1)
        let group = try LoopGroup(count: 1, configuration: loop)
        var configuration = NetworkConfiguration()
        configuration.readWriteTimeout = .seconds(1)
        let network = try Network(configuration: configuration, loops: group)
        let (_, client, server) = try await connectedPair(network)
        let started = ContinuousClock.now
        await expectIOError(.timedOut) { _ = try await server.stream.receive(exactly: 1) }
        #expect(ContinuousClock.now - started >= .milliseconds(990))
        #expect(group.handles[0].statistics.deadlinesRearmed >= 4)
        withExtendedLifetime(client) {}
        await network.shutdown()
        await group.shutdown()
    }
}

@Suite struct NetworkTimeoutTests {
    @Test func timeoutsThatCannotWorkAreRefused() throws {
        for (readWrite, connect) in [(Duration.zero, Duration.seconds(1)), (.seconds(1), .milliseconds(-5))] {
            var configuration = NetworkConfiguration()
            configuration.readWriteTimeout = readWrite
            configuration.connectTimeout = connect
            #expect(throws: IOError.self) { try Network(configuration: configuration) }
        }
    }

    @Test func aReadWriteTimeoutPastItsLoopsHorizonIsHonoured() async throws {
        // The loops' timing wheel reaches 200 ms; the 1 s timeout is put
        // back on it until due instead of firing at 200 ms.
        try await withNetwork(timeout: .seconds(1), configure: {
            $0.loop.timeoutWheelHorizon = .milliseconds(200)
            $0.loop.timeoutWheelTick = .milliseconds(1)
        }) { network in
            let (_, client, server) = try await connectedPair(network)
            let started = ContinuousClock.now
            await expectIOError(.timedOut) { _ = try await server.stream.receive(exactly: 1) }
            #expect(ContinuousClock.now - started >= .milliseconds(990))
            #expect(network.receiveLoop.statistics.deadlinesRearmed >= 4)
            withExtendedLifetime(client) {}
        }
    }

    /// A receive's own deadline replaces the read/write timeout, later
    /// (data sent 250 ms in, past the 100 ms timeout, is received) or
    /// earlier (50 ms where the timeout is five minutes), for each kind of
    /// receive; a timed-out one loses nothing.
    @Test func aReceivesOwnDeadlineReplacesTheTimeout() async throws {
        try await withNetwork(timeout: .milliseconds(100)) { network in
            let (_, client, server) = try await connectedPair(network)
            async let late = server.stream.receive(exactly: 3, deadline: .now + hangGuard)
            try await Task.sleep(for: .milliseconds(250))
            try await client.sink.send([1, 2, 3])
            #expect(try await late == [1, 2, 3])
        }
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            let buffer = IOBuffer(capacity: 8)
            for receive in 0..<3 {
                let started = ContinuousClock.now
                await expectIOError(.timedOut) {
                    let deadline = started + .milliseconds(50)
                    switch receive {
                    case 0: _ = try await server.stream.receive(exactly: 2, deadline: deadline)
                    case 1: _ = try await server.stream.receive(upTo: 2, deadline: deadline)
                    default: _ = try await server.stream.receive(into: buffer, deadline: deadline)
                    }
                }
                #expect(ContinuousClock.now - started >= .milliseconds(50))
            }
            try await client.sink.send([4, 5])
            #expect(try await server.stream.receive(exactly: 2, deadline: .now + .seconds(300)) == [4, 5])
        }
    }

    /// A send's own deadline ends a send a peer that never reads holds up
    /// (32 MiB: past any socket buffers), and the sink refuses more.
    @Test func aSendsOwnDeadlineEndsASendThePeerHoldsUp() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            let started = ContinuousClock.now
            await expectIOError(.timedOut) {
                try await client.sink.send(IOBuffer(bytes: [UInt8](repeating: 1, count: 32 << 20)), deadline: started + .milliseconds(100))
            }
            #expect(ContinuousClock.now - started >= .milliseconds(100))
            await #expect(throws: IOError.self) { try await client.sink.send([1], deadline: .now + .seconds(300)) }
            withExtendedLifetime(server) {}
        }
    }
}
