// Handle.write(thenSync: true): the loop follows the write with fdatasync
// itself. A fault plan records each step the kernel completed (and may
// change its result), so the tests see the order of the steps, and the
// loop's statistics how many requests the caller made.
import CURing
import Glibc
import Testing
import URingTestSupport
import URing
@testable import URingLoop

/// The steps whose completions a loop handled (failed ones too), in order;
/// `change` may alter a result.
private final class StepLog: Sendable {
    private let steps = Locked<[String]>([])
    private let change: @Sendable (String, Int32) -> Int32

    init(change: @escaping @Sendable (String, Int32) -> Int32 = { $1 }) { self.change = change }

    var log: [String] { steps.withLock { $0 } }

    func loop() throws -> Handle {
        try IOLoop.start(LoopConfiguration(), faults: FaultPlan(completion: { [self] operation, result in
            steps.withLock { $0.append(operation) }
            return change(operation, result)
        }))
    }
}

@Suite struct WriteThenSyncTests {
    @Test func theSyncFollowsTheWriteInOneRequest() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let steps = StepLog()
        let handle = try steps.loop()
        try await handle.write(Array("commit".utf8), to: fd, at: 0, thenSync: true)
        #expect(steps.log == ["write", "fdatasync"])
        #expect(try await handle.read(from: fd, at: 0, count: 6) == Array("commit".utf8))
        // Vectored too; and an empty write still syncs.
        try await handle.write([IOBuffer(bytes: [1, 2]), IOBuffer(bytes: [3])], to: fd, at: 6, thenSync: true)
        try await handle.write([UInt8](), to: fd, at: 0, thenSync: true)
        try await handle.write([IOBuffer](), to: fd, at: 0, thenSync: true)
        // Without it, nothing syncs.
        try await handle.write([9], to: fd, at: 9)
        try await handle.write([UInt8](), to: fd, at: 0)
        #expect(steps.log == ["write", "fdatasync", "read", "write", "fdatasync", "fdatasync", "fdatasync", "write"])
        await handle.shutdown()
        // One request per write: the read, five writes that reached the loop.
        #expect(handle.statistics.requestsCompleted == 6)
    }

    @Test func aShortWriteIsFinishedBeforeTheSync() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        // The first write moves 5 of its 16 bytes (the rest is written by
        // the next, at the advanced offset), and the first sync is
        // interrupted (retried).
        let writes = Locked(0)
        let syncs = Locked(0)
        let steps = StepLog { operation, result in
            if operation == "write", writes.withLock({ $0 += 1; return $0 }) == 1 { return 5 }
            if operation == "fdatasync", syncs.withLock({ $0 += 1; return $0 }) == 1 { return -EINTR }
            return result
        }
        let handle = try steps.loop()
        let bytes = (0..<16).map { UInt8($0) }
        try await handle.write(bytes, to: fd, at: 0, thenSync: true)
        #expect(steps.log == ["write", "write", "fdatasync", "fdatasync"])
        #expect(try await handle.read(from: fd, at: 0, count: 16) == bytes)
        await handle.shutdown()
        #expect(handle.statistics.pendingRequests == 0)
    }

    @Test func aFailedSyncIsTheSyncsErrorAfterTheBytesWereWritten() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let steps = StepLog { operation, result in operation == "fdatasync" ? -EIO : result }
        let handle = try steps.loop()
        do {
            try await handle.write([7, 7], to: fd, at: 0, thenSync: true)
            Issue.record("a failed sync reported success")
        } catch let error as IOError {
            #expect(error.reason == .errno(EIO) && error.description.hasPrefix("fdatasync failed"), "\(error)")
        }
        #expect(try await handle.read(from: fd, at: 0, count: 2) == [7, 7])
        // A failed write is the write's error, and nothing syncs after it.
        await expectIOError(.errno(EBADF)) { try await handle.write([1], to: -1, at: 0, thenSync: true) }
        #expect(steps.log == ["write", "fdatasync", "read", "write"])
        await handle.shutdown()
        #expect(handle.statistics.pendingRequests == 0)
    }

    @Test func aBatchIsSyncedByTheLoopOnceEveryWriteSucceeded() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let steps = StepLog()
        let handle = try steps.loop()
        let batch = (0..<3).map { BatchWrite(IOBuffer(bytes: [UInt8($0 + 1)]), to: fd, at: UInt64($0)) }
        let outcomes = try await handle.write(batch: batch, thenSync: true)
        #expect(outcomes.allSatisfy { if case .success = $0 { true } else { false } })
        #expect(steps.log == ["write", "write", "write", "fdatasync"])
        #expect(try await handle.read(from: fd, at: 0, count: 3) == [1, 2, 3])
        // A batch with nothing to write still syncs; one for two
        // descriptors is refused before anything is written.
        _ = try await handle.write(batch: [BatchWrite(IOBuffer(capacity: 4), to: fd, at: 0)], thenSync: true)
        let other = try temporaryFile()
        defer { close(other) }
        await expectIOError(.invalidArgument("a batch that syncs must write to one descriptor")) {
            _ = try await handle.write(batch: [BatchWrite(IOBuffer(bytes: [9]), to: fd, at: 0),
                                               BatchWrite(IOBuffer(bytes: [9]), to: other, at: 0)], thenSync: true)
        }
        #expect(steps.log == ["write", "write", "write", "fdatasync", "read", "fdatasync"])
        await handle.shutdown()
        // The batch's sync came from the loop thread itself; the empty
        // batch's went through the channel, as any call's does.
        #expect(handle.statistics.directSubmissions == 1)
    }

    @Test func aBatchWithAFailedWriteIsNotSyncedAndAFailedSyncIsThrown() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let writes = Locked(0)
        let steps = StepLog { operation, result in
            if operation == "write", writes.withLock({ $0 += 1; return $0 }) == 2 { return -EIO }
            return operation == "fdatasync" ? -ENOSPC : result
        }
        let handle = try steps.loop()
        let batch = (0..<3).map { BatchWrite(IOBuffer(bytes: [7]), to: fd, at: UInt64($0)) }
        let outcomes = try await handle.write(batch: batch, thenSync: true)
        #expect(outcomes.filter { if case .failure = $0 { true } else { false } }.count == 1)
        #expect(steps.log == ["write", "write", "write"], "no sync after a failed write")
        do {
            _ = try await handle.write(batch: batch, thenSync: true)
            Issue.record("a failed sync reported success")
        } catch let error as IOError {
            #expect(error.reason == .errno(ENOSPC) && error.description.hasPrefix("fdatasync failed"), "\(error)")
        }
        #expect(steps.log.suffix(4) == ["write", "write", "write", "fdatasync"])
        // A loop that is shut down writes nothing and syncs nothing.
        await handle.shutdown()
        let refused = try await handle.write(batch: batch, thenSync: true)
        #expect(refused.allSatisfy { if case .failure = $0 { true } else { false } })
        #expect(steps.log.count == 7)
        #expect(handle.statistics.pendingRequests == 0)
    }
}
