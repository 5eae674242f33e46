// Helpers shared by every test target: typed-error expectations and
// temporary files, sockets and directories that clean up after themselves.
import CURing
import Glibc
import Testing
import URing

/// Whether this test binary runs under ThreadSanitizer (10-50x slower): for
/// tests that scale their work, or the patience of their hang guards.
public let underThreadSanitizer: Bool = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

/// Expects `body` to throw an `IOError` with exactly `reason`.
public func expectIOError(
    _ reason: IOError.Reason, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        try await body()
        Issue.record("expected IOError \(reason), got success", sourceLocation: sourceLocation)
    } catch let error as IOError {
        #expect(error.reason == reason, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected IOError \(reason), got \(error)", sourceLocation: sourceLocation)
    }
}

/// A temporary file, already unlinked, so nothing is left behind.
public func temporaryFile() throws -> Int32 {
    var template = Array("/tmp/uring-test-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    try #require(fd >= 0)
    unlink(template)
    return fd
}

/// A fresh directory under `parent` (the caller removes it).
public func temporaryDirectory(_ prefix: String = "uring-test", in parent: String = "/tmp") throws -> String {
    var template = Array("\(parent)/\(prefix)-XXXXXX".utf8CString)
    _ = try #require(mkdtemp(&template), "cannot create a directory in \(parent)")
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A connected AF_UNIX stream pair (close-on-exec).
public func socketPair() throws -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    try #require(socketpair(AF_UNIX, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0, &fds) == 0)
    return (fds[0], fds[1])
}
