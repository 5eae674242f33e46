// Helpers shared by the raw-ring tests: wait on the ring, never sleep.
import CURing
import Glibc
import Testing
import URing

extension Ring {
    /// Submits and blocks until `count` completions were reaped; returns them in order.
    func complete(_ count: Int) throws -> [CompletionEntry] {
        var collected: [CompletionEntry] = []
        while collected.count < count {
            switch try submitAndWait(want: 1, timeout: .seconds(10)) {
            case .timedOut: Issue.record("no completion within 10 s"); return collected
            case .submitted, .retry: break
            }
            completionQueue.forEach { collected.append($0) }
        }
        return collected
    }
}

/// A temporary file, unlinked at once so nothing is left behind.
func temporaryFile() throws -> Int32 {
    var template = Array("/tmp/uring-test-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    try #require(fd >= 0)
    unlink(template)
    return fd
}

/// A connected AF_UNIX stream pair.
func socketPair() throws -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    try #require(socketpair(AF_UNIX, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0, &fds) == 0)
    return (fds[0], fds[1])
}
