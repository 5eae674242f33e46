// Blobs opened for direct I/O (O_DIRECT): their aligned layout, the
// alignment rules enforced before any I/O, and the way they open in either
// mode.
import Glibc
import Testing
import URingTestSupport
import URing
import URingLoop
@testable import URingStorage

@Suite struct DirectBlobTests {
    static let block = 4096

    private func block(_ fill: UInt8) -> IOBuffer {
        IOBuffer(bytes: [UInt8](repeating: fill, count: Self.block), alignment: Self.block)
    }

    @Test func directBlobsRoundTripAndReopenEitherWay() async throws {
        try await withStorage { storage, root in
            let (blob, length, version) = try await storage.open(partition: "p", name: [7], versions: 2...3, direct: true)
            #expect(blob.isDirect)
            #expect(length == 0)
            #expect(version == 3)
            try await blob.write([block(1), block(2)], at: 0)
            try await blob.write([UInt8](repeating: 3, count: Self.block), at: UInt64(2 * Self.block))
            try await blob.sync()
            #expect(try blob.length() == UInt64(3 * Self.block))
            let into = IOBuffer(capacity: 2 * Self.block, alignment: Self.block)
            _ = try await blob.read(at: UInt64(Self.block), into: into)
            #expect(into.bytes == [UInt8](repeating: 2, count: Self.block) + [UInt8](repeating: 3, count: Self.block))
            // The cache hint is accepted (and left out: nothing to drop).
            _ = try await blob.read(at: 0, into: into, options: .uncached)
            #expect(into.bytes == [UInt8](repeating: 1, count: Self.block) + [UInt8](repeating: 2, count: Self.block))
            #expect(try await blob.read(at: 0, count: Self.block) == [UInt8](repeating: 1, count: Self.block))

            // On disk: the header padded to 4096 bytes (format 2), then data.
            let fd = open(root + "/p/07", O_RDONLY)
            try #require(fd >= 0)
            defer { close(fd) }
            var raw = [UInt8](repeating: 0xff, count: Self.block + 1)
            #expect(pread(fd, &raw, raw.count, 0) == raw.count)
            #expect(Array(raw[0..<8]) == Array("SURB".utf8) + [0, 2, 0, 3])
            #expect(raw[8..<Self.block].allSatisfy { $0 == 0 })
            #expect(raw[Self.block] == 1)

            // Without direct the same blob reads at any offset, through the cache.
            let buffered = try await storage.open(partition: "p", name: [7], versions: 3...3)
            #expect(!buffered.blob.isDirect)
            #expect(buffered.length == UInt64(3 * Self.block))
            #expect(try await buffered.blob.read(at: UInt64(Self.block) - 1, count: 2) == [1, 2])
            let again = try await storage.open(partition: "p", name: [7], versions: 3...3, direct: true)
            #expect(try await again.blob.read(at: UInt64(2 * Self.block), count: Self.block) == [UInt8](repeating: 3, count: Self.block))
        }
    }

    @Test func misalignedTransfersAreRefusedBeforeAnyIO() async throws {
        try await withStorage { storage, _ in
            let (blob, _, _) = try await storage.open(partition: "p", name: [1], direct: true)
            try await blob.write([block(5)], at: 0)
            let misaligned = try #require(misalignedBuffer(), "no allocation of 256 tries was misaligned")
            let refusals: [(String, () async throws -> Void)] = [
                ("offset 100", { try await blob.write([self.block(6)], at: 100) }),
                ("100 bytes", { try await blob.write([IOBuffer(bytes: [UInt8](repeating: 6, count: 100), alignment: Self.block)], at: 0) }),
                // Whole blocks in all, but not in each buffer.
                ("a buffer of 100 bytes", {
                    try await blob.write([IOBuffer(bytes: [UInt8](repeating: 6, count: 100), alignment: Self.block),
                                          IOBuffer(bytes: [UInt8](repeating: 6, count: Self.block - 100), alignment: Self.block)], at: 0)
                }),
                ("a buffer at address", { try await blob.write([misaligned], at: 0) }),
                ("offset 512", { _ = try await blob.read(at: 512, count: Self.block) }),
                ("100 bytes", { _ = try await blob.read(at: 0, count: 100) }),
                ("a buffer at address", { _ = try await blob.read(at: 0, into: misaligned, count: Self.block) }),
            ]
            for (rule, attempt) in refusals {
                do {
                    try await attempt()
                    Issue.record("a misaligned transfer (\(rule)) went through")
                } catch let error as IOError {
                    guard case .invalidArgument(let message) = error.reason else { Issue.record("\(error)"); continue }
                    #expect(message.contains("multiples of 4096"), "\(message)")
                    #expect(message.contains(rule), "\(rule): \(message)")
                    #expect(error.context == "p/01")
                }
            }
            // Nothing was written or extended by the refused writes.
            #expect(try blob.length() == UInt64(Self.block))
            #expect(try await blob.read(at: 0, count: Self.block) == [UInt8](repeating: 5, count: Self.block))
        }
    }

    /// A full block whose address is not a multiple of 4096, or nil.
    /// Allocators may hand out page-aligned blocks of a page's size every
    /// time (ThreadSanitizer's does), so sizes vary and earlier tries are
    /// kept alive, so their slots are not handed out again.
    private func misalignedBuffer() -> IOBuffer? {
        var tried: [IOBuffer] = []
        for extra in 1...256 {
            let buffer = IOBuffer(capacity: Self.block + 16 * extra, alignment: 16)
            if buffer.withUnsafeBytes({ UInt(bitPattern: $0.baseAddress) % UInt(Self.block) != 0 }) {
                buffer.count = Self.block
                return buffer
            }
            tried.append(buffer)
        }
        return nil
    }

    @Test func aBlobCreatedWithoutDirectIOCannotBeOpenedWithIt() async throws {
        try await withStorage { storage, _ in
            let (blob, _, _) = try await storage.open(partition: "p", name: [2])
            try await blob.write([1, 2, 3], at: 0)
            await expectIOError(.invalidArgument(
                "the blob was created without direct I/O: its 8-byte header would misalign every O_DIRECT transfer; open it without direct"
            )) {
                _ = try await storage.open(partition: "p", name: [2], direct: true)
            }
            let reopened = try await storage.open(partition: "p", name: [2])
            #expect(reopened.length == 3)
            #expect(try await reopened.blob.read(at: 0, count: 3) == [1, 2, 3])
        }
    }

    @Test func aTornAlignedHeaderIsReinitialised() async throws {
        try await withStorage { storage, root in
            _ = try FileSystem.makeDirectory(root + "/p")
            // Format 2 promised 4096 header bytes; the file ends first (and
            // its version, 9, would not be accepted: a torn header is not
            // judged by it).
            try writeRaw(root + "/p/0b", Array("SURB".utf8) + [0, 2, 0, 9] + [UInt8](repeating: 0, count: 100))
            let (blob, length, version) = try await storage.open(partition: "p", name: [0x0b], versions: 0...4, direct: true)
            #expect(length == 0)
            #expect(version == 4)
            try await blob.write([block(8)], at: 0)
            #expect(try blob.length() == UInt64(Self.block))
        }
    }
}

