// Sink.write and flush: order, the write-buffer limit, failures reported
// once, cancellation and shutdown with writes in flight. Every transfer is
// checked byte for byte.
import Glibc
import Synchronization
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

/// `count` chunks of `size` bytes: one pattern, each chunk stamped with its
/// index in its first bytes, so reordered or repeated chunks show. (Cheap
/// to build and compare even in debug builds, unlike a pattern of MiBs.)
private func stampedChunks(_ count: Int, of size: Int, seed: Int) -> [[UInt8]] {
    let base = pattern(size, seed: seed)
    return (0..<count).map { index in
        var chunk = base
        withUnsafeBytes(of: UInt32(index).littleEndian) { chunk.replaceSubrange(0..<4, with: $0) }
        return chunk
    }
}

/// The chunks back to back.
private func joined(_ chunks: [[UInt8]]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(chunks.reduce(0) { $0 + $1.count })
    for chunk in chunks { bytes.append(contentsOf: chunk) }
    return bytes
}

/// Shrinks `sink`'s kernel send buffer to a few tens of KiB (no
/// autotuning), so a peer that reads nothing stalls the sender after little
/// data and the tests stay light, under ThreadSanitizer too. (The peer's
/// receive buffer keeps its size: a tiny receive window would make the
/// transfer crawl once the peer reads.)
private func shrinkSendBuffer(of sink: Sink) {
    var size: Int32 = 16 * 1024
    setsockopt(sink.socket.fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
}

/// Writes chunks to a sink from a task of its own, counting the writes
/// that returned.
private final class ChunkWriter: Sendable {
    private let accepted = Atomic<Int>(0)

    /// Writes that returned so far.
    var writesAccepted: Int { accepted.load(ordering: .relaxed) }

    /// Writes `chunks` to `sink` in order, then flushes.
    func start(_ chunks: [[UInt8]], to sink: Sink) -> Task<Void, any Error> {
        Task {
            for bytes in chunks {
                try await sink.write(bytes)
                accepted.add(1, ordering: .relaxed)
            }
            try await sink.flush()
        }
    }
}

/// A client writing 64 chunks of 64 KiB to a server that reads nothing,
/// caught once its sink holds the configured limit of unsent bytes: from
/// then on the writer waits for room.
private struct StalledWriter {
    static let chunk = 64 * 1024, count = 64
    let client: (sink: Sink, stream: Stream)
    let server: (peer: SocketAddress, sink: Sink, stream: Stream)
    let data: [[UInt8]]
    let written = ChunkWriter()
    let task: Task<Void, any Error>

    init(_ network: Network, seed: Int) async throws {
        (_, client, server) = try await connectedPair(network)
        shrinkSendBuffer(of: client.sink)
        data = stampedChunks(Self.count, of: Self.chunk, seed: seed)
        task = written.start(data, to: client.sink)
        let (sink, limit) = (client.sink, network.configuration.writeBufferLimit)
        try await until("the sink filled up to its limit") { sink.unsentByteCount >= limit }
    }
}

@Suite struct SinkWriteTests {
    @Test func manyWritesArriveInOrderAndFlushWaitsForAllOfThem() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            var expected: [UInt8] = []
            for index in 0..<2000 {
                let message = pattern(1 + (index * 37) % 3000, seed: index)
                expected += message
                try await client.sink.write(message)
            }
            try await client.sink.flush()
            #expect(client.sink.unsentByteCount == 0)
            #expect(try await server.stream.receive(exactly: expected.count) == expected)
        }
    }

    @Test func writesAndSendsFormOneOrderedStream() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            try await client.sink.write([1, 2])
            try await client.sink.write(IOBuffer(bytes: [3]))
            try await client.sink.write([])  // nothing to send, nothing refused
            try await client.sink.send([4, 5])  // waits for the writes first
            #expect(client.sink.unsentByteCount == 0)
            try await client.sink.write([6])
            try await client.sink.send([IOBuffer(bytes: [7]), IOBuffer(bytes: [8, 9])])
            #expect(try await server.stream.receive(exactly: 9) == [1, 2, 3, 4, 5, 6, 7, 8, 9])
        }
    }

    @Test func aWriterWaitsAtTheLimitAndGoesOnAsThePeerReads() async throws {
        let limit = 256 * 1024
        try await withNetwork(configure: { $0.writeBufferLimit = limit }) { network in
            // The kernel holds little while the server reads nothing: the
            // writer reaches the limit and must wait there.
            let stalled = try await StalledWriter(network, seed: 5)
            let sink = stalled.client.sink
            for _ in 0..<100 {
                // Admission only below the limit: at most one chunk past it.
                #expect(sink.unsentByteCount < limit + StalledWriter.chunk)
                await Task.yield()
            }
            #expect(stalled.written.writesAccepted < StalledWriter.count)
            let total = StalledWriter.count * StalledWriter.chunk
            #expect(try await stalled.server.stream.receive(exactly: total) == joined(stalled.data))
            try await stalled.task.value
            #expect(sink.unsentByteCount == 0)
        }
    }

    @Test func aWriteCancelledWhileWaitingForRoomIsNotSent() async throws {
        try await withNetwork(configure: { $0.writeBufferLimit = 128 * 1024 }) { network in
            let stalled = try await StalledWriter(network, seed: 9)
            let (client, server) = (stalled.client, stalled.server)
            stalled.task.cancel()
            await #expect(throws: CancellationError.self) { try await stalled.task.value }
            // Exactly the writes that returned are sent, and the sink goes on
            // (its next write waits for room too, so the server reads first).
            let accepted = stalled.written.writesAccepted
            async let sent = server.stream.receive(exactly: accepted * StalledWriter.chunk + 1)
            try await client.sink.write([0xEE])
            try await client.sink.flush()
            #expect(try await sent == joined(Array(stalled.data[..<accepted])) + [0xEE])
        }
    }

    @Test func aCancelledFlushLeavesTheWritesGoing() async throws {
        let data = stampedChunks(4, of: 1 << 20, seed: 11)
        try await withNetwork(configure: { $0.writeBufferLimit = 64 << 20 }) { network in
            let (_, client, server) = try await connectedPair(network)
            shrinkSendBuffer(of: client.sink)
            for bytes in data { try await client.sink.write(bytes) }
            let flusher = Task { try await client.sink.flush() }
            flusher.cancel()
            await #expect(throws: CancellationError.self) { try await flusher.value }
            #expect(try await server.stream.receive(exactly: 4 << 20) == joined(data))
            try await client.sink.flush()
        }
    }

    @Test func aFailedWriteIsReportedOnceThenEverythingIsRefused() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            server.stream.close()  // zero linger: the client's next sends meet a reset
            var firstError: IOError?
            for _ in 0..<1000 where firstError == nil {
                do {
                    try await client.sink.write(pattern(64 * 1024))
                    try await client.sink.flush()
                } catch let error as IOError {
                    firstError = error
                }
            }
            let error = try #require(firstError)
            // The kernel's reason, naming the peer; not the generic refusal.
            #expect(error.errno != nil, "\(error)")
            #expect(error.context?.hasPrefix("\(client.sink.peer)") == true, "\(error)")
            let refusal = IOError.Reason.invalidArgument("an earlier send failed part-way; the connection must not be reused")
            await expectIOError(refusal) { try await client.sink.write([1]) }
            await expectIOError(refusal) { try await client.sink.flush() }
            await expectIOError(refusal) { try await client.sink.send([1]) }
            await expectIOError(refusal) { try await client.sink.write([]) }
        }
    }

    @Test func aWriteDuringASendIsRefused() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            shrinkSendBuffer(of: client.sink)
            let big = IOBuffer(bytes: joined(stampedChunks(64, of: 64 * 1024, seed: 2)))
            let sending = Task { try await client.sink.send(big) }
            try await until("the send to wait in the ring") { network.sendLoop.statistics.pendingRequests != 0 }
            await expectIOError(.invalidArgument("another send is in progress on this sink")) {
                try await client.sink.write([1])
            }
            #expect(client.sink.unsentByteCount == 0)
            #expect(try await server.stream.receive(exactly: big.count) == big.bytes)
            try await sending.value
        }
    }

    @Test func shutdownWithWritesStuckInTheKernelResumesTheFlush() async throws {
        var configuration = NetworkConfiguration()
        configuration.readWriteTimeout = nil
        configuration.loop.shutdownTimeout = .milliseconds(200)
        configuration.writeBufferLimit = 64 << 20  // all of it queues at once
        let network = try Network(configuration: configuration)
        let (_, client, server) = try await connectedPair(network)
        shrinkSendBuffer(of: client.sink)
        for bytes in stampedChunks(4, of: 1 << 20, seed: 4) { try await client.sink.write(bytes) }
        let flusher = Task { try await client.sink.flush() }
        await network.shutdown()
        // The peer never read: shutdown cancelled the batch in the kernel,
        // and the flush hears of it (nothing hangs, nothing is resumed twice).
        await expectIOError(.shutdown) { try await flusher.value }
        await expectIOError(.invalidArgument("an earlier send failed part-way; the connection must not be reused")) {
            try await client.sink.write([1])
        }
        withExtendedLifetime(server) {}
    }

    @Test func manyConnectionsWriteThroughASmallLimitWhilePeersRead() async throws {
        try await withNetwork(configure: { $0.writeBufferLimit = 4096 }) { network in
            let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
            // Small enough to stay cheap under ThreadSanitizer, where the
            // network tests all run side by side; the limit still holds each
            // writer back every few messages.
            let connections = 16, messages = 100
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await withThrowingTaskGroup(of: Void.self) { readers in
                        for _ in 0..<connections {
                            let (_, sink, stream) = try await listener.accept()
                            readers.addTask {
                                // The first byte says which writer this is.
                                let index = Int(try await stream.receive(exactly: 1)[0])
                                let expected = (0..<messages).flatMap { pattern(1 + ($0 * 131 + index) % 1500, seed: index + $0) }
                                #expect(try await stream.receive(exactly: expected.count) == expected)
                                try await sink.send([1])
                            }
                        }
                        try await readers.waitForAll()
                    }
                }
                for index in 0..<connections {
                    group.addTask {
                        let (sink, stream) = try await network.dial(listener.localAddress)
                        try await sink.write([UInt8(index)])
                        for message in 0..<messages {
                            try await sink.write(pattern(1 + (message * 131 + index) % 1500, seed: index + message))
                        }
                        try await sink.flush()
                        #expect(try await stream.receive(exactly: 1) == [1])
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func finishSendsEverythingThenHalfClosesAndTheStreamGoesOn() async throws {
        try await withNetwork { network in
            let (_, client, server) = try await connectedPair(network)
            let request = stampedChunks(8, of: 100_000, seed: 6)
            for chunk in request { try await client.sink.write(chunk) }
            try await client.sink.finish()
            #expect(client.sink.unsentByteCount == 0)
            // The server reads the whole request, then end of stream...
            #expect(try await server.stream.receive(exactly: 800_000) == joined(request))
            #expect(try await server.stream.receive(upTo: 10) == [])
            // ...and still answers over the half that stays open.
            try await server.sink.send([1, 2, 3])
            #expect(try await client.stream.receive(exactly: 3) == [1, 2, 3])
            let refusal = IOError.Reason.invalidArgument("the sink was finished: its sending direction is shut down")
            await expectIOError(refusal) { try await client.sink.write([4]) }
            await expectIOError(refusal) { try await client.sink.send([4]) }
            await expectIOError(refusal) { try await client.sink.finish() }
            await expectIOError(refusal) { try await client.sink.write([]) }
            try await client.sink.flush()  // nothing unsent: nothing to refuse
        }
    }

    @Test func aZeroWriteBufferLimitIsRefused() {
        var configuration = NetworkConfiguration()
        configuration.writeBufferLimit = 0
        #expect(throws: IOError("network configuration", .invalidArgument("writeBufferLimit must be positive"))) {
            _ = try Network(configuration: configuration)
        }
    }
}
