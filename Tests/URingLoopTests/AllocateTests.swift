// Handle.allocate: fallocate through the ring. Block counts are read back
// from the kernel (st_blocks, 512-byte units), so each test checks what the
// filesystem did, not only that the call returned.
import CURing
import Glibc
import Testing
import URing
@testable import URingLoop
import URingTestSupport

@Suite struct AllocateTests {
    private func status(_ fd: Int32) throws -> stat {
        var info = stat()
        try #require(fstat(fd, &info) == 0)
        return info
    }

    @Test func allocatingHoldsBlocksKeepingOrGrowingTheSize() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let handle = try smallLoop()
        try await handle.write(Array("abc".utf8), to: fd, at: 0)

        // Room for a mebibyte, the size untouched: a reopen sees 3 bytes.
        try await handle.allocate(fd, at: 0, count: 1 << 20, mode: .allocateKeepingSize)
        var info = try status(fd)
        #expect(info.st_size == 3)
        #expect(info.st_blocks * 512 >= 1 << 20, "\(info.st_blocks) blocks")
        await expectIOError(.endOfFile) { _ = try await handle.read(from: fd, at: 0, count: 4) }

        // Mode 0 grows the file over the range; the new bytes are zeros and
        // the old ones stay.
        try await handle.allocate(fd, at: 4096, count: 4096)
        info = try status(fd)
        #expect(info.st_size == 8192)
        let bytes = try await handle.read(from: fd, at: 0, count: 8192)
        #expect(bytes.prefix(3) == Array("abc".utf8)[...])
        #expect(bytes.dropFirst(3).allSatisfy { $0 == 0 })
        await handle.shutdown()
    }

    @Test func aPunchedHoleReadsAsZerosAndGivesItsBlocksBack() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let handle = try smallLoop()
        let size = 256 << 10
        try await handle.write([UInt8](repeating: 0x5A, count: size), to: fd, at: 0)
        try await handle.sync(fd)
        let before = try status(fd)

        try await handle.allocate(fd, at: 64 << 10, count: 128 << 10, mode: .punchHole)
        let after = try status(fd)
        #expect(after.st_size == size)
        #expect(before.st_blocks - after.st_blocks >= (128 << 10) / 512, "\(before.st_blocks) -> \(after.st_blocks) blocks")
        let bytes = try await handle.read(from: fd, at: 0, count: size)
        #expect(bytes[..<(64 << 10)].allSatisfy { $0 == 0x5A })
        #expect(bytes[(64 << 10)..<(192 << 10)].allSatisfy { $0 == 0 })
        #expect(bytes[(192 << 10)...].allSatisfy { $0 == 0x5A })
        await handle.shutdown()
    }

    @Test func badArgumentsAndDescriptorsGetTypedErrors() async throws {
        let fd = try temporaryFile()
        defer { close(fd) }
        let handle = try smallLoop()
        // Refused before the ring: the kernel would say only EINVAL or EFBIG.
        await expectIOError(.invalidArgument("count must be positive")) {
            try await handle.allocate(fd, at: 0, count: 0)
        }
        await expectIOError(.invalidArgument("offset \(UInt64.max - 1) + 4 bytes is past the largest file size")) {
            try await handle.allocate(fd, at: .max - 1, count: 4)
        }
        await expectIOError(.invalidArgument("offset \(UInt64(Int64.max)) + 1 bytes is past the largest file size")) {
            try await handle.allocate(fd, at: UInt64(Int64.max), count: 1)
        }
        // The descriptor's faults are the kernel's, through the ring.
        await expectIOError(.errno(EBADF)) { try await handle.allocate(-1, at: 0, count: 4096) }
        let readOnly = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)
        try #require(readOnly >= 0)
        defer { close(readOnly) }
        await expectIOError(.errno(EBADF)) { try await handle.allocate(readOnly, at: 0, count: 4096) }
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        await expectIOError(.errno(ESPIPE)) { try await handle.allocate(ends[1], at: 0, count: 4096) }
        let (one, other) = try socketPair()
        defer { close(one); close(other) }
        await expectIOError(.errno(ENODEV)) { try await handle.allocate(one, at: 0, count: 4096) }
        // More than the filesystem holds: ext4 refuses the size (EFBIG),
        // tmpfs the space (ENOSPC); either way the file is as it was.
        do {
            try await handle.allocate(fd, at: 0, count: 1 << 60, mode: .allocateKeepingSize)
            Issue.record("an exbibyte allocated")
        } catch let error as IOError {
            #expect(error.errno == EFBIG || error.errno == ENOSPC, "\(error)")
            #expect(error.description.contains("fallocate"), "\(error)")
        }
        #expect(try status(fd).st_size == 0)

        // A cancelled task allocates nothing; a loop shut down takes nothing.
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await handle.allocate(fd, at: 0, count: 4096)
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(try status(fd).st_blocks == 0)
        await handle.shutdown()
        await expectIOError(.shutdown) { try await handle.allocate(fd, at: 0, count: 4096) }
        // Every failed request was answered and none is held.
        #expect(handle.statistics.pendingRequests == 0)
    }
}
