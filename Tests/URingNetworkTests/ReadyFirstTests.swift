// A socket's sends and receives first try the socket on the calling task's
// thread (`NetworkConfiguration.readyFirst`, both by default): what the
// socket answers at once never reaches a loop, except every eighth such
// call, which goes through the ring so that a peer that is always ready
// cannot keep its handler from ever suspending. A turn that falls on a send
// goes to the socket's next receive, or to the send that meets the next
// turn if none came; with none, every call goes through the ring. Datagram
// sockets the same.
import Glibc
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct ReadyFirstTests {
    /// A connection over a Unix domain socket, whose send puts the bytes in
    /// the peer's queue before it returns: whether a receive finds them is
    /// then no race.
    static func withConnection(
        readyFirst: ReadyFirst,
        _ body: (Network, Listener, (sink: Sink, stream: Stream), (sink: Sink, stream: Stream)) async throws -> Void
    ) async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let address = try SocketAddress(unixDomainSocketPath: "\(directory)/ready.sock")
        try await withNetwork(configure: { $0.readyFirst = readyFirst }) { network in
            let listener = try network.bind(address)
            defer { listener.close() }
            async let accepted = listener.accept()
            let client = try await network.dial(address)
            let server = try await accepted
            try await body(network, listener, client, (server.sink, server.stream))
            client.sink.close()
            server.sink.close()
        }
    }

    @Test func receivesTheSocketAnswersSkipTheRingButEveryEighth() async throws {
        try await Self.withConnection(readyFirst: .all) { network, _, client, server in
            try await client.sink.send(Array(1...8))
            let before = network.receiveLoop.statistics.immediateReceives
            var received: [UInt8] = []
            let one = IOBuffer(capacity: 1)
            for _ in 0..<8 {
                #expect(try await server.stream.receive(into: one) == 1)
                received += one.bytes
            }
            #expect(received == Array(1...8))
            #expect(network.receiveLoop.statistics.immediateReceives - before == 7)
        }
    }

    @Test func aTurnThatFallsOnASendGoesToTheNextReceive() async throws {
        try await Self.withConnection(readyFirst: .all) { network, _, client, server in
            try await client.sink.send([1, 2])
            let (sent, received) = (network.sendLoop.statistics.immediateSends,
                                    network.receiveLoop.statistics.immediateReceives)
            for value in 1...8 { try await server.sink.send([UInt8(value)]) }
            #expect(network.sendLoop.statistics.immediateSends - sent == 8)
            let one = IOBuffer(capacity: 1)
            #expect(try await server.stream.receive(into: one) == 1)
            #expect(network.receiveLoop.statistics.immediateReceives - received == 0)
            #expect(try await server.stream.receive(into: one) == 1)
            #expect(network.receiveLoop.statistics.immediateReceives - received == 1)
            #expect(try await client.stream.receive(exactly: 8) == Array(1...8))
        }
    }

    @Test func aSocketThatOnlySendsStillTakesTurns() async throws {
        try await Self.withConnection(readyFirst: .all) { network, _, client, server in
            let before = network.sendLoop.statistics.immediateSends
            for value in 1...16 { try await server.sink.send([UInt8(value)]) }
            // The eighth send hands its turn on; with no receive to take it,
            // the sixteenth goes through the ring.
            #expect(network.sendLoop.statistics.immediateSends - before == 15)
            for value in 17...24 { try await server.sink.send([UInt8(value)]) }
            // And the turn owed is cleared by the one taken: the 24th hands
            // its turn on again.
            #expect(network.sendLoop.statistics.immediateSends - before == 23)
            #expect(try await client.stream.receive(exactly: 24) == Array(1...24))
        }
    }

    @Test func byDefaultBothDirectionsTryTheSocketFirst() async throws {
        #expect(NetworkConfiguration().readyFirst == .all)
        try await Self.withConnection(readyFirst: NetworkConfiguration().readyFirst) { network, _, client, server in
            let (sent, received) = (network.sendLoop.statistics.immediateSends,
                                    network.receiveLoop.statistics.immediateReceives)
            try await client.sink.send([1, 2, 3])
            #expect(try await server.stream.receive(exactly: 3) == [1, 2, 3])
            #expect(network.sendLoop.statistics.immediateSends - sent == 1)
            #expect(network.receiveLoop.statistics.immediateReceives - received == 1)
        }
    }

    @Test func aWriteTheSocketTakesIsSentBeforeItReturns() async throws {
        for readyFirst in [ReadyFirst.all, []] {
            try await Self.withConnection(readyFirst: readyFirst) { network, _, client, server in
                let before = network.sendLoop.statistics.immediateSends
                try await server.sink.write([1, 2, 3])
                if readyFirst == .all {
                    // Sent on this thread, so nothing is left for the loop.
                    #expect(server.sink.unsentByteCount == 0)
                }
                try await server.sink.flush()
                #expect(network.sendLoop.statistics.immediateSends - before == (readyFirst == .all ? 1 : 0))
                #expect(try await client.stream.receive(exactly: 3) == [1, 2, 3])
            }
        }
    }

    @Test func whatAWriteCannotSendAtOnceGoesThroughTheRing() async throws {
        try await Self.withConnection(readyFirst: .all) { network, _, client, server in
            // Far more than a Unix socket holds: the attempt sends a part,
            // the ring the rest as the client reads.
            let bytes = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let before = network.sendLoop.statistics.immediateSends
            try await server.sink.write(bytes)
            // The batch is counted unsent until the ring has sent its rest.
            #expect(server.sink.unsentByteCount == bytes.count)
            async let received = client.stream.receive(exactly: bytes.count)
            try await server.sink.flush()
            #expect(try await received == bytes)
            #expect(network.sendLoop.statistics.immediateSends == before)
        }
    }

    @Test func aWriteThatFailsAtOnceIsReportedByTheNextCall() async throws {
        try await Self.withConnection(readyFirst: .all) { _, _, client, server in
            client.sink.close()
            // The attempt meets the closed peer on this thread; as after a
            // send through the ring, the write itself returns and the sink
            // reports the failure next.
            try await server.sink.write([1])
            #expect(server.sink.unsentByteCount == 0)
            await #expect(throws: IOError.self) { try await server.sink.flush() }
            let refusal = IOError.Reason.invalidArgument("an earlier send failed part-way; the connection must not be reused")
            await expectIOError(refusal) { try await server.sink.write([2]) }
        }
    }

    @Test func withSendsOnlyReceivesGoThroughTheRing() async throws {
        try await Self.withConnection(readyFirst: .sends) { network, _, client, server in
            let before = network.sendLoop.statistics.immediateSends
            try await client.sink.send([1, 2, 3])
            try await client.sink.send([IOBuffer(bytes: [4]), IOBuffer(bytes: [5, 6])])
            #expect(network.sendLoop.statistics.immediateSends - before == 2)
            #expect(try await server.stream.receive(exactly: 6) == [1, 2, 3, 4, 5, 6])
            #expect(network.receiveLoop.statistics.immediateReceives == 0)
        }
    }

    @Test func withNoneEveryCallGoesThroughTheRing() async throws {
        try await Self.withConnection(readyFirst: []) { network, _, client, server in
            try await client.sink.send(Array(1...8))
            let one = IOBuffer(capacity: 1)
            for expected in 1...8 {
                #expect(try await server.stream.receive(into: one) == 1)
                #expect(one.bytes == [UInt8(expected)])
            }
            #expect(network.receiveLoop.statistics.immediateReceives == 0)
            #expect(network.sendLoop.statistics.immediateSends == 0)
        }
    }

    @Test func anExactReceiveTakesWhatIsThereAndWaitsForTheRest() async throws {
        try await Self.withConnection(readyFirst: .all) { network, listener, client, server in
            try await client.sink.send([1, 2, 3])
            async let message = server.stream.receive(exactly: 6)
            try await untilAReceiveIsPending(network, besidesTheAcceptsOf: listener)
            try await client.sink.send([4, 5, 6, 7])
            #expect(try await message == [1, 2, 3, 4, 5, 6])
            // The seventh byte stays in the stream's buffer.
            #expect(try server.stream.peek(maxLength: 8) == [7])
        }
    }

    @Test func datagramSocketsTakeTurnsToo() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let address = try SocketAddress(unixDomainSocketPath: "\(directory)/datagrams.sock")
        for readyFirst in [ReadyFirst.all, .sends, []] {
            try await withNetwork(configure: { $0.readyFirst = readyFirst }) { network in
                let receiver = try network.bindDatagram(address)
                defer { receiver.close() }
                let sender = try await network.connectDatagram(to: address)
                defer { sender.close() }
                let sentBefore = network.sendLoop.statistics.immediateSends
                for value in 1...8 { try await sender.send([UInt8(value)]) }
                // With receives first too, the eighth send hands its turn to
                // the next receive; with sends alone it takes the turn itself.
                let immediateSends = readyFirst == .all ? 8 : readyFirst == .sends ? 7 : 0
                #expect(network.sendLoop.statistics.immediateSends - sentBefore == immediateSends)
                let before = network.receiveLoop.statistics.immediateReceives
                let one = IOBuffer(capacity: 4)
                for value in 1...8 {
                    _ = try await receiver.receive(into: one)
                    #expect(one.bytes == [UInt8(value)])
                }
                // The sender's socket owes the turn, not the receiver's: the
                // receiver's eighth call is its own turn.
                #expect(network.receiveLoop.statistics.immediateReceives - before == (readyFirst.contains(.receives) ? 7 : 0))
            }
        }
    }
}
