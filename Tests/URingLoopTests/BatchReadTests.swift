// Batches of reads (`Handle.read(batch:)`): every element answered in order,
// failures kept to their element, argument errors before any I/O, batches
// past the request capacity, from the loop thread, after shutdown, and many
// batches racing a shutdown: each call returns exactly once.
import Glibc
import Testing
import URing
@testable import URingLoop
import URingTestSupport

@Suite struct BatchReadTests {
    /// A temporary file holding `count` bytes of a known pattern.
    static func patternFile(_ count: Int) throws -> (fd: Int32, bytes: [UInt8]) {
        let fd = try temporaryFile()
        // A plain loop over the buffer: a `map` over the range took a
        // quarter of a second per MiB of a pool thread in debug builds.
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var index = 0
            while index < count {
                buffer[index] = UInt8(truncatingIfNeeded: index &* 7 &+ index >> 8)
                index += 1
            }
            initialized = count
        }
        try #require(pwrite(fd, bytes, count, 0) == count)
        return (fd, bytes)
    }

    @Test func everyElementIsReadIntoItsOwnBufferInOrder() async throws {
        let (fd, bytes) = try Self.patternFile(1 << 20)
        defer { close(fd) }
        let handle = try IOLoop.start()
        var generator = SeededGenerator(seed: 7)
        let reads = (0..<200).map { index -> BatchRead in
            let count = index % 50 == 0 ? 0 : Int.random(in: 1...9000, using: &generator)
            let offset = UInt64.random(in: 0...UInt64(bytes.count - count), using: &generator)
            // Some read the buffer's capacity, some a count that leaves room.
            let buffer = IOBuffer(capacity: count + (index % 3 == 0 ? 100 : 0))
            return BatchRead(from: fd, at: offset, into: buffer, count: index % 3 == 0 ? count : nil)
        }
        let outcomes = try await handle.read(batch: reads)
        #expect(outcomes.count == reads.count)
        for (index, (read, outcome)) in zip(reads, outcomes).enumerated() {
            let buffer = try outcome.get()
            #expect(buffer === read.buffer, "element \(index)")
            let count = read.count ?? read.buffer.capacity
            #expect(buffer.count == count, "element \(index)")
            let start = Int(read.offset)
            #expect(firstDifference(buffer.bytes, bytes[start..<(start + count)]) == nil, "element \(index)")
        }
        #expect(try await handle.read(batch: []).isEmpty)
        await handle.shutdown()
    }

    @Test func oneElementsFailureLeavesTheOthersTheirData() async throws {
        let (fd, bytes) = try Self.patternFile(8192)
        defer { close(fd) }
        let directory = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(directory >= 0)
        defer { close(directory) }
        let handle = try IOLoop.start()
        let outcomes = try await handle.read(batch: [
            BatchRead(from: fd, at: 0, into: IOBuffer(capacity: 100)),
            BatchRead(from: fd, at: 8000, into: IOBuffer(capacity: 500)),      // past the end
            BatchRead(from: -1, at: 0, into: IOBuffer(capacity: 10)),          // no such descriptor
            BatchRead(from: directory, at: 0, into: IOBuffer(capacity: 10)),   // a directory has no bytes to read
            BatchRead(from: fd, at: 4096, into: IOBuffer(capacity: 4096)),
        ])
        #expect(try outcomes[0].get().bytes == Array(bytes[0..<100]))
        #expect(try outcomes[4].get().bytes == Array(bytes[4096..<8192]))
        for (index, expected) in [(1, IOError.Reason.endOfFile), (2, .errno(EBADF)), (3, .errno(EISDIR))] {
            guard case .failure(let error) = outcomes[index], let error = error as? IOError else {
                Issue.record("element \(index): \(outcomes[index])")
                continue
            }
            #expect(error.reason == expected, "element \(index): \(error)")
        }
        await handle.shutdown()
    }

    @Test(arguments: [false, true]) func aBadElementIsRefusedBeforeAnyRead(cacheFirst: Bool) async throws {
        let (fd, _) = try Self.patternFile(4096)
        defer { close(fd) }
        let handle = try IOLoop.start()
        let first = IOBuffer(capacity: 10)
        do {
            _ = try await handle.read(batch: [
                BatchRead(from: fd, at: 0, into: first),
                BatchRead(from: fd, at: 0, into: IOBuffer(capacity: 10), count: 11),
            ], cacheFirst: cacheFirst)
            Issue.record("a count larger than its buffer was accepted")
        } catch let error as IOError {
            guard case .invalidArgument = error.reason else { throw error }
            #expect(error.context?.contains("read 1 of the batch of 2") == true, "\(error)")
        }
        do {
            _ = try await handle.read(batch: [BatchRead(from: fd, at: UInt64(Int64.max), into: IOBuffer(capacity: 10))],
                                      cacheFirst: cacheFirst)
            Issue.record("a read past the largest offset was accepted")
        } catch let error as IOError {
            guard case .invalidArgument = error.reason else { throw error }
        }
        await handle.shutdown()
        // Nothing was submitted: the first element's buffer was never read into.
        #expect(first.count == 0)
        #expect(handle.statistics.requestsCompleted == 0)
        #expect(handle.statistics.readsFromCache == 0)
    }

    @Test func aBatchLargerThanTheRequestCapacityWaitsForRoom() async throws {
        let (fd, bytes) = try Self.patternFile(64 * 1024)
        defer { close(fd) }
        let handle = try smallLoop(size: 8)
        let reads = (0..<300).map { BatchRead(from: fd, at: UInt64($0 * 200), into: IOBuffer(capacity: 64)) }
        let outcomes = try await within(300, "a batch of 300 on a loop holding 8") { try await handle.read(batch: reads) }
        for (index, outcome) in outcomes.enumerated() {
            #expect(try outcome.get().bytes == Array(bytes[(index * 200)..<(index * 200 + 64)]), "element \(index)")
        }
        await handle.shutdown()
        #expect(handle.statistics.requestsCompleted == 300)
    }

    @Test func aBatchFromTheLoopThreadIsStagedThereDirectly() async throws {
        let (fd, bytes) = try Self.patternFile(4096)
        defer { close(fd) }
        let handle = try IOLoop.start()
        let outcomes = try await handle.run {
            try await handle.read(batch: (0..<16).map { BatchRead(from: fd, at: UInt64($0 * 256), into: IOBuffer(capacity: 256)) })
        }
        for (index, outcome) in outcomes.enumerated() {
            #expect(try outcome.get().bytes == Array(bytes[(index * 256)..<((index + 1) * 256)]))
        }
        await handle.shutdown()
        #expect(handle.statistics.directSubmissions >= 16)
    }

    @Test func afterShutdownEveryElementFailsWithShutdown() async throws {
        let (fd, _) = try Self.patternFile(4096)
        defer { close(fd) }
        let handle = try IOLoop.start()
        await handle.shutdown()
        let outcomes = try await handle.read(batch: (0..<4).map { _ in BatchRead(from: fd, at: 0, into: IOBuffer(capacity: 8)) })
        for outcome in outcomes {
            guard case .failure(let error) = outcome, let error = error as? IOError else {
                Issue.record("\(outcome)")
                continue
            }
            #expect(error.reason == .shutdown)
        }
    }

    @Test func aTaskCancelledBeforeTheCallReadsNothing() async throws {
        let (fd, _) = try Self.patternFile(4096)
        defer { close(fd) }
        let handle = try IOLoop.start()
        let buffer = IOBuffer(capacity: 8)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await handle.read(batch: [BatchRead(from: fd, at: 0, into: buffer)])
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        await handle.shutdown()
        #expect(buffer.count == 0)
    }

    /// Many tasks submit batches while the loop shuts down: every call
    /// returns (a second resume would trap, a lost one hang), every element
    /// either read the right bytes or failed with `.shutdown`.
    @Test func batchesRacingAShutdownEachEndOnce() async throws {
        let (fd, bytes) = try Self.patternFile(256 * 1024)
        defer { close(fd) }
        for round in 0..<(underThreadSanitizer ? 3 : 10) {
            let handle = try smallLoop(size: 16)
            let (read, refused) = try await within(300, "batches racing a shutdown, round \(round)") {
                try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                    for task in 0..<8 {
                        group.addTask {
                            var (read, refused) = (0, 0)
                            var generator = SeededGenerator(seed: UInt64(round * 100 + task))
                            for _ in 0..<(underThreadSanitizer ? 6 : 20) {
                                let reads = (0..<Int.random(in: 1...40, using: &generator)).map { _ in
                                    BatchRead(from: fd, at: UInt64.random(in: 0...UInt64(bytes.count - 512), using: &generator),
                                              into: IOBuffer(capacity: 512))
                                }
                                for (element, outcome) in zip(reads, try await handle.read(batch: reads)) {
                                    switch outcome {
                                    case .success(let buffer):
                                        let start = Int(element.offset)
                                        #expect(firstDifference(buffer.bytes, bytes[start..<(start + 512)]) == nil)
                                        read += 1
                                    case .failure(let error):
                                        #expect((error as? IOError)?.reason == .shutdown, "\(error)")
                                        refused += 1
                                    }
                                }
                            }
                            return (read, refused)
                        }
                    }
                    group.addTask {
                        await Task.yield()
                        await handle.shutdown()
                        return (0, 0)
                    }
                    return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
                }
            }
            #expect(read + refused > 0)
            #expect(handle.statistics.requestsCompleted == UInt64(read), "round \(round)")
        }
    }
}
