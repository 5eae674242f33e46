// Storage.rename: a blob takes another's name in one step. What is checked
// is what a later process finds (a new storage on the same directory), and
// what handles opened before the rename still see.
import Glibc
import Testing
import URing
import URingLoop
@testable import URingStorage
import URingTestSupport

@Suite struct StorageRenameTests {
    @Test func aNewBlobRenamedOverAnOldOneReplacesItWhole() async throws {
        try await withStorage { storage, root in
            let (old, _, _) = try await storage.open(partition: "p", name: Array("manifest".utf8), versions: 1...2)
            try await old.write(Array("old contents, longer".utf8), at: 0)
            let (new, _, _) = try await storage.open(partition: "p", name: Array("manifest.next".utf8), versions: 2...2)
            try await new.write(Array("new".utf8), at: 0)

            try await storage.rename(partition: "p", from: Array("manifest.next".utf8), to: Array("manifest".utf8))
            #expect(try await storage.scan(partition: "p").blobs == [Array("manifest".utf8)])
            // Handles opened before keep their files: the renamed blob's
            // writes land under its new name; the replaced one keeps its bytes.
            try await new.write(Array("!".utf8), at: 3)
            #expect(try await old.read(at: 0, count: 20) == Array("old contents, longer".utf8))
            // Each still names where it was opened.
            #expect(new.name == Array("manifest.next".utf8) && old.name == Array("manifest".utf8))

            let reopened = try Storage(directory: root)
            let (blob, length, version) = try await reopened.open(partition: "p", name: Array("manifest".utf8), versions: 1...2)
            #expect(length == 4 && version == 2, "the new blob's header came with it")
            #expect(try await blob.read(at: 0, count: 4) == Array("new!".utf8))
            await expectIOError(.notFound) {
                try await reopened.remove(partition: "p", name: Array("manifest.next".utf8))
            }
            await reopened.shutdown()
        }
    }

    @Test func renamingToAFreeNameOrToItselfKeepsTheBlob() async throws {
        try await withStorage { storage, _ in
            let (blob, _, _) = try await storage.open(partition: "p", name: [1])
            try await blob.write([1, 2, 3], at: 0)
            try await storage.rename(partition: "p", from: [1], to: [2])
            try await storage.rename(partition: "p", from: [2], to: [2])
            #expect(try await storage.scan(partition: "p").blobs == [[2]])
            let (renamed, length, _) = try await storage.open(partition: "p", name: [2])
            #expect(length == 3)
            #expect(try await renamed.read(at: 0, count: 3) == [1, 2, 3])
        }
    }

    @Test func aBlobMovesToAnotherPartitionMadeForItOrReplacesOneThere() async throws {
        try await withStorage { storage, root in
            let (staged, _, _) = try await storage.open(partition: "staging", name: [1])
            try await staged.write(Array("v2".utf8), at: 0)
            try await storage.rename(partition: "staging", from: [1], to: [9], toPartition: "live")
            #expect(try await storage.scan(partition: "staging").blobs.isEmpty)
            #expect(try await storage.scan(partition: "live").blobs == [[9]])
            try await staged.write(Array("!".utf8), at: 2)

            // Into a partition that has a blob of that name: replaced.
            let (next, _, _) = try await storage.open(partition: "staging", name: [2])
            try await next.write(Array("v3".utf8), at: 0)
            try await storage.rename(partition: "staging", from: [2], to: [9], toPartition: "live")
            #expect(try await storage.scan(partition: "live").blobs == [[9]])
            #expect(try await staged.read(at: 0, count: 3) == Array("v2!".utf8), "the replaced blob's handle keeps its bytes")

            let reopened = try Storage(directory: root)
            let (live, length, _) = try await reopened.open(partition: "live", name: [9])
            #expect(length == 2)
            #expect(try await live.read(at: 0, count: 2) == Array("v3".utf8))
            #expect(try await reopened.scan(partition: "staging").blobs.isEmpty)
            await reopened.shutdown()
        }
    }

    @Test func aDestinationThatCannotBeAPartitionIsRefusedKeepingTheBlob() async throws {
        try await withStorage { storage, root in
            let (blob, _, _) = try await storage.open(partition: "p", name: [1])
            try await blob.write([5], at: 0)
            await expectIOError(.invalidArgument("'../q' may only contain A-Z, a-z, 0-9, '_' and '-'")) {
                try await storage.rename(partition: "p", from: [1], to: [1], toPartition: "../q")
            }
            // A file where the partition would be: the kernel's ENOTDIR, named.
            let file = open(root + "/q", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            try #require(file >= 0)
            close(file)
            do {
                try await storage.rename(partition: "p", from: [1], to: [1], toPartition: "q")
                Issue.record("a blob renamed into a file")
            } catch let error as IOError {
                #expect(error.reason == .errno(ENOTDIR) && error.description.contains("p/01"), "\(error)")
            }
            #expect(try await storage.scan(partition: "p").blobs == [[1]])
            #expect(try await blob.read(at: 0, count: 1) == [5])
        }
    }

    @Test func badNamesAndMissingBlobsAreRefusedChangingNothing() async throws {
        try await withStorage { storage, root in
            let (blob, _, _) = try await storage.open(partition: "p", name: [1])
            try await blob.write([7], at: 0)
            await expectIOError(.notFound) { try await storage.rename(partition: "p", from: [9], to: [1]) }
            await expectIOError(.notFound) { try await storage.rename(partition: "q", from: [1], to: [2]) }
            do {
                try await storage.rename(partition: "p", from: [9], to: [1])
            } catch let error as IOError {
                #expect(error.context == "p/09", "\(error)")
            }
            for (partition, from, to) in [("../p", [UInt8(1)], [UInt8(2)]), ("p", [], [2]), ("p", [1], [])] {
                do {
                    try await storage.rename(partition: partition, from: from, to: to)
                    Issue.record("\(partition) \(from) -> \(to) accepted")
                } catch let error as IOError {
                    guard case .invalidArgument = error.reason else { Issue.record("\(error)"); continue }
                }
            }
            // A cancelled task renames nothing; a shut-down storage neither.
            let cancelled = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await storage.rename(partition: "p", from: [1], to: [2])
            }
            await #expect(throws: CancellationError.self) { try await cancelled.value }
            await storage.shutdown()
            await expectIOError(.shutdown) { try await storage.rename(partition: "p", from: [1], to: [2]) }
            let reopened = try Storage(directory: root)
            #expect(try await reopened.scan(partition: "p").blobs == [[1]])
            #expect(try await reopened.open(partition: "p", name: [1]).blob.read(at: 0, count: 1) == [7])
            await reopened.shutdown()
        }
    }
}
