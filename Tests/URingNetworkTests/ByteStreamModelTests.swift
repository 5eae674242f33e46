// The byte stream as a model: one side sends a known sequence of bytes with
// every kind of send and write, in chunks of random sizes; the other takes
// it apart with every kind of receive and peek, in random sizes. Each answer
// must be exactly the next bytes of the sequence, whatever path it took
// (served from the stream's buffer, after moving unread bytes to the front,
// bypassing the buffer for a large message, copied into the caller's
// buffer), and the end of the sequence must read as the end of the stream.
//
// The stream's buffer is small here (512 bytes) so that every path is taken
// hundreds of times per run, and the sink's write limit too, so writes wait
// for room. Seeds are fixed (a failure names its seed and step) plus one
// fresh each run.
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct ByteStreamModelTests {
    static let seeds: [UInt64] = [1, 2, 3, 0xDEAD_BEEF, UInt64.random(in: 4...UInt64.max)]

    @Test(arguments: seeds, [512, 4096])
    func everyKindOfReceiveReadsTheSequenceEveryKindOfSendWrote(seed: UInt64, receiveBufferSize: Int) async throws {
        try await withNetwork(configure: {
            $0.receiveBufferSize = receiveBufferSize
            $0.writeBufferLimit = 8 * 1024
        }) { network in
            let (_, client, server) = try await connectedPair(network)
            var generator = SeededGenerator(seed: seed)
            // Shorter under ThreadSanitizer, which runs the suites many times slower.
            let sequence = generator.bytes(underThreadSanitizer ? 60_000 : 300_000)
            let sending = Task { [sequence] in
                try await Self.send(sequence, on: client.sink, seed: seed)
            }
            try await Self.receive(sequence, from: server.stream, bufferSize: receiveBufferSize, seed: seed)
            try await sending.value
        }
    }

    /// Sends `sequence` in random chunks, each by a random kind of send or
    /// write, flushing now and then; then finishes the sink, so the peer
    /// reads end of stream after the last byte.
    static func send(_ sequence: [UInt8], on sink: Sink, seed: UInt64) async throws {
        var generator = SeededGenerator(seed: seed ^ 0x5E4D)
        var sent = 0
        while sent < sequence.count {
            let size = min(sequence.count - sent, chunkSize(using: &generator))
            let chunk = Array(sequence[sent..<(sent + size)])
            switch Int.random(in: 0..<5, using: &generator) {
            case 0:
                try await sink.send(chunk)
            case 1:
                try await sink.send(IOBuffer(bytes: chunk))
            case 2:
                // Vectored, in up to four parts; a part may be empty.
                var parts: [IOBuffer] = []
                var start = 0
                for part in 0..<Int.random(in: 1...4, using: &generator) {
                    let end = part == 3 ? size : Int.random(in: start...size, using: &generator)
                    parts.append(IOBuffer(bytes: Array(chunk[start..<end])))
                    start = end
                }
                if start < size { parts.append(IOBuffer(bytes: Array(chunk[start...]))) }
                try await sink.send(parts)
            case 3:
                try await sink.write(IOBuffer(bytes: chunk))
            default:
                try await sink.write(chunk)
            }
            sent += size
            if Int.random(in: 0..<8, using: &generator) == 0 { try await sink.flush() }
        }
        try await sink.finish()
        #expect(sink.unsentByteCount == 0, "seed \(seed)")
    }

    /// Mostly small chunks, some around the stream's buffer size, a few
    /// far larger.
    static func chunkSize(using generator: inout SeededGenerator) -> Int {
        switch Int.random(in: 0..<10, using: &generator) {
        case 0..<5: Int.random(in: 1...64, using: &generator)
        case 5..<9: Int.random(in: 65...5_000, using: &generator)
        default: Int.random(in: 5_001...40_000, using: &generator)
        }
    }

    /// Takes `sequence` apart with random receives and peeks, checking each
    /// answer against it, then checks that the stream has ended.
    static func receive(_ sequence: [UInt8], from stream: Stream, bufferSize: Int, seed: UInt64) async throws {
        var generator = SeededGenerator(seed: seed ^ 0xA11CE)
        var position = 0
        var step = 0
        /// Whether `bytes` are the sequence's next ones; the message names
        /// the first that differs (the arrays themselves are too long to
        /// read in a report).
        func check(_ bytes: some Collection<UInt8>, _ call: String) throws {
            let mismatch = firstDifference(bytes, sequence[position..<(position + bytes.count)])
            try #require(mismatch == nil, "seed \(seed), step \(step): \(call) at \(position) differs from the sequence at +\(mismatch ?? 0)")
        }
        while position < sequence.count {
            step += 1
            let remaining = sequence.count - position
            let size = Int.random(in: 0...(3 * bufferSize), using: &generator)
            switch Int.random(in: 0..<4, using: &generator) {
            case 0:
                let count = min(size, remaining)
                let bytes = try await stream.receive(exactly: count)
                try #require(bytes.count == count, "seed \(seed), step \(step): receive(exactly: \(count)) gave \(bytes.count)")
                try check(bytes, "receive(exactly: \(count))")
                position += count
            case 1:
                let bytes = try await stream.receive(upTo: max(size, 1))
                try #require(!bytes.isEmpty && bytes.count <= max(size, 1) && bytes.count <= remaining,
                             "seed \(seed), step \(step): receive(upTo: \(max(size, 1))) gave \(bytes.count) at \(position)")
                try check(bytes, "receive(upTo: \(max(size, 1)))")
                position += bytes.count
            case 2:
                let buffer = IOBuffer(capacity: max(size, 1))
                let count = try await stream.receive(into: buffer)
                try #require(count > 0 && count == buffer.count && count <= remaining,
                             "seed \(seed), step \(step): receive(into:) of capacity \(buffer.capacity) gave \(count) at \(position)")
                try check(buffer.bytes, "receive(into:)")
                position += count
            default:
                // Shows only what is already buffered, and consumes nothing.
                let bytes = try stream.peek(maxLength: size)
                try #require(bytes.count <= min(size, bufferSize, remaining),
                             "seed \(seed), step \(step): peek(maxLength: \(size)) gave \(bytes.count)")
                try check(bytes, "peek(maxLength: \(size))")
            }
        }
        // The sender finished after the last byte: every kind of receive
        // now reads the end of the stream.
        #expect(try stream.peek(maxLength: 10).isEmpty, "seed \(seed)")
        #expect(try await stream.receive(upTo: 10).isEmpty, "seed \(seed)")
        #expect(try await stream.receive(into: IOBuffer(capacity: 10)) == 0, "seed \(seed)")
        #expect(try await stream.receive(exactly: 0).isEmpty, "seed \(seed)")
        await expectIOError(.endOfFile) { _ = try await stream.receive(exactly: 1) }
        await expectIOError(.endOfFile) { _ = try await stream.receive(exactly: 10 * bufferSize) }
    }
}
