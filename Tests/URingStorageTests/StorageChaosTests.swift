// Storage under fire, drawn from a seed: workers write and read their own
// slots of shared blobs (single and batched, every durability, some reads
// with deadlines), sync them, reserve space past them or discard them
// (punching a hole), and churn other partitions (opening, writing and reading
// back through the same blob, removing blobs and partitions, renaming,
// scanning) while their operations are cancelled at random moments and the
// storage (or the group it runs on, half the workers on its loops) shuts
// down. Whatever the interleaving:
// - every operation ends with an answer it allows;
// - a read returns what the worker's last acknowledged write to that slot
//   put there (zeros after a discard of it), and a churned blob returns
//   what was just written through it, even while another worker removes
//   it;
// - after the shutdown, a new storage on the same directory opens every
//   shared blob and reads back every acknowledged write.
import Glibc
import Synchronization
import Testing
import URing
import URingLoop
@testable import URingStorage
import URingTestSupport

@Suite struct StorageChaosTests {
    static let seeds: [UInt64] = [41, 42, UInt64.random(in: 43...UInt64.max)]

    @Test(arguments: seeds, [false, true])
    func operationsRacingCancelsRemovalsAndShutdownKeepEveryAcknowledgedWrite(seed: UInt64, onGroup: Bool) async throws {
        let root = try temporaryDirectory("uring-storage-test")
        defer { removeTree(root) }
        let group = onGroup ? try LoopGroup(count: 2) : nil
        let storage = try group.map { try Storage(directory: root, loops: $0) } ?? Storage(directory: root)
        let context = "seed \(seed)\(onGroup ? ", on a group" : "")"
        var shared: [Blob] = []
        for name in 0..<StorageChaosWorker.sharedBlobs {
            shared.append(try await storage.open(partition: "shared", name: [UInt8(name)]).blob)
        }
        let blobs = shared
        let progress = OperationCount()
        let workers = (0..<8).map { index in
            // On a group, half the workers run their operations on its
            // loops, which submit there directly.
            let loop = index % 2 == 0 ? group?.handles[index / 2 % 2].executor : nil
            return Task {
                await StorageChaosWorker(index: index, seed: seed &+ UInt64(index + 1) &* 0x2545_F491, loop: loop)
                    .run(storage, shared: blobs, progress: progress)
            }
        }
        var generator = SeededGenerator(seed: seed)
        try await untilProgress(reaches: Int.random(in: 200...1_000, using: &generator)) {
            progress.value.load(ordering: .relaxed)
        }
        if let group {
            await group.shutdown()
        } else {
            await storage.shutdown()
        }
        let reports = try await bounded("every worker (\(context))", seconds: 300) {
            var reports: [StorageChaosWorker.Report] = []
            for worker in workers { reports.append(await worker.value) }
            return reports
        }

        if let group {
            let direct = group.handles.reduce(0) { $0 + $1.statistics.directSubmissions }
            #expect(direct > 0, "\(context): no operation ran on a loop")
        }
        let unexpected = reports.flatMap(\.outcomes).filter { !StorageChaosWorker.allowedOutcomes.contains($0) }
        #expect(unexpected.isEmpty, "\(context): \(Set(unexpected))")
        let reopened = try Storage(directory: root)
        var checked = 0
        for name in 0..<StorageChaosWorker.sharedBlobs {
            let (blob, _, _) = try await reopened.open(partition: "shared", name: [UInt8(name)])
            for report in reports {
                for (slot, bytes) in report.acknowledged where slot.blob == name {
                    let stored = try await blob.read(at: StorageChaosWorker.offset(of: slot, worker: report.index), count: bytes.count)
                    let intact = stored == bytes
                    #expect(intact, "\(context): worker \(report.index)'s acknowledged write to \(slot) is not on disk")
                    checked += 1
                }
            }
        }
        await reopened.shutdown()
        #expect(checked > 0, "\(context): no write was acknowledged, so nothing was checked")
    }
}

/// One worker: random operations, each in a task of its own that may be
/// cancelled, until the storage refuses one for its shutdown.
struct StorageChaosWorker: Sendable {
    struct Slot: Hashable, Sendable, CustomStringConvertible {
        let blob: Int
        let index: Int
        var description: String { "blob \(blob) slot \(index)" }
    }

    struct Report: Sendable {
        let index: Int
        let outcomes: [String]
        /// Each slot's last acknowledged contents (a slot whose last write
        /// or discard failed is left out: it may have reached the file in
        /// part).
        let acknowledged: [Slot: [UInt8]]
    }

    static let sharedBlobs = 3
    static let slots = 8
    static let slotSize = 1024
    static let allowedOutcomes: Set<String> = ["ok", "cancelled", "shutdown", "notFound", "timedOut"]

    let index: Int
    let seed: UInt64
    /// Where the operations run: a group's loop, or the global pool.
    let loop: LoopExecutor?

    /// Where `slot` of worker `worker` sits in its blob: each worker has a
    /// region of its own.
    static func offset(of slot: Slot, worker: Int) -> UInt64 {
        UInt64((worker * slots + slot.index) * slotSize)
    }

    func run(_ storage: Storage, shared: [Blob], progress: OperationCount) async -> Report {
        var generator = SeededGenerator(seed: seed)
        var outcomes: [String] = []
        var acknowledged: [Slot: [UInt8]] = [:]
        for _ in 0..<300 {
            let slot = Slot(blob: Int.random(in: 0..<Self.sharedBlobs, using: &generator),
                            index: Int.random(in: 0..<Self.slots, using: &generator))
            let offset = Self.offset(of: slot, worker: index)
            let blob = shared[slot.blob]
            let bytes = generator.bytes(Int.random(in: 1...Self.slotSize, using: &generator), nonZero: true)
            let options = [WriteOptions.buffered, .dataSync, .writeThenSync, WriteOptions(dropFromCache: true)]
                .randomElement(using: &generator)!
            let churn = (partition: "churn\(Int.random(in: 0..<2, using: &generator))",
                         name: [UInt8(index), UInt8.random(in: 0..<4, using: &generator)])  // the worker's own
            let renameInto = "churn\(Int.random(in: 0..<2, using: &generator))"
            let expected = acknowledged[slot]
            let flag = Bool.random(using: &generator)
            let kind = Int.random(in: 0..<8, using: &generator)
            // Kinds that change the slot: its contents are known only if
            // they were acknowledged.
            let changesSlot = kind == 0 || kind == 2 || (kind == 7 && !flag)
            let cancelAfter = Int.random(in: 0..<4, using: &generator) == 0
                ? Duration.microseconds(Int.random(in: 0...300, using: &generator)) : nil
            let deadline: Duration? = Bool.random(using: &generator) ? .microseconds(Int.random(in: 0...500, using: &generator)) : nil
            let operation = Task(executorPreference: loop) { () async throws -> Bool in
                switch kind {
                case 0:
                    try await blob.write(bytes, at: offset, options: options)
                    return true
                case 1:
                    guard let expected else { return false }
                    let read = try await blob.read(at: offset, count: expected.count, deadline: deadline.map { .now + $0 })
                    if read != expected { throw Mismatch(what: "a read of \(slot)") }
                    return false
                case 2:
                    try await blob.write(batch: [(offset, [IOBuffer(bytes: bytes)])], options: options)
                    return true
                case 3:
                    try await blob.sync(dataOnly: flag)
                    return false
                case 4:
                    // Written and read back through one blob value, which
                    // holds its file even if another worker removes it.
                    let (churned, _, _) = try await storage.open(partition: churn.partition, name: churn.name)
                    try await churned.write(bytes, at: 0, options: options)
                    if try await churned.read(at: 0, count: bytes.count) != bytes { throw Mismatch(what: "a churned blob") }
                    return false
                case 5:
                    try await storage.remove(partition: churn.partition, name: flag ? churn.name : nil)
                    return false
                case 7 where flag:
                    // Room past the worker's slot, while others write theirs.
                    try await blob.reserve(upTo: offset + UInt64(Self.slotSize) * 4)
                    return false
                case 7:
                    // Only what was written: the blob reaches past it (no
                    // one shortens a shared blob), so it reads as zeros.
                    guard let expected else { return false }
                    try await blob.discard(at: offset, count: UInt64(expected.count))
                    return true
                case 6 where flag:
                    // Onto another of the worker's own names, replacing it,
                    // in either churn partition (made again if removed).
                    try await storage.rename(partition: churn.partition, from: churn.name,
                                             to: [churn.name[0], (churn.name[1] + 1) % 4],
                                             toPartition: renameInto)
                    return false
                default:
                    let scan = try await storage.scan(partition: churn.partition)
                    if !scan.foreignEntries.isEmpty { throw Mismatch(what: "a scan (\(scan.foreignEntries))") }
                    return false
                }
            }
            if let cancelAfter {
                Task {
                    try? await Task.sleep(for: cancelAfter)
                    operation.cancel()
                }
            }
            let outcome: String
            do {
                if try await operation.value {
                    acknowledged[slot] = kind == 7 ? [UInt8](repeating: 0, count: expected?.count ?? 0) : bytes
                }
                outcome = "ok"
            } catch {
                if changesSlot { acknowledged[slot] = nil }
                outcome = Self.describe(error)
            }
            outcomes.append(outcome)
            progress.value.wrappingAdd(1, ordering: .relaxed)
            if outcome == "shutdown" { break }
        }
        return Report(index: index, outcomes: outcomes, acknowledged: acknowledged)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case is CancellationError: return "cancelled"
        case let error as IOError: return "\(error.reason)"
        default: return "\(error)"
        }
    }

    struct Mismatch: Error, CustomStringConvertible {
        let what: String
        var description: String { "\(what) returned other bytes than were written" }
    }
}

/// Operations the workers have finished, to time the shutdown by.
final class OperationCount: Sendable {
    let value = Atomic<Int>(0)
}
