// TCP over the loop on loopback: every transfer is checked byte for byte.
import Glibc
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct NetworkTests {
    @Test func bindAcceptDialOverIPv4() async throws {
        try await withNetwork { network in
            let (listener, client, server) = try await connectedPair(network)
            #expect(listener.localAddress.port != 0)
            #expect(server.peer.host == "127.0.0.1")
            // Each end's own address is the other's peer.
            #expect(try server.stream.localAddress.sameBytes(as: listener.localAddress))
            #expect(try server.sink.localAddress.sameBytes(as: client.sink.peer))
            #expect(try client.stream.localAddress.sameBytes(as: server.peer))
            #expect(try client.sink.localAddress.port != 0)
            try await client.sink.send(Array("ping".utf8))
            #expect(try await server.stream.receive(exactly: 4) == Array("ping".utf8))
            try await server.sink.send(Array("pong".utf8))
            #expect(try await client.stream.receive(exactly: 4) == Array("pong".utf8))
        }
    }

    @Test func bindAcceptDialOverIPv6WhereAvailable() async throws {
        let probe = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        let available = probe >= 0 && withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
        }
        if probe >= 0 { close(probe) }
        guard available else { return }  // no IPv6 loopback on this machine
        try await withNetwork { network in
            let (listener, client, server) = try await connectedPair(network, host: "::1")
            #expect(listener.localAddress.family == AF_INET6)
            #expect(server.peer.host == "::1")
            try await client.sink.send([1, 2, 3])
            #expect(try await server.stream.receive(exactly: 3) == [1, 2, 3])
        }
    }

    @Test func largeTransfersBothWaysAreByteExact() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            let up = pattern(5 << 20, seed: 3)
            let down = pattern(3 << 20, seed: 7)
            async let sentUp: Void = client.sink.send(up)
            async let sentDown: Void = server.sink.send(down)
            // Mixed read sizes: small (buffered) and large (bypassing the buffer).
            var received: [UInt8] = []
            received += try await server.stream.receive(exactly: 10)
            received += try await server.stream.receive(exactly: 1 << 20)
            while received.count < up.count {
                received += try await server.stream.receive(exactly: min(7000, up.count - received.count))
            }
            let back = try await client.stream.receive(exactly: down.count)
            try await sentUp
            try await sentDown
            #expect(received == up)
            #expect(back == down)
        }
    }

    @Test func vectoredSend() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            let parts = (0..<50).map { IOBuffer(bytes: pattern(1000 + $0, seed: $0)) }
            try await client.sink.send(parts)
            let expected = parts.flatMap(\.bytes)
            #expect(try await server.stream.receive(exactly: expected.count) == expected)
            // One buffer larger than the socket buffers hold: the send can
            // only finish while the peer drains it. (Short sends of a single
            // buffer are covered by the fault-injection boundary test.)
            let large = IOBuffer(bytes: pattern(8 << 20, seed: 7))
            let sender = Task { try await client.sink.send(large) }
            #expect(try await server.stream.receive(exactly: large.count) == large.bytes)
            try await sender.value
        }
    }

    @Test func exactReceiveAcrossManySmallSends() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            let message = pattern(10_000)
            let sender = Task {
                for offset in stride(from: 0, to: message.count, by: 7) {
                    try await client.sink.send(Array(message[offset..<min(offset + 7, message.count)]))
                }
            }
            #expect(try await server.stream.receive(exactly: message.count) == message)
            try await sender.value
        }
    }

    @Test func peekShowsBufferedBytesWithoutConsuming() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            #expect(try server.stream.peek(maxLength: 10) == [])
            try await client.sink.send(Array("abcdef".utf8))
            #expect(try await server.stream.receive(exactly: 2) == Array("ab".utf8))
            // Whatever that receive buffered beyond the two bytes (one TCP
            // segment on loopback: all of it) is visible and not consumed.
            let peeked = try server.stream.peek(maxLength: 3)
            #expect(Array("cde".utf8).starts(with: peeked))
            #expect(try server.stream.peek(maxLength: 3) == peeked)
            #expect(try await server.stream.receive(exactly: 4) == Array("cdef".utf8))
            #expect(try server.stream.peek(maxLength: 10) == [])
        }
    }

    @Test func silentPeerTimesOut() async throws {
        try await withNetwork(timeout: .milliseconds(100)) { network in
            let (_, client, server) = try await connectedPair(network)
            await expectIOError(.timedOut) { _ = try await server.stream.receive(exactly: 1) }
            withExtendedLifetime(client) {}  // the peer stays connected, silent
        }
    }

    @Test func aTimedOutReceiveLosesNoBytes() async throws {
        try await withNetwork(timeout: .milliseconds(100)) { network in
            let (_, client, server) = try await connectedPair(network)
            try await client.sink.send([1, 2, 3])
            await expectIOError(.timedOut) { _ = try await server.stream.receive(exactly: 5) }
            try await client.sink.send([4, 5])
            #expect(try await server.stream.receive(exactly: 5) == [1, 2, 3, 4, 5])
        }
    }

    @Test func receiveUpToAnswersFromTheBufferAndFreesTheStreamAfterATimeout() async throws {
        try await withNetwork(timeout: .milliseconds(100)) { network in
            let (_, client, server) = try await connectedPair(network)
            // A timeout names the peer and leaves the stream usable.
            await expectIOError(.timedOut) { _ = try await server.stream.receive(upTo: 10) }
            do {
                _ = try await server.stream.receive(upTo: 10)
                Issue.record("a silent peer answered")
            } catch let error as IOError {
                #expect(error.context?.hasPrefix("\(server.peer)") == true, "\(error)")
            }
            try await client.sink.send([7, 8, 9])
            var received: [UInt8] = []
            received += try await server.stream.receive(upTo: 1)
            #expect(received == [7])
            // The rest is already buffered (or arrives with the next receive).
            while received.count < 3 { received += try await server.stream.receive(upTo: 10) }
            #expect(received == [7, 8, 9])
            await expectIOError(.invalidArgument("maxLength must be positive, got 0")) {
                _ = try await server.stream.receive(upTo: 0)
            }
        }
    }

    @Test func aSecondReceiveUpToIsRefusedWhileOneWaits() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            // Both tasks run on the connection's loop, whose jobs run in
            // order: after one yield, the first receive has taken the stream
            // and waits in the ring. (The loop's published statistics could
            // still show the connect or accept as pending, so they cannot
            // tell that the first receive got there.)
            let loop = server.stream.executor
            let first = await withTaskExecutorPreference(loop) {
                let first = Task(executorPreference: loop) { try await server.stream.receive(upTo: 10) }
                await Task.yield()
                await expectIOError(.invalidArgument("another receive is in progress on this stream")) {
                    _ = try await server.stream.receive(upTo: 10)
                }
                return first
            }
            client.sink.close()
            #expect(try await first.value == [])  // the peer closed: an empty receive
            #expect(try await server.stream.receive(upTo: 10) == [])
        }
    }

    @Test func receiveIntoABufferTakesBufferedBytesFirstThenReceivesInPlace() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            await expectIOError(.invalidArgument("the buffer has no capacity")) {
                _ = try await server.stream.receive(into: IOBuffer(capacity: 0))
            }
            // Bytes left over from an exact receive come out first, at most
            // a buffer's capacity at a time.
            try await client.sink.send(pattern(6))
            #expect(try await server.stream.receive(exactly: 2) == Array(pattern(6)[0..<2]))
            let small = IOBuffer(capacity: 3)
            small.assign([0xEE, 0xEE, 0xEE])
            var received: [UInt8] = []
            while received.count < 4 {
                let count = try await server.stream.receive(into: small)
                #expect(count > 0 && count <= 3 && small.count == count)
                received += small.bytes
            }
            #expect(received == Array(pattern(6)[2...]))
            // What arrives lands in the caller's buffer and goes back out
            // from it unchanged.
            let large = IOBuffer(capacity: 64 * 1024)
            let message = pattern(50_000, seed: 7)
            async let sent: Void = client.sink.send(message)
            var echoed = 0
            while echoed < message.count {
                let count = try await server.stream.receive(into: large)
                #expect(count > 0)
                try await server.sink.send(large)
                echoed += count
            }
            try await sent
            #expect(try await client.stream.receive(exactly: message.count) == message)
            // The peer closes: 0, and an empty buffer.
            client.sink.close()
            #expect(try await server.stream.receive(into: large) == 0)
            #expect(large.count == 0)
        }
    }

    @Test func aStreamAllocatesItsBufferOnlyForTheReceivesThatUseIt() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            // Receives into the caller's buffer, a peek with nothing
            // buffered and a message larger than the buffer need none.
            let target = IOBuffer(capacity: 8)
            try await client.sink.send([1, 2, 3])
            var received: [UInt8] = []
            while received.count < 3 {
                #expect(try await server.stream.receive(into: target) > 0)
                received += target.bytes
            }
            #expect(received == [1, 2, 3])
            #expect(try server.stream.peek(maxLength: 10) == [])
            let large = pattern(NetworkConfiguration().receiveBufferSize + 1, seed: 3)
            async let sent: Void = client.sink.send(large)
            #expect(try await server.stream.receive(exactly: large.count) == large)
            try await sent
            #expect(!server.stream.hasBuffer)
            // The first buffered receive allocates it.
            try await client.sink.send([4, 5, 6, 7])
            #expect(try await server.stream.receive(upTo: 1) == [4])
            #expect(server.stream.hasBuffer)
            #expect(try await server.stream.receive(exactly: 3) == [5, 6, 7])
        }
    }

    @Test func aReceiveIntoABufferTimesOutNamingThePeerAndLeavesTheStreamUsable() async throws {
        try await withNetwork(timeout: .milliseconds(100)) { network in
            let (_, client, server) = try await connectedPair(network)
            let buffer = IOBuffer(capacity: 16)
            do {
                _ = try await server.stream.receive(into: buffer)
                Issue.record("a silent peer answered")
            } catch let error as IOError {
                #expect(error.reason == .timedOut)
                #expect(error.context?.hasPrefix("\(server.peer)") == true, "\(error)")
            }
            try await client.sink.send([5, 6, 7])
            var received: [UInt8] = []
            while received.count < 3 {
                #expect(try await server.stream.receive(into: buffer) > 0)
                received += buffer.bytes
            }
            #expect(received == [5, 6, 7])
        }
    }

    @Test func aReceiveIntoABufferIsRefusedWhileAnotherReceiveWaits() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            // Ordered as in `aSecondReceiveUpToIsRefusedWhileOneWaits`: the
            // first receive runs on the loop before the second is tried.
            let loop = server.stream.executor
            let first = await withTaskExecutorPreference(loop) {
                let buffer = IOBuffer(capacity: 10)
                let first = Task(executorPreference: loop) { try await server.stream.receive(into: buffer) }
                await Task.yield()
                await expectIOError(.invalidArgument("another receive is in progress on this stream")) {
                    _ = try await server.stream.receive(into: IOBuffer(capacity: 10))
                }
                return (first, buffer)
            }
            try await client.sink.send([4, 2])
            #expect(try await first.0.value == 2)
            #expect(first.1.bytes == [4, 2])
            // The stream is free again once the first receive returned.
            try await client.sink.send([1])
            #expect(try await server.stream.receive(into: IOBuffer(capacity: 10)) == 1)
        }
    }

    @Test func cancellingAWaitingReceiveFreesTheStreamAndLosesNothing() async throws {
        try await withNetwork { network in
            let (listener, client, server) = try await connectedPair(network)
            for kind in 0..<3 {
                let waiting = Task { () async throws -> [UInt8] in
                    switch kind {
                    case 0: return try await server.stream.receive(exactly: 4)
                    case 1: return try await server.stream.receive(upTo: 4)
                    default:
                        let buffer = IOBuffer(capacity: 4)
                        _ = try await server.stream.receive(into: buffer)
                        return buffer.bytes
                    }
                }
                // Usually in the ring by now (the statistics may lag, and then
                // the cancel meets the receive before it is submitted: the
                // outcome must be the same).
                try await untilAReceiveIsPending(network, besidesTheAcceptsOf: listener)
                waiting.cancel()
                do {
                    let received = try await waiting.value
                    Issue.record("a cancelled receive returned \(received)")
                } catch is CancellationError {
                } catch {
                    Issue.record("expected CancellationError, got \(error)")
                }
                // The stream is free again and nothing was consumed.
                let message = pattern(4, seed: kind)
                try await client.sink.send(message)
                #expect(try await server.stream.receive(exactly: 4) == message)
            }
        }
    }

    @Test func cancellingABlockedSendFailsTheSink() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            // Far more than loopback's socket buffers hold while the server
            // reads nothing: the send waits in the ring for room.
            let big = IOBuffer(capacity: 32 << 20)
            big.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0x5A) }
            big.count = big.capacity
            let sending = Task { try await client.sink.send(big) }
            try await until("the send to wait in the ring") { network.sendLoop.statistics.pendingRequests != 0 }
            sending.cancel()
            do {
                try await sending.value
                Issue.record("32 MiB went into a peer that reads nothing")
            } catch is CancellationError {
            } catch {
                Issue.record("expected CancellationError, got \(error)")
            }
            // An unknown prefix may have left: the sink refuses to go on.
            await expectIOError(.invalidArgument("an earlier send failed part-way; the connection must not be reused")) {
                try await client.sink.send([1])
            }
            withExtendedLifetime(server) {}
        }
    }

    @Test func anExactReceiveNoMemoryCanHoldFailsAndLosesNothing() async throws {
        // A length prefix from a hostile peer: the receive fails with
        // ENOMEM before taking anything, and the stream goes on.
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            try await client.sink.send([1, 2, 3, 4, 5, 6])
            #expect(try await server.stream.receive(exactly: 2) == [1, 2])
            await expectIOError(.errno(ENOMEM)) { _ = try await server.stream.receive(exactly: 1 << 60) }
            #expect(try await server.stream.receive(exactly: 4) == [3, 4, 5, 6])
        }
    }

    @Test func peerClosingMidMessageIsEndOfFile() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            try await client.sink.send([1, 2, 3])
            client.sink.close()
            await expectIOError(.endOfFile) { _ = try await server.stream.receive(exactly: 10) }
            // The stream is free again and the partial message still there.
            #expect(try await server.stream.receive(upTo: 10) == [1, 2, 3])
            #expect(try await server.stream.receive(upTo: 10) == [])
        }
    }

    @Test func aFailedLargeReceiveBreaksTheStream() async throws {
        try await withNetwork(timeout: .milliseconds(100)) { network in
            let (_, client, server) = try await connectedPair(network)
            try await client.sink.send(pattern(100))
            // Larger than the 16 KiB buffer: received directly, and a timeout
            // part-way loses bytes, so the stream refuses to go on.
            await expectIOError(.timedOut) { _ = try await server.stream.receive(exactly: 64 * 1024) }
            await expectIOError(.invalidArgument("an earlier large receive failed part-way; the connection must not be reused")) {
                _ = try await server.stream.receive(upTo: 10)
            }
            await expectIOError(.invalidArgument("an earlier large receive failed part-way; the connection must not be reused")) {
                _ = try await server.stream.receive(exactly: 1)
            }
        }
    }

    @Test func shutdownEndsWhatWaitsOnSilentPeers() async throws {
        // No read/write timeout: an idle connection's receive and a pending
        // accept would hold a draining shutdown forever; the network's own
        // shutdown ends them with .shutdown instead.
        var configuration = NetworkConfiguration()
        configuration.readWriteTimeout = nil
        let network = try Network(configuration: configuration)
        let (listener, client, server) = try await connectedPair(network)
        let receiver = Task { try await server.stream.receive(exactly: 4) }
        let accepter = Task { try await listener.accept() }
        // The listener's armed accepts, and the receive.
        try await untilPending(network, atLeast: network.configuration.acceptDepth + 1, "the receive and the accepts")
        try await bounded("the network's shutdown", seconds: 300) { await network.shutdown() }
        await expectIOError(.shutdown) { _ = try await receiver.value }
        await expectIOError(.shutdown) { _ = try await accepter.value }
        await expectIOError(.shutdown) { try await client.sink.send([1]) }
    }

    @Test func closingAListenerEndsPendingAndLaterAccepts() async throws {
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            let pending = Task { try await listener.accept() }
            try await untilPending(network, atLeast: network.configuration.acceptDepth, "the accepts")
            listener.close()
            let closed = IOError("accept", .invalidArgument("the listener is closed"), context: "\(listener.localAddress)")
            let outcome = await pending.result
            #expect(throws: closed) { _ = try outcome.get() }
            await #expect(throws: closed) { _ = try await listener.accept() }
        }
    }

    @Test func dialToAClosedPortFailsWithTheRefusalNotItsTimeout() async throws {
        // The refusal must end the dial, not its deadline. The error says
        // which did: a dial the connect timeout ended throws `.timedOut`.
        // (A wall-clock bound said the same less reliably: 5 s failed at
        // 7.6 s under ASan, and 30 s at 32 s with the suite beside two busy
        // processes, its pool threads taken by other tests meanwhile.)
        try await withNetwork(configure: { $0.connectTimeout = .seconds(3600) }) { network in
            let refusing = try RefusingPort()
            await expectIOError(.errno(ECONNREFUSED)) { _ = try await network.dial(refusing.address) }
        }
    }

    @Test func dialToAListenerThatNeverAnswersTimesOut() async throws {
        // A listener whose accept queue is full drops new handshakes, as a
        // vanished host would: the dial ends at the connect timeout with
        // .timedOut (its socket closed: DescriptorLeakTests count that).
        let silent = try SilentListener()
        try await withNetwork(configure: { $0.connectTimeout = .milliseconds(300) }) { network in
            let started = ContinuousClock.now
            await expectIOError(.timedOut) { _ = try await network.dial(silent.address) }
            #expect(ContinuousClock.now - started >= .milliseconds(290))
            // A deadline given to the call wins over the configured timeout.
            await expectIOError(.timedOut) { _ = try await network.dial(silent.address, deadline: .now + .milliseconds(50)) }
        }
    }

    @Test func twoHundredConcurrentConnectionsEcho() async throws {
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            let server = echoServer(listener, connections: 200)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let (sink, stream) = try await network.dial(listener.localAddress)
                        for round in 0..<5 {
                            let message = pattern(64 + index, seed: index &* 31 &+ round)
                            try await sink.send(message)
                            let echoed = try await stream.receive(exactly: message.count)
                            guard echoed == message else { throw IOError("echo", .corrupt("connection \(index) round \(round)")) }
                        }
                        sink.close()
                    }
                }
                try await group.waitForAll()
            }
            try await server.value
        }
    }

    @Test func idleConnectionsPastTheRingSizeDoNotKeepOutNewOnes() async throws {
        // Every idle connection holds a receive on the receive loop, here at
        // both ends: 400 receives, past the 256 submission-queue entries
        // that once also bounded the requests a loop held. A newcomer is
        // still accepted and served, and then every idle one too.
        let count = 200
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            let server = echoServer(listener, connections: count + 1)
            // On failure, nothing may keep the network's shutdown waiting.
            defer { listener.close(); server.cancel() }
            var idle: [(sink: Sink, stream: Stream)] = []
            for _ in 0..<count { idle.append(try await network.dial(listener.localAddress)) }
            let connections = idle
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for (index, connection) in connections.enumerated() {
                    clients.addTask {
                        let echoed = try await connection.stream.receive(exactly: 8)
                        #expect(echoed == pattern(8, seed: index), "connection \(index)")
                    }
                }
                try await untilPending(network, atLeast: 2 * count + listener.queue.armedCount, "every idle receive")
                let newcomer = try await network.dial(listener.localAddress)
                try await newcomer.sink.send(pattern(16, seed: 999))
                #expect(try await newcomer.stream.receive(exactly: 16) == pattern(16, seed: 999))
                newcomer.sink.close()
                for (index, connection) in connections.enumerated() {
                    try await connection.sink.send(pattern(8, seed: index))
                }
                try await clients.waitForAll()
            }
            for connection in connections { connection.sink.close() }
            try await server.value
        }
    }

    @Test func closingWhileAReceiveIsPendingResumesTheReceiver() async throws {
        try await withNetwork { network in
            let (listener, client, server) = try await connectedPair(network)
            let receiver = Task { try await server.stream.receive(exactly: 8) }
            try await untilAReceiveIsPending(network, besidesTheAcceptsOf: listener)
            server.stream.close()
            let outcome = await receiver.result
            #expect(throws: IOError("recv", .endOfFile, context: "\(server.peer): peer closed with 0 bytes of the message received")) {
                try outcome.get()
            }
            withExtendedLifetime(client) {}
        }
    }

    /// Closing either half ends the connection: every later call on both
    /// halves says so, instead of reading like a peer that hung up (an
    /// empty receive, EPIPE); the peer sees end of stream.
    @Test func callsAfterClosingEitherHalfAreRefusedAsClosed() async throws {
        try await withNetwork { network in
            for closeTheSink in [true, false] {
                let (_, client, server) = try await connectedPair(network)
                try await server.sink.send([1, 2, 3])
                _ = try await client.stream.receive(exactly: 1)  // two bytes stay buffered
                if closeTheSink { client.sink.close() } else { client.stream.close() }
                let closed = IOError.Reason.invalidArgument("the connection is closed")
                await expectIOError(closed) { try await client.sink.send([1]) }
                await expectIOError(closed) { try await client.sink.write([1]) }
                await expectIOError(closed) { try await client.sink.flush() }
                await expectIOError(closed) { try await client.sink.finish() }
                await expectIOError(closed) { _ = try await client.stream.receive(upTo: 8) }
                await expectIOError(closed) { _ = try await client.stream.receive(exactly: 1) }
                await expectIOError(closed) { _ = try await client.stream.receive(into: IOBuffer(capacity: 8)) }
                await expectIOError(closed) { _ = try client.stream.peek(maxLength: 2) }
                #expect(try await server.stream.receive(upTo: 8) == [])
            }
        }
    }

    @Test func reusePortLetsListenersShareAPortAndTheLastOneStillAccepts() async throws {
        try await withNetwork { network in
            let first = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0), reusePort: true)
            await expectIOError(.errno(EADDRINUSE)) { _ = try network.bind(first.localAddress) }
            let second = try network.bind(first.localAddress, reusePort: true)
            #expect(second.localAddress.port == first.localAddress.port)
            // The old listener stops; the new one takes every connection.
            first.close()
            for _ in 0..<4 {
                async let accepted = second.accept()
                let (sink, stream) = try await network.dial(first.localAddress)
                let server = try await accepted
                try await sink.send([1, 2])
                #expect(try await server.stream.receive(exactly: 2) == [1, 2])
                sink.close()
                server.sink.close()
                _ = stream
            }
            second.close()
            let directory = try temporaryDirectory()
            defer { rmdir(directory) }
            await expectIOError(.invalidArgument("reusePort is for TCP: a Unix domain path has one listener")) {
                _ = try network.bind(try SocketAddress(unixDomainSocketPath: directory + "/one.sock"), reusePort: true)
            }
        }
    }

    @Test func bindingOnAShutDownNetworkIsRefused() async throws {
        let network = try Network()
        await network.shutdown()
        await expectIOError(.shutdown) { _ = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0)) }

        // On a group, once its owner has shut it down.
        let loops = try LoopGroup(count: 1)
        let onGroup = try Network(loops: loops)
        let listener = try onGroup.bind(try SocketAddress(host: "127.0.0.1", port: 0))
        listener.close()
        await loops.shutdown()
        await expectIOError(.shutdown) { _ = try onGroup.bind(try SocketAddress(host: "127.0.0.1", port: 0)) }
    }

    @Test func sinkRefusesToSendAfterAFailure() async throws {
        try await withNetwork(timeout: .milliseconds(200)) { network in
            let (_, client, server) = try await connectedPair(network)
            server.stream.close()
            // Keep sending until the reset shows up as an error.
            var failed = false
            for _ in 0..<1000 where !failed {
                do { try await client.sink.send(pattern(64 * 1024)) } catch { failed = true }
            }
            #expect(failed)
            do {
                try await client.sink.send([1])
                Issue.record("a failed sink sent again")
            } catch let error as IOError {
                guard case .invalidArgument = error.reason else { Issue.record("\(error)"); return }
            }
        }
    }
}
