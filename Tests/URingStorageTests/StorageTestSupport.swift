// Temporary storage roots for tests, removed afterwards.
import Glibc
import Testing
import URing
import URingLoop
@testable import URingStorage

/// A fresh directory under /tmp.
func temporaryDirectory() throws -> String {
    var template = Array("/tmp/uring-storage-test-XXXXXX".utf8CString)
    let pointer = try #require(mkdtemp(&template))
    return String(cString: pointer)
}

/// Runs `body` with a Storage on a fresh directory, then shuts it down and
/// removes the directory.
func withStorage<T>(_ body: (Storage, String) async throws -> T) async throws -> T {
    let root = try temporaryDirectory()
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

func expectReason(_ reason: IOError.Reason, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
    do {
        try await body()
        Issue.record("expected \(reason), got success", sourceLocation: sourceLocation)
    } catch let error as IOError {
        #expect(error.reason == reason, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(reason), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Writes raw bytes to a path with plain syscalls (to forge files).
func writeRaw(_ path: String, _ bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    try #require(fd >= 0)
    defer { close(fd) }
    try #require(write(fd, bytes, bytes.count) == bytes.count)
}
