// Temporary storage roots for tests, removed afterwards.
import Glibc
import Testing
import URing
import URingLoop
@testable import URingStorage
import URingTestSupport

/// Runs `body` with a Storage on a fresh directory under `parent`, then shuts
/// it down and removes the directory.
func withStorage<T>(in parent: String = "/tmp", _ body: (Storage, String) async throws -> T) async throws -> T {
    let root = try temporaryDirectory("uring-storage-test", in: parent)
    let storage = try Storage(directory: root)
    defer { try? FileSystem.removeTree(root) }
    do {
        let result = try await body(storage, root)
        await storage.shutdown()
        return result
    } catch {
        await storage.shutdown()
        throw error
    }
}

/// Writes raw bytes to a path with plain syscalls (to forge files).
func writeRaw(_ path: String, _ bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    try #require(fd >= 0)
    defer { close(fd) }
    try #require(write(fd, bytes, bytes.count) == bytes.count)
}
