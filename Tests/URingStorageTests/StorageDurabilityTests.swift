// What makes a blob's creation and removal durable, counted in fsyncs
// through the ring: the blob's file, its entry in the partition, and the
// partition's entry in the root, which an open that failed or was cancelled
// after making the partition may have left unsynced; and cancels that land
// between an entry's change and its sync, which must not leave it unsynced.
import Glibc
import Synchronization
import Testing
import URing
import URingLoop
@testable import URingStorage
import URingTestSupport

@Suite struct StorageDurabilityTests {
    @Test func theFirstBlobCreatedInAPartitionSyncsThePartitionsEntryWhoeverMadeIt() async throws {
        let root = try temporaryDirectory("uring-storage-test")
        defer { removeTree(root) }
        // As an open interrupted after its mkdir leaves it: the directory,
        // with no fsync of the root.
        try #require(mkdir(root + "/left", 0o755) == 0)
        let probe = LoopProbe()
        let storage = try Storage(directory: root, faults: probe.plan)
        func creating(_ partition: String, _ name: UInt8) async throws -> Int {
            let before = probe.fsyncs
            _ = try await storage.open(partition: partition, name: [name])
            return probe.fsyncs - before
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
        let probe = LoopProbe()
        let storage = try Storage(directory: root, faults: probe.plan)
        // Cancelled the moment the kernel has created the file, with the
        // header and the fsyncs still to come. Made whole, the blob is
        // returned; the caller's cancel may also win.
        let cancelled = await probe.cancelling(at: "open") { _ = try await storage.open(partition: "p", name: [1]) }
        await storage.shutdown()
        #expect(cancelled, "the plan never saw the creating open")
        var info = stat()
        try #require(stat(root + "/p/01", &info) == 0)
        #expect(info.st_size == 8, "the blob's header")
        #expect(probe.fsyncs == 3, "the file, the partition, and the root")
        let reopened = try Storage(directory: root)
        let (_, length, version) = try await reopened.open(partition: "p", name: [1])
        #expect(length == 0 && version == 0)
        await reopened.shutdown()
    }

    @Test func theEntriesAreSyncedBeforeTheHeaderIsWritten() async throws {
        let root = try temporaryDirectory("uring-storage-test")
        defer { removeTree(root) }
        // A torn blob too: its making empties it first, in the same order.
        try #require(mkdir(root + "/p", 0o755) == 0)
        let torn = open(root + "/p/02", O_WRONLY | O_CREAT, 0o644)
        try #require(torn >= 0)
        try #require(write(torn, "abc", 3) == 3)
        close(torn)
        let probe = LoopProbe()
        let storage = try Storage(directory: root, faults: probe.plan)
        // So a process that dies while making a blob leaves either no
        // header (the next open makes it again) or durable entries.
        for (name, entries) in [(UInt8(1), 2), (2, 1)] {
            probe.clearLog()
            _ = try await storage.open(partition: "p", name: [name])
            let steps = probe.log.filter { $0 == "fsync" || $0 == "write" }
            #expect(steps == Array(repeating: "fsync", count: entries) + ["write", "fsync"],
                    "blob \(name): the entries, then the header and the file")
        }
        let (_, length, _) = try await storage.open(partition: "p", name: [2])
        #expect(length == 0, "the torn bytes are gone")
        await storage.shutdown()
    }

    /// Which of a new blob's three fsyncs fails, in the order they come.
    enum FailedSync: Int, CaseIterable, Sendable {
        case partitionEntry = 1, rootEntry, header

        /// Whether an error's `context` names where this fsync failed, in a
        /// store at `root`.
        func isNamed(by context: String, root: String) -> Bool {
            switch self {
            case .partitionEntry: context == root + "/p"
            case .rootEntry: context == root
            case .header: context.hasPrefix("p/01: fd ")
            }
        }

        /// fsyncs the next open makes: the root's entry was synced already
        /// if the header's failed.
        var syncsOfTheNextOpen: Int { self == .header ? 2 : 3 }
    }

    @Test(arguments: FailedSync.allCases)
    func aBlobWhoseMakingFailedIsMadeAgainByTheNextOpen(failing: FailedSync) async throws {
        let root = try temporaryDirectory("uring-storage-test")
        defer { removeTree(root) }
        // One fsync fails once, as a directory that cannot be opened
        // (EMFILE) or a disk that fails (EIO) would.
        let probe = LoopProbe()
        let failures = Atomic<Int>(0)
        let plan = probe.plan
        let storage = try Storage(directory: root, faults: FaultPlan(completion: { operation, result in
            if operation == "fsync" && result == 0 && failures.wrappingAdd(1, ordering: .relaxed).newValue == failing.rawValue {
                return -EIO
            }
            return plan.completion(operation, result)
        }))
        do {
            _ = try await storage.open(partition: "p", name: [1])
            Issue.record("the open succeeded though its fsync failed")
        } catch let error as IOError {
            #expect(error.errno == EIO)
            let context = error.context ?? ""
            #expect(failing.isNamed(by: context, root: root), "the error names \(context)")
        }
        var info = stat()
        try #require(stat(root + "/p/01", &info) == 0)
        #expect(info.st_size == 0, "no header that nothing synced: never written, or emptied again")
        let before = probe.fsyncs
        let (_, length, _) = try await storage.open(partition: "p", name: [1])
        #expect(length == 0)
        #expect(probe.fsyncs - before == failing.syncsOfTheNextOpen)
        await storage.shutdown()
    }

    @Test func aWriteThenSyncSyncsAfterItsWrite() async throws {
        // (That the single write and its sync are one request, one trip to
        // the loop, is `WriteThenSyncTests`' to show.)
        let root = try temporaryDirectory("uring-storage-test")
        defer { removeTree(root) }
        let probe = LoopProbe()
        let storage = try Storage(directory: root, faults: probe.plan)
        let (blob, _, _) = try await storage.open(partition: "p", name: [1])
        try await blob.write([1], at: 0)
        probe.clearLog()
        try await blob.write([2, 3], at: 1, options: .writeThenSync)
        try await blob.write(batch: [(3, [IOBuffer(bytes: [4])])], options: .writeThenSync)
        #expect(probe.log == ["write", "fdatasync", "write", "fdatasync"])
        await storage.shutdown()
        let reopened = try Storage(directory: root)
        #expect(try await reopened.open(partition: "p", name: [1]).blob.read(at: 0, count: 4) == [1, 2, 3, 4])
        await reopened.shutdown()
    }

    @Test func aRenameSyncsTheBlobThenThePartitionAndACancelAfterItStillSyncs() async throws {
        let root = try temporaryDirectory("uring-storage-test")
        defer { removeTree(root) }
        let probe = LoopProbe()
        let storage = try Storage(directory: root, faults: probe.plan)
        let (blob, _, _) = try await storage.open(partition: "p", name: [1])
        try await blob.write([1, 2, 3], at: 0)
        _ = try await storage.open(partition: "p", name: [2])
        probe.clearLog()
        // The bytes reach the disk before the name does, and the name
        // before the call returns.
        try await storage.rename(partition: "p", from: [1], to: [2])
        #expect(probe.log.filter { $0 == "fsync" || $0 == "rename" } == ["fsync", "rename", "fsync"])

        // Cancelled the moment the rename is made: still synced, and done.
        let before = probe.fsyncs
        let cancelled = await probe.cancelling(at: "rename") { try await storage.rename(partition: "p", from: [2], to: [3]) }
        #expect(cancelled, "the plan never saw the rename")
        #expect(probe.fsyncs - before == 2, "the blob's and the partition's")
        #expect(try await storage.scan(partition: "p").blobs == [[3]])

        // To a partition that does not exist yet: made, its entry synced,
        // then the rename and both directories.
        probe.clearLog()
        try await storage.rename(partition: "p", from: [3], to: [3], toPartition: "q")
        #expect(probe.log.filter { ["fsync", "rename", "mkdir"].contains($0) } == ["fsync", "mkdir", "fsync", "rename", "fsync", "fsync"])
        #expect(try await storage.scan(partition: "q").blobs == [[3]])
        await storage.shutdown()
    }

    @Test func aCancelAfterTheUnlinkStillSyncsTheRemoval() async throws {
        let root = try temporaryDirectory("uring-storage-test")
        defer { removeTree(root) }
        let probe = LoopProbe()
        let storage = try Storage(directory: root, faults: probe.plan)
        _ = try await storage.open(partition: "p", name: [1])
        _ = try await storage.open(partition: "p", name: [2])
        let before = probe.fsyncs
        let cancelled = await probe.cancelling(at: "unlink") { try await storage.remove(partition: "p", name: [1]) }
        #expect(cancelled, "the plan never saw the unlink")
        #expect(probe.fsyncs - before == 1, "the partition's")
        await #expect(throws: IOError("remove", .notFound, context: "p/01")) { try await storage.remove(partition: "p", name: [1]) }

        // A partition: the cancel lands between its directory's removal and
        // the root's sync.
        let beforePartition = probe.fsyncs
        let partitionCancelled = await probe.cancelling(at: "rmdir") { try await storage.remove(partition: "p") }
        #expect(partitionCancelled, "the plan never saw the rmdir")
        #expect(probe.fsyncs - beforePartition == 1, "the root's")
        #expect(!FileSystem.isDirectory(root + "/p"))
        await storage.shutdown()
    }
}

/// Watches a loop through a fault plan that changes nothing: counts its
/// fsyncs, and runs an action once, at the first success of an operation.
final class LoopProbe: Sendable {
    private let fsyncCount = Atomic<Int>(0)
    /// The operations that succeeded, in the order the loop completed them.
    private let operations = Locked<[String]>([])
    private let trigger = Locked<(operation: String, action: @Sendable () -> Void)?>(nil)
    private let fired = Atomic<Bool>(false)

    var fsyncs: Int { fsyncCount.load(ordering: .relaxed) }

    var log: [String] { operations.withLock { $0 } }

    func clearLog() { operations.withLock { $0 = [] } }

    var plan: FaultPlan {
        FaultPlan(completion: { [self] operation, result in
            guard result >= 0 else { return result }
            if operation == "fsync" { fsyncCount.wrappingAdd(1, ordering: .relaxed) }
            operations.withLock { $0.append(operation) }
            let action = trigger.withLock { armed -> (@Sendable () -> Void)? in
                guard let current = armed, current.operation == operation else { return nil }
                armed = nil
                return current.action
            }
            if let action {
                action()
                fired.store(true, ordering: .relaxed)
            }
            return result
        })
    }

    /// Runs `body` in a task that is cancelled the moment the loop
    /// completes its first `operation`; returns once the task has ended,
    /// whether the cancel came.
    func cancelling(at operation: String, _ body: @escaping @Sendable () async throws -> Void) async -> Bool {
        fired.store(false, ordering: .relaxed)
        let go = Latch()
        let task = Task {
            await go.wait()
            try await body()
        }
        trigger.withLock { $0 = (operation, { task.cancel() }) }
        go.open()
        _ = await task.result
        trigger.withLock { $0 = nil }
        return fired.load(ordering: .relaxed)
    }
}
