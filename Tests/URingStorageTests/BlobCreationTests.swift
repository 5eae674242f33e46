// What makes a new blob durable, counted in fsyncs through the ring: the
// blob's file, its entry in the partition, and the partition's entry in the
// root, which an open that failed or was cancelled after making the
// partition may have left unsynced; and a cancel while a blob is being made,
// which must not leave it half made.
import Glibc
import Synchronization
import Testing
import URing
import URingLoop
@testable import URingStorage
import URingTestSupport

@Suite struct BlobCreationTests {
    @Test func theFirstBlobCreatedInAPartitionSyncsThePartitionsEntryWhoeverMadeIt() async throws {
        let root = try temporaryDirectory("uring-storage-test")
        defer { removeTree(root) }
        // As an open interrupted after its mkdir leaves it: the directory,
        // with no fsync of the root.
        try #require(mkdir(root + "/left", 0o755) == 0)
        let fsyncs = FsyncCounter()
        let storage = try Storage(directory: root, faults: fsyncs.plan)
        func creating(_ partition: String, _ name: UInt8) async throws -> Int {
            let before = fsyncs.count
            _ = try await storage.open(partition: partition, name: [name])
            return fsyncs.count - before
        }
        #expect(try await creating("left", 1) == 3, "the file, the partition, and the root")
        #expect(try await creating("left", 2) == 2, "the root was synced for this partition already")
        #expect(try await creating("left", 1) == 0, "an existing blob")
        #expect(try await creating("new", 1) == 3)
        #expect(try await creating("new", 2) == 2)
        try await storage.remove(partition: "new")
        #expect(try await creating("new", 3) == 3, "made again, the partition's entry is new again")
        await storage.shutdown()
    }

    @Test func aCancelWhileABlobIsBeingMadeDoesNotLeaveItHalfMade() async throws {
        let root = try temporaryDirectory("uring-storage-test")
        defer { removeTree(root) }
        // The opener is cancelled the moment the kernel has created its
        // file: the header and the fsyncs are still to come.
        let opener = Locked<Task<Blob, any Error>?>(nil)
        let cancelled = Atomic<Bool>(false)
        let fsyncs = FsyncCounter()
        let storage = try Storage(directory: root, faults: FaultPlan(completion: { operation, result in
            if operation == "open" && result >= 0 && !cancelled.exchange(true, ordering: .relaxed) {
                opener.withLock { $0 }?.cancel()
            }
            return fsyncs.plan.completion(operation, result)
        }))
        let go = Latch()
        let task = Task {
            await go.wait()
            return try await storage.open(partition: "p", name: [1]).blob
        }
        opener.withLock { $0 = task }
        go.open()
        // Made whole, it is returned; the caller's cancel may also win.
        _ = try? await task.value
        await storage.shutdown()
        let sawTheOpen = cancelled.load(ordering: .relaxed)
        #expect(sawTheOpen, "the plan never saw the creating open")
        var info = stat()
        try #require(stat(root + "/p/01", &info) == 0)
        #expect(info.st_size == 8, "the blob's header")
        #expect(fsyncs.count == 3, "the file, the partition, and the root")
        let reopened = try Storage(directory: root)
        let (_, length, version) = try await reopened.open(partition: "p", name: [1])
        #expect(length == 0 && version == 0)
        await reopened.shutdown()
    }
}

/// Counts the fsyncs a storage's loop completes, through a fault plan that
/// changes nothing.
final class FsyncCounter: Sendable {
    private let fsyncs = Atomic<Int>(0)
    var count: Int { fsyncs.load(ordering: .relaxed) }
    var plan: FaultPlan {
        FaultPlan(completion: { [fsyncs = self] operation, result in
            if operation == "fsync" && result == 0 { fsyncs.fsyncs.wrappingAdd(1, ordering: .relaxed) }
            return result
        })
    }
}
