// Batches of blob reads and writes: a failing element is named and does
// not keep the others from their data; misaligned elements of a direct blob
// are refused before any read; batched writes land with every durability.
import Testing
import URing
import URingLoop
@testable import URingStorage
import URingTestSupport

@Suite struct BlobBatchTests {
    @Test func anElementPastTheEndIsNamedAndTheOthersAreFilled() async throws {
        try await withStorage { storage, _ in
            let (blob, _, _) = try await storage.open(partition: "batch", name: [1])
            let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            try await blob.write(bytes, at: 0)
            let reads: [(offset: UInt64, buffer: IOBuffer)] = [
                (0, IOBuffer(capacity: 100)), (9_990, IOBuffer(capacity: 20)), (5_000, IOBuffer(capacity: 5_000)),
            ]
            do {
                _ = try await blob.read(batch: reads)
                Issue.record("a read past the end succeeded")
            } catch let error as IOError {
                #expect(error.reason == .endOfFile)
                #expect(error.context?.contains("batch/01") == true && error.context?.contains("read 1 of the batch of 3") == true,
                        "\(error)")
            }
            // The reads run together: the others ended with their data.
            #expect(reads[0].buffer.bytes == Array(bytes[0..<100]))
            #expect(reads[2].buffer.bytes == Array(bytes[5_000..<10_000]))
            #expect(try await blob.read(batch: []).isEmpty)
        }
    }

    @Test func misalignedElementsOfADirectBlobAreRefusedBeforeAnyRead() async throws {
        try await withStorage { storage, _ in
            let (blob, _, _) = try await storage.open(partition: "direct", name: [2], direct: true)
            let block = IOBuffer(capacity: 4096, alignment: 4096)
            block.assign([UInt8](repeating: 9, count: 4096))
            try await blob.write([block], at: 0)
            let first = IOBuffer(capacity: 4096, alignment: 4096)
            var misaligned = [(offset: UInt64(512), buffer: IOBuffer(capacity: 4096, alignment: 4096)),
                              (offset: UInt64(0), buffer: IOBuffer(capacity: 1000, alignment: 4096))]
            // Whole blocks off a page boundary, where the allocator gives
            // any: ThreadSanitizer's hands out page-aligned memory for page
            // multiples every time. Earlier tries stay alive meanwhile, so
            // their places are not handed out again.
            var tried: [IOBuffer] = []
            for blocks in 1...64 {
                let buffer = IOBuffer(capacity: 4096 * (1 + blocks % 4), alignment: 16)
                if buffer.withUnsafeBytes({ UInt(bitPattern: $0.baseAddress) % 4096 != 0 }) {
                    misaligned.append((0, buffer))
                    break
                }
                tried.append(buffer)
            }
            for bad in misaligned {
                do {
                    _ = try await blob.read(batch: [(0, first), bad])
                    Issue.record("a misaligned element was accepted")
                } catch let error as IOError {
                    guard case .invalidArgument = error.reason else { throw error }
                    #expect(error.context?.contains("read 1 of the batch of 2") == true, "\(error)")
                }
            }
            #expect(first.count == 0)
            let filled = try await blob.read(batch: [(0, first)])
            #expect(filled[0].bytes == [UInt8](repeating: 9, count: 4096))
        }
    }
}

extension BlobBatchTests {
    @Test func batchedWritesLandWithEveryDurabilityAndAFailureIsNamed() async throws {
        try await withStorage { storage, _ in
            let (blob, _, _) = try await storage.open(partition: "writes", name: [3])
            for (round, options) in [WriteOptions.buffered, .dataSync, .writeThenSync].enumerated() {
                let base = UInt64(round * 10_000)
                try await blob.write(batch: [
                    (base + 5_000, [IOBuffer(bytes: [UInt8](repeating: 2, count: 3_000))]),
                    (base, [IOBuffer(bytes: [UInt8](repeating: 1, count: 100)), IOBuffer(bytes: [UInt8](repeating: 3, count: 50))]),
                    (base + 9_000, []),
                ], options: options)
                let back = try await blob.read(at: base, count: 8_000)
                #expect(back[..<100].allSatisfy { $0 == 1 } && back[100..<150].allSatisfy { $0 == 3 }, "\(options)")
                #expect(back[150..<5_000].allSatisfy { $0 == 0 } && back[5_000...].allSatisfy { $0 == 2 }, "\(options)")
            }
            try await blob.write(batch: [])  // nothing to write: returns
            // An element past the largest file is refused before any write.
            let length = try blob.length()
            do {
                try await blob.write(batch: [(0, [IOBuffer(bytes: [9])]), (UInt64(Int64.max), [IOBuffer(bytes: [9])])])
                Issue.record("a write past the largest file was accepted")
            } catch let error as IOError {
                guard case .invalidArgument = error.reason else { throw error }
                #expect(error.context?.contains("write 1 of the batch of 2") == true, "\(error)")
            }
            #expect(try blob.length() == length)
            #expect(try await blob.read(at: 0, count: 1) == [1])
        }
    }
}

extension BlobBatchTests {
    /// tmpfs refuses RWF_DONTCACHE before moving a byte: every element of a
    /// first batch is refused, sent again without the flag, and remembered.
    @Test func batchesFallBackWhereTheFilesystemRejectsUncachedIO() async throws {
        for operation in ["write", "read"] {
            try await withStorage(in: "/dev/shm") { storage, _ in
                let (blob, _, _) = try await storage.open(partition: "p", name: [4])
                if operation == "read" { try await blob.write([UInt8](repeating: 5, count: 300), at: 0) }
                let supportedBefore = storage.core.dropFromCacheSupported.load(ordering: .relaxed)
                #expect(supportedBefore)
                if operation == "write" {
                    try await blob.write(batch: [(0, [IOBuffer(bytes: [1, 2])]), (100, [IOBuffer(bytes: [3])])],
                                         options: WriteOptions(durability: .buffered, dropFromCache: true))
                    #expect(try await blob.read(at: 0, count: 101) == [1, 2] + [UInt8](repeating: 0, count: 98) + [3])
                } else {
                    let filled = try await blob.read(batch: [(0, IOBuffer(capacity: 10)), (200, IOBuffer(capacity: 100))], options: .uncached)
                    #expect(filled.map(\.bytes) == [[UInt8](repeating: 5, count: 10), [UInt8](repeating: 5, count: 100)])
                }
                let supportedAfter = storage.core.dropFromCacheSupported.load(ordering: .relaxed)
                #expect(!supportedAfter, "\(operation)")
            }
        }
    }
}
