// Everything at once, drawn from a seed: tasks making every kind of request
// (no-ops, socket receives, pipe reads, file writes, reads and batches,
// opens), half of them from the loop's own thread, with deadlines (some
// already past), task cancellations at random moments, a loop small enough
// that producers park, and a shutdown (draining, cancelling, or timing out)
// racing all of it. Whatever the interleaving:
// - every task is answered exactly once (a second resume traps; a lost one
//   fails the bounded wait), with an answer its operation allows;
// - no byte a receive or read took from a socket or pipe is lost or
//   repeated: what the callers got, then what is left in the kernel, is
//   exactly what was sent (unless a shutdown timeout abandoned a receive,
//   whose late bytes nobody gets, as documented);
// - every block a write reported written reads back, and every read of a
//   written block returns it;
// - no request stays held, and every buffer is freed once the kernel has
//   given it back.
import CURing
import Glibc
import Synchronization
import Testing
import URing
@testable import URingLoop
import URingTestSupport

@Suite struct LoopChaosTests {
    static let seeds: [UInt64] = [21, 22, 23, UInt64.random(in: 24...UInt64.max)]

    @Test(arguments: seeds, ChaosRun.Ending.allCases)
    func requestsRacingCancelsDeadlinesAndShutdownAreAnsweredOnceAndLoseNothing(
        seed: UInt64, ending: ChaosRun.Ending
    ) async throws {
        let run = try ChaosRun(ending: ending)
        defer { run.close() }
        let context = "seed \(seed), \(ending)"
        var generator = SeededGenerator(seed: seed)

        let stopFeeding = Atomic<Bool>(false)
        let sender = Task.detached {
            var sizes = SeededGenerator(seed: seed ^ 0xFEED)
            while !stopFeeding.load(ordering: .relaxed) {
                for stream in run.streams where stream.isFed { stream.feed(Int.random(in: 1...64, using: &sizes)) }
                try? await Task.sleep(for: .microseconds(200))
            }
        }
        let chains = run.streams.map { stream in
            Task { await run.consumeUntilShutdown(stream, seed: seed &+ UInt64(stream.index + 1) &* 0x9E37_79B9) }
        }
        // Waves of operations, more than the loop holds at once; the last
        // two around the start of the shutdown.
        var operations: [Task<String, Never>] = []
        for _ in 0..<Int.random(in: 10...30, using: &generator) {
            for _ in 0..<Int.random(in: 8...24, using: &generator) { operations.append(run.spawnOperation(using: &generator)) }
            if Bool.random(using: &generator) {
                try await Task.sleep(for: .microseconds(500))
            } else {
                await Task.yield()
            }
        }
        for _ in 0..<24 { operations.append(run.spawnOperation(using: &generator)) }
        let stopping = Task { await run.stop() }
        for _ in 0..<16 { operations.append(run.spawnOperation(using: &generator)) }
        try await within(300, "the shutdown (\(context))") { await stopping.value }
        let spawned = operations
        let outcomes = try await within(300, "every task's answer (\(context))") {
            var outcomes: [String] = []
            for operation in spawned { outcomes.append(await operation.value) }
            var chainOutcomes: [[String]] = []
            for chain in chains { chainOutcomes.append(await chain.value) }
            return (outcomes, chainOutcomes)
        }
        stopFeeding.store(true, ordering: .relaxed)
        await sender.value

        let unexpected = (outcomes.0 + outcomes.1.flatMap { $0 }).filter { !run.allowedOutcomes.contains($0) }
        #expect(unexpected.isEmpty, "\(context): \(Set(unexpected))")
        #expect(run.handle.statistics.pendingRequests == 0, "\(context)")
        for (stream, chainOutcomes) in zip(run.streams, outcomes.1) {
            let taken = stream.taken
            let inOrder = taken == stream.sequence(taken.count)
            #expect(inOrder, "\(context): stream \(stream.index) gave bytes out of order")
            // An abandoned receive may have taken bytes the kernel handed
            // back after its caller had its answer: nobody has those.
            guard !chainOutcomes.contains("abandoned") else { continue }
            let all = taken + stream.leftover()
            let intact = all == stream.sequence(stream.sentCount)
            #expect(intact, "\(context): stream \(stream.index) lost or repeated bytes (\(all.count) of \(stream.sentCount) back)")
        }
        let written = run.writtenBlocks
        #expect(!written.isEmpty, "\(context): no write finished, so nothing was checked")
        for block in written {
            var stored = [UInt8](repeating: 0, count: ChaosRun.blockSize)
            #expect(pread(run.file, &stored, stored.count, off_t(block * ChaosRun.blockSize)) == stored.count)
            let intact = stored == ChaosRun.pattern(block)
            #expect(intact, "\(context): block \(block), reported written, is not on disk")
        }
        try await within(300, "every buffer to be freed (\(context))") {
            while run.buffers.all.contains(where: { $0.object != nil }) { try await Task.sleep(for: .milliseconds(1)) }
        }
    }
}

/// The shared state of one chaos run: the loop, the descriptors its
/// requests use, and what the callers were told.
final class ChaosRun: Sendable {
    /// How the loop stops while the work is in flight.
    enum Ending: String, CaseIterable, Sendable {
        /// `shutdown()`: what is in flight finishes first.
        case draining
        /// `shutdown(cancellingInFlight: true)`.
        case cancelling
        /// `shutdown()` with a 20 ms `shutdownTimeout`: what the kernel
        /// still holds then is abandoned.
        case timingOut
    }

    static let blockSize = 256

    let handle: Handle
    let ending: Ending
    /// The file writes and reads go to, one block each.
    let file: Int32
    let directory: String
    let streams: [ChaosStream]
    /// Every buffer a request was given.
    let buffers = SharedList<WeakBox<IOBuffer>>()
    private let written = Locked<[Int]>([])
    private let nextBlock = Atomic<Int>(0)

    init(ending: Ending) throws {
        self.ending = ending
        // Eight requests at a time: the receives alone fill it, so producers park.
        handle = try smallLoop(size: 8, shutdownTimeout: ending == .timingOut ? .milliseconds(20) : nil)
        file = try temporaryFile()
        directory = try temporaryDirectory()
        let target = open(directory + "/target", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        try #require(target >= 0)
        Glibc.close(target)
        // Sockets and pipes, fed and silent: a silent one's receives end
        // only by a deadline, a cancel or the shutdown.
        streams = try (0..<6).map { index in
            try ChaosStream(index: index, isSocket: index % 2 == 0, isFed: index < 4)
        }
    }

    func close() {
        Glibc.close(file)
        unlink(directory + "/target")
        rmdir(directory)
        for stream in streams { stream.close() }
    }

    func stop() async {
        await handle.shutdown(cancellingInFlight: ending == .cancelling)
    }

    var allowedOutcomes: Set<String> {
        ending == .timingOut ? ["ok", "cancelled", "timedOut", "shutdown", "abandoned"] : ["ok", "cancelled", "timedOut", "shutdown"]
    }

    /// Blocks a write reported written.
    var writtenBlocks: [Int] { written.withLock { $0 } }

    static func pattern(_ block: Int) -> [UInt8] {
        (0..<blockSize).map { UInt8(truncatingIfNeeded: block &* 31 &+ $0 &+ 1) }
    }

    /// One operation in a task of its own, from the loop's thread or not,
    /// with a deadline or not, and maybe cancelled after a while. The
    /// task's value is its outcome.
    func spawnOperation(using generator: inout SeededGenerator) -> Task<String, Never> {
        let kind = Int.random(in: 0..<5, using: &generator)
        let deadline = Self.randomDeadline(using: &generator)
        let onLoop = Bool.random(using: &generator)
        let flag = Bool.random(using: &generator)
        let pick = Int.random(in: 0..<1024, using: &generator)
        let task = Task {
            await Self.outcome {
                let body: @Sendable () async throws -> Void = {
                    try await self.perform(kind, deadline: deadline, flag: flag, pick: pick)
                }
                if onLoop { try await self.handle.run(body) } else { try await body() }
            }
        }
        Self.maybeCancel(task, using: &generator)
        return task
    }

    private func perform(_ kind: Int, deadline: Duration?, flag: Bool, pick: Int) async throws {
        let deadline = deadline.map { ContinuousClock.now + $0 }
        switch kind {
        case 0:
            try await handle.nop(deadline: deadline)
        case 1:
            let block = nextBlock.wrappingAdd(1, ordering: .relaxed).oldValue
            let buffer = tracked(IOBuffer(bytes: Self.pattern(block)))
            try await handle.write(buffer, to: file, at: UInt64(block * Self.blockSize), deadline: deadline, cancellable: flag)
            written.withLock { $0.append(block) }
        case 2:
            guard let block = writtenBlock(pick) else { return }
            let buffer = tracked(IOBuffer(capacity: Self.blockSize))
            let read = try await handle.read(from: file, at: UInt64(block * Self.blockSize), into: buffer, deadline: deadline,
                                             cancellable: false, cacheFirst: flag)
            guard read.bytes == Self.pattern(block) else { throw Mismatch(block: block) }
        case 3:
            let blocks = (0..<4).compactMap { writtenBlock(pick &+ $0 &* 7) }
            let batch = blocks.map {
                BatchRead(from: file, at: UInt64($0 * Self.blockSize), into: tracked(IOBuffer(capacity: Self.blockSize)))
            }
            let results = try await handle.read(batch: batch, deadline: deadline, cacheFirst: flag)
            for (block, result) in zip(blocks, results) {
                guard try result.get().bytes == Self.pattern(block) else { throw Mismatch(block: block) }
            }
        default:
            let fd = try await handle.open(directory + "/target", flags: O_RDONLY)
            Glibc.close(fd)
        }
    }

    /// Receives from `stream` in a chain of consumer tasks, one after
    /// another, each a few receives long and maybe cancelled or timed out,
    /// until the shutdown refuses one. Returns each consumer's outcome.
    func consumeUntilShutdown(_ stream: ChaosStream, seed: UInt64) async -> [String] {
        var generator = SeededGenerator(seed: seed)
        var outcomes: [String] = []
        while true {
            let receives = Int.random(in: 1...4, using: &generator)
            let count = Int.random(in: 1...64, using: &generator)
            let drawn = Self.randomDeadline(using: &generator)
            // A draining shutdown waits for every receive it holds.
            let deadline = drawn == nil && !stream.isFed && ending == .draining ? .milliseconds(5) : drawn
            let onLoop = Bool.random(using: &generator)
            let consumer = Task {
                let body: @Sendable () async throws -> Void = {
                    try await stream.consume(receives: receives, count: count, deadline: deadline, on: self.handle,
                                             tracking: self.buffers)
                }
                if onLoop { try await self.handle.run(body) } else { try await body() }
            }
            Self.maybeCancel(consumer, using: &generator)
            let outcome = await Self.outcome { try await consumer.value }
            outcomes.append(outcome)
            if outcome == "shutdown" || outcome == "abandoned" || !allowedOutcomes.contains(outcome) { return outcomes }
        }
    }

    private func tracked(_ buffer: IOBuffer) -> IOBuffer {
        let box = WeakBox<IOBuffer>()
        box.object = buffer
        buffers.append(box)
        return buffer
    }

    private func writtenBlock(_ pick: Int) -> Int? {
        written.withLock { $0.isEmpty ? nil : $0[pick % $0.count] }
    }

    /// None, already passed, or 1, 5 or 30 ms away.
    static func randomDeadline(using generator: inout SeededGenerator) -> Duration? {
        [nil, .zero, .milliseconds(1), .milliseconds(5), .milliseconds(30)].randomElement(using: &generator)!
    }

    /// Cancels `task` after up to half a millisecond, one time in three.
    static func maybeCancel<T>(_ task: Task<T, some Error>, using generator: inout SeededGenerator) {
        guard Int.random(in: 0..<3, using: &generator) == 0 else { return }
        let after = Duration.microseconds(Int.random(in: 0...500, using: &generator))
        Task {
            try? await Task.sleep(for: after)
            task.cancel()
        }
    }

    static func outcome(_ body: () async throws -> Void) async -> String {
        do {
            try await body()
            return "ok"
        } catch is CancellationError {
            return "cancelled"
        } catch let error as IOError {
            return "\(error.reason)"
        } catch {
            return "\(error)"
        }
    }

    struct Mismatch: Error, CustomStringConvertible {
        let block: Int
        var description: String { "a read of block \(block) returned other bytes than were written" }
    }
}

/// A socket pair or a pipe carrying a known byte sequence, and what the
/// test's receives took from it, in order.
final class ChaosStream: Sendable {
    let index: Int
    let isSocket: Bool
    /// Whether the sender feeds it.
    let isFed: Bool
    private let readEnd: Int32
    private let writeEnd: Int32
    private let sent = Atomic<Int>(0)
    private let received = Locked<[UInt8]>([])

    init(index: Int, isSocket: Bool, isFed: Bool) throws {
        self.index = index
        self.isSocket = isSocket
        self.isFed = isFed
        if isSocket {
            (readEnd, writeEnd) = try socketPair()
        } else {
            var ends: [Int32] = [0, 0]
            try #require(pipe(&ends) == 0)
            (readEnd, writeEnd) = (ends[0], ends[1])
            for end in ends { try #require(fcntl(end, F_SETFD, FD_CLOEXEC) == 0) }  // child processes of other tests
            // The sender's end only: the ring waits on the blocking read end.
            try #require(fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK) == 0)
        }
    }

    func close() {
        Glibc.close(readEnd)
        Glibc.close(writeEnd)
    }

    /// Byte `position` of the stream's sequence.
    func byte(at position: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: position &* 7 &+ position >> 8 &+ index &* 13)
    }

    /// The first `count` bytes of the stream's sequence.
    func sequence(_ count: Int) -> [UInt8] { (0..<count).map(byte(at:)) }

    var sentCount: Int { sent.load(ordering: .relaxed) }

    /// What the receives took, in order.
    var taken: [UInt8] { received.withLock { $0 } }

    /// Sends the next `count` bytes of the sequence, or what the kernel
    /// has room for, without waiting. (Only the sender task calls it.)
    func feed(_ count: Int) {
        let start = sentCount
        let chunk = (start..<start + count).map(byte(at:))
        let written = chunk.withUnsafeBytes { raw in
            isSocket ? send(writeEnd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                : write(writeEnd, raw.baseAddress, raw.count)
        }
        if written > 0 { sent.wrappingAdd(written, ordering: .relaxed) }
    }

    /// A few receives in a row (a pipe's reads one byte each, so none
    /// stops part way), each appended to what was taken.
    func consume(
        receives: Int, count: Int, deadline: Duration?, on handle: Handle, tracking buffers: SharedList<WeakBox<IOBuffer>>
    ) async throws {
        for _ in 0..<receives {
            let buffer = IOBuffer(capacity: 64)
            let box = WeakBox<IOBuffer>()
            box.object = buffer
            buffers.append(box)
            let deadline = deadline.map { ContinuousClock.now + $0 }
            let got = isSocket
                ? try await handle.receive(from: readEnd, into: buffer, count: count, deadline: deadline)
                : try await handle.read(from: readEnd, at: nil, into: buffer, count: 1, deadline: deadline)
            received.withLock { $0.append(contentsOf: got.bytes) }
        }
    }

    /// Takes what is left in the kernel, once nothing else reads or writes.
    func leftover() -> [UInt8] {
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        var rest: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(readEnd, &chunk, chunk.count)
            guard count > 0 else { return rest }
            rest += chunk[0..<count]
        }
    }
}
