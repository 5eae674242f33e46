// Blob.reserve and Blob.discard: disk space held ahead of writes and given
// back from inside a blob. What the filesystem did is read back from the
// kernel (st_size, st_blocks in 512-byte units), and every blob is reopened
// by a new storage to show its header and length are as they should be.
import Glibc
import Testing
import URing
import URingLoop
@testable import URingStorage
import URingTestSupport

@Suite struct BlobSpaceTests {
    private func status(_ path: String) throws -> stat {
        var info = stat()
        try #require(stat(path, &info) == 0, "stat \(path): errno \(errno)")
        return info
    }

    @Test(arguments: [false, true]) func reservedSpaceIsHeldWithoutLengtheningTheBlob(direct: Bool) async throws {
        try await withStorage { storage, root in
            let (blob, _, _) = try await storage.open(partition: "p", name: [7], direct: direct)
            let header = direct ? 4096 : 8
            let path = root + "/p/07"
            let head = IOBuffer(bytes: [UInt8](repeating: 0x11, count: 4096), alignment: 4096)
            try await blob.write([head], at: 0)

            try await blob.reserve(upTo: 1 << 20)
            #expect(try blob.length() == 4096)
            let reserved = try status(path)
            #expect(reserved.st_size == header + 4096)
            #expect(reserved.st_blocks * 512 >= header + (1 << 20), "\(reserved.st_blocks) blocks")
            // Reserving less than the blob holds loses nothing.
            try await blob.reserve(upTo: 16)
            #expect(try blob.length() == 4096)

            // Writes into the reservation lengthen the blob as any write does.
            let tail = IOBuffer(bytes: [UInt8](repeating: 0x22, count: 4096), alignment: 4096)
            try await blob.write([tail], at: 512 << 10)
            #expect(try blob.length() == (512 << 10) + 4096)
            try await blob.sync()

            let reopened = try Storage(directory: root)
            let (again, length, _) = try await reopened.open(partition: "p", name: [7], direct: direct)
            #expect(length == (512 << 10) + 4096)
            let first = try await again.read(at: 0, into: IOBuffer(capacity: 4096, alignment: 4096))
            #expect(first.bytes == [UInt8](repeating: 0x11, count: 4096))
            let last = try await again.read(at: 512 << 10, into: IOBuffer(capacity: 4096, alignment: 4096))
            #expect(last.bytes == [UInt8](repeating: 0x22, count: 4096))
            await reopened.shutdown()
        }
    }

    @Test func aDiscardedRangeReadsAsZerosAndGivesItsBlocksBack() async throws {
        try await withStorage { storage, root in
            let (blob, _, _) = try await storage.open(partition: "p", name: [8])
            let path = root + "/p/08"
            let size = 192 << 10
            try await blob.write([UInt8](repeating: 0x5A, count: size), at: 0)
            try await blob.sync()
            let before = try status(path)

            try await blob.discard(at: 64 << 10, count: 64 << 10)
            let after = try status(path)
            #expect(try blob.length() == UInt64(size))
            #expect(before.st_blocks - after.st_blocks >= (60 << 10) / 512, "\(before.st_blocks) -> \(after.st_blocks) blocks")
            let bytes = try await blob.read(at: 0, count: size)
            #expect(bytes[..<(64 << 10)].allSatisfy { $0 == 0x5A })
            #expect(bytes[(64 << 10)..<(128 << 10)].allSatisfy { $0 == 0 })
            #expect(bytes[(128 << 10)...].allSatisfy { $0 == 0x5A })

            // Offsets are logical: discarding from 0 spares the header, and
            // a range past the end neither lengthens the blob nor fails.
            try await blob.discard(at: 0, count: 3)
            try await blob.discard(at: UInt64(size), count: 1 << 20)
            #expect(try blob.length() == UInt64(size))
            try await blob.sync()
            let reopened = try Storage(directory: root)
            let (again, length, _) = try await reopened.open(partition: "p", name: [8])
            #expect(length == UInt64(size))
            #expect(try await again.read(at: 0, count: 4) == [0, 0, 0, 0x5A])
            await reopened.shutdown()
        }
    }

    @Test func badRangesAndFullDisksGetTypedErrorsNamingTheBlob() async throws {
        try await withStorage { storage, root in
            let (blob, _, _) = try await storage.open(partition: "p", name: [0xbe, 0xef])
            try await blob.write([1, 2, 3], at: 0)
            await expectIOError(.invalidArgument("length \(UInt64.max) is past the largest file size")) {
                try await blob.reserve(upTo: .max)
            }
            await expectIOError(.invalidArgument("offset \(UInt64(Int64.max)) + 1 bytes is past the largest blob")) {
                try await blob.discard(at: UInt64(Int64.max), count: 1)
            }
            // More than the filesystem holds: ext4 refuses the size (EFBIG),
            // tmpfs the space (ENOSPC). The blob is as it was.
            do {
                try await blob.reserve(upTo: 1 << 60)
                Issue.record("an exbibyte reserved")
            } catch let error as IOError {
                #expect(error.errno == EFBIG || error.errno == ENOSPC, "\(error)")
                #expect(error.description.contains("p/beef"), "\(error)")
            }
            #expect(try await blob.read(at: 0, count: 3) == [1, 2, 3])
            #expect(try blob.length() == 3)

            // Nothing to do is done at once; a cancelled task changes nothing.
            try await blob.reserve(upTo: 0)
            try await blob.discard(at: 1, count: 0)
            let blocks = try status(root + "/p/beef").st_blocks
            let cancelled = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await blob.reserve(upTo: 1 << 20)
            }
            await #expect(throws: CancellationError.self) { try await cancelled.value }
            #expect(try status(root + "/p/beef").st_blocks == blocks)

            await storage.shutdown()
            await expectIOError(.shutdown) { try await blob.discard(at: 0, count: 1) }
            #expect(try await Storage(directory: root).open(partition: "p", name: [0xbe, 0xef]).length == 3)
        }
    }
}
