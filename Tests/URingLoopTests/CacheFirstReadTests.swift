// Reads that first copy what the page cache holds on the caller's thread
// (`Handle.read`'s `cacheFirst`): a cached read never reaches the ring, a
// partly cached one continues there where the copy ended, and everything the
// cache cannot answer (the end of the file, a bad descriptor, a shut-down
// loop, a cancelled task) gets the same answer the ring path gives, also
// while a shutdown races the readers.
import Glibc
import Testing
import URing
@testable import URingLoop
import URingTestSupport

@Suite struct CacheFirstReadTests {
    static let page = 4096

    @Test func aReadTheCacheHoldsNeverReachesTheRing() async throws {
        let (fd, bytes) = try BatchReadTests.patternFile(64 << 10)
        defer { close(fd) }
        let handle = try IOLoop.start()
        let cached = try await handle.read(from: fd, at: 1234, into: IOBuffer(capacity: 10_000), cacheFirst: true)
        #expect(cached.count == 10_000)
        #expect(firstDifference(cached.bytes, bytes[1234..<11_234]) == nil)
        #expect(handle.statistics.readsFromCache == 1)
        // The same read without it goes through the ring.
        let throughTheRing = try await handle.read(from: fd, at: 1234, into: IOBuffer(capacity: 10_000))
        #expect(throughTheRing.bytes == cached.bytes)
        await handle.shutdown()
        #expect(handle.statistics.readsFromCache == 1)
        #expect(handle.statistics.requestsCompleted == 1)
    }

    @Test func aReadPastTheEndContinuesInTheRingAndReportsWhatItGot() async throws {
        let (fd, _) = try BatchReadTests.patternFile(100)
        defer { close(fd) }
        let handle = try IOLoop.start()
        do {
            _ = try await handle.read(from: fd, at: 0, into: IOBuffer(capacity: 200), cacheFirst: true)
            Issue.record("a read past the end succeeded")
        } catch let error as IOError {
            #expect(error.reason == .endOfFile)
            // The ring's request began after the 100 bytes the cache gave.
            #expect(error.context?.contains("100 of 200 bytes") == true, "\(error)")
        }
        await handle.shutdown()
        #expect(handle.statistics.readsFromCache == 0)
        #expect(handle.statistics.requestsCompleted == 1)
    }

    @Test func aPartlyCachedReadFetchesTheRestThroughTheRing() async throws {
        let (fd, bytes) = try BatchReadTests.patternFile(4 * Self.page)
        defer { close(fd) }
        try #require(fdatasync(fd) == 0)
        // No readahead to bring the other pages back with the first.
        try #require(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM) == 0)
        // The copy's refusal at the first page not cached starts the read
        // of that page, and on a fast device it can finish inside the same
        // call, which then copies it too: a correct answer, from the cache
        // alone. So each attempt must read right either way, and at least
        // one must have finished through the ring.
        var finishedInTheRing = 0
        for attempt in 0..<100 where finishedInTheRing == 0 {
            try #require(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
            try #require(Self.residentPages(fd, count: 4) == [false, false, false, false],
                         "the file system kept the pages cached (tmpfs?): /tmp must be a disk-backed file system")
            // Only the first page back in.
            var first = [UInt8](repeating: 0, count: Self.page)
            try #require(pread(fd, &first, Self.page, 0) == Self.page)
            try #require(Self.residentPages(fd, count: 4) == [true, false, false, false])

            let handle = try IOLoop.start()
            let read = try await handle.read(from: fd, at: 100, into: IOBuffer(capacity: 3 * Self.page), cacheFirst: true)
            #expect(read.count == 3 * Self.page, "attempt \(attempt)")
            #expect(firstDifference(read.bytes, bytes[100..<(100 + 3 * Self.page)]) == nil, "attempt \(attempt)")
            await handle.shutdown()
            let statistics = handle.statistics
            #expect(statistics.readsFromCache + statistics.requestsCompleted == 1, "attempt \(attempt): \(statistics)")
            finishedInTheRing += Int(statistics.requestsCompleted)
        }
        #expect(finishedInTheRing == 1, "100 attempts, and the device always answered within the copy's own call")
    }

    @Test func whatTheCacheCannotAnswerGetsTheRingsAnswer() async throws {
        let handle = try IOLoop.start()
        // No such descriptor (a number past any descriptor limit: a closed
        // one could be reused by a test running beside this one).
        await expectIOError(.errno(EBADF)) {
            _ = try await handle.read(from: 1 << 28, at: 0, into: IOBuffer(capacity: 10), cacheFirst: true)
        }
        // A pipe has no offsets: preadv2 refuses it (ESPIPE), while the
        // ring reads a stream where it stands, whatever the offset.
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        try #require(write(ends[1], "x", 1) == 1)
        let fromThePipe = try await handle.read(from: ends[0], at: 0, into: IOBuffer(capacity: 1), cacheFirst: true)
        #expect(fromThePipe.bytes == Array("x".utf8))
        await handle.shutdown()
        #expect(handle.statistics.readsFromCache == 0)
    }

    @Test func aCancelledTaskAndAShutDownLoopAreRefusedAsByTheRing() async throws {
        let (fd, _) = try BatchReadTests.patternFile(8192)
        defer { close(fd) }
        let handle = try IOLoop.start()
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await handle.read(from: fd, at: 0, into: IOBuffer(capacity: 10), cancellable: false, cacheFirst: true)
        }
        let outcome = await cancelled.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        await handle.shutdown()
        await expectIOError(.shutdown) {
            _ = try await handle.read(from: fd, at: 0, into: IOBuffer(capacity: 10), cacheFirst: true)
        }
        #expect(handle.statistics.readsFromCache == 0)
    }

    @Test func aBatchTheCacheHoldsReturnsWithoutTheRing() async throws {
        let (fd, bytes) = try BatchReadTests.patternFile(64 << 10)
        defer { close(fd) }
        let handle = try IOLoop.start()
        let reads = (0..<50).map { BatchRead(from: fd, at: UInt64($0 * 1000), into: IOBuffer(capacity: 900)) }
        // One element past the end: it alone goes to the ring, and fails.
        let pastTheEnd = BatchRead(from: fd, at: UInt64(bytes.count - 10), into: IOBuffer(capacity: 20))
        let outcomes = try await handle.read(batch: reads + [pastTheEnd], cacheFirst: true)
        for (index, outcome) in outcomes.prefix(50).enumerated() {
            #expect(try outcome.get().bytes == Array(bytes[(index * 1000)..<(index * 1000 + 900)]), "element \(index)")
        }
        #expect(throws: IOError.self) { try outcomes[50].get() }
        await handle.shutdown()
        #expect(handle.statistics.readsFromCache == 50)
        #expect(handle.statistics.requestsCompleted == 1)
    }

    @Test func aTaskOnTheLoopReadsFromTheCacheToo() async throws {
        let (fd, bytes) = try BatchReadTests.patternFile(8192)
        defer { close(fd) }
        let handle = try IOLoop.start()
        let read = try await handle.run {
            try await handle.read(from: fd, at: 4000, into: IOBuffer(capacity: 4000), cacheFirst: true)
        }
        #expect(read.bytes == Array(bytes[4000..<8000]))
        await handle.shutdown()
        #expect(handle.statistics.readsFromCache == 1)
        #expect(handle.statistics.directSubmissions == 0)
    }

    @Test func cachedReadsRacingAShutdownEachEndOnce() async throws {
        let (fd, bytes) = try BatchReadTests.patternFile(256 * 1024)
        defer { close(fd) }
        for round in 0..<(underThreadSanitizer ? 3 : 10) {
            let handle = try smallLoop(size: 16)
            // Per task: reads answered (from the cache or the ring), reads
            // that ran into the end of the file (always in the ring, after
            // the cache gave the bytes up to it), and reads refused.
            let (answered, ended, refused) = try await within(300, "cached reads racing a shutdown, round \(round)") {
                try await withThrowingTaskGroup(of: (Int, Int, Int).self) { group in
                    for task in 0..<8 {
                        group.addTask {
                            var (answered, ended, refused) = (0, 0, 0)
                            var generator = SeededGenerator(seed: UInt64(round * 100 + task))
                            for index in 0..<(underThreadSanitizer ? 60 : 300) {
                                let offset = index % 8 == 7
                                    ? UInt64(bytes.count - 100)
                                    : UInt64.random(in: 0...UInt64(bytes.count - 512), using: &generator)
                                do {
                                    let buffer = try await handle.read(from: fd, at: offset, into: IOBuffer(capacity: 512),
                                                                       cancellable: false, cacheFirst: true)
                                    let start = Int(offset)
                                    #expect(firstDifference(buffer.bytes, bytes[start..<(start + 512)]) == nil)
                                    answered += 1
                                } catch let error as IOError where error.reason == .endOfFile {
                                    #expect(error.context?.contains("100 of 512 bytes") == true, "\(error)")
                                    ended += 1
                                } catch {
                                    #expect((error as? IOError)?.reason == .shutdown, "\(error)")
                                    refused += 1
                                }
                            }
                            return (answered, ended, refused)
                        }
                    }
                    group.addTask {
                        // Later each round, so that some rounds end before
                        // any read and some in the middle of them.
                        try await Task.sleep(for: .microseconds(300 * round))
                        await handle.shutdown()
                        return (0, 0, 0)
                    }
                    return try await group.reduce((0, 0, 0)) { ($0.0 + $1.0, $0.1 + $1.1, $0.2 + $1.2) }
                }
            }
            #expect(answered + ended + refused == 8 * (underThreadSanitizer ? 60 : 300))
            // Every answer came from exactly one place; refused reads reached neither.
            let statistics = handle.statistics
            #expect(statistics.readsFromCache + statistics.requestsCompleted == UInt64(answered + ended), "round \(round)")
        }
    }

    /// Which of the file's first `count` pages the page cache holds (mincore
    /// over a mapping of them).
    static func residentPages(_ fd: Int32, count: Int) throws -> [Bool] {
        let mapping = try #require(mmap(nil, count * page, PROT_READ, MAP_SHARED, fd, 0))
        try #require(mapping != MAP_FAILED)
        defer { munmap(mapping, count * page) }
        var vector = [UInt8](repeating: 0, count: count)
        try #require(mincore(mapping, count * page, &vector) == 0)
        return vector.map { $0 & 1 != 0 }
    }
}
