// A network on a caller's loop group, and the read/write timeout against
// the loops' deadline horizon.
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

    @Test func aTimeoutPastTheGroupsHorizonIsRefused() async throws {
        var loop = LoopConfiguration()
        loop.maximumRequestTimeout = .milliseconds(200)
        let group = try LoopGroup(count: 1, configuration: loop)
        var configuration = NetworkConfiguration()
        configuration.readWriteTimeout = .milliseconds(200)
        configuration.connectTimeout = .seconds(1)
        #expect(throws: IOError.self) { try Network(configuration: configuration, loops: group) }
        configuration.connectTimeout = .milliseconds(200)
        configuration.readWriteTimeout = .seconds(1)
        #expect(throws: IOError.self) { try Network(configuration: configuration, loops: group) }
        configuration.readWriteTimeout = nil
        _ = try Network(configuration: configuration, loops: group)
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
        // The loops' horizon is 200 ms; the network raises it to its 1 s
        // timeout rather than letting every deadline be clamped to 200 ms.
        try await withNetwork(timeout: .seconds(1), configure: {
            $0.loop.maximumRequestTimeout = .milliseconds(200)
            $0.loop.timeoutWheelTick = .milliseconds(1)
        }) { network in
            #expect(network.receiveLoop.configuration.maximumRequestTimeout >= .seconds(1))
            let (_, client, server) = try await connectedPair(network)
            let started = ContinuousClock.now
            await expectIOError(.timedOut) { _ = try await server.stream.receive(exactly: 1) }
            // A deadline never fires early; the clamped one fired at 200 ms.
            #expect(ContinuousClock.now - started >= .milliseconds(990))
            withExtendedLifetime(client) {}
        }
    }
}
