// A detached thread for blocking work (thread joins, waitpid, blocking
// sockets), so none of it holds one of the Swift concurrency pool's few
// threads: the async servers under test need every one of them.
import Glibc

/// Runs `body` on a thread of its own and resumes the caller with its
/// result; the caller's pool thread is free meanwhile.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = BlockingThread { continuation.resume(with: Result { try body() }) }
        if let error = thread.start() { continuation.resume(throwing: error) }
    }
}

/// One detached thread running one closure.
private final class BlockingThread: @unchecked Sendable {
    // `@unchecked Sendable`: `body` is immutable and runs once on the new thread.
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    /// Starts the thread; on failure `body` never runs and the error says why.
    func start() -> BenchError? {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<BlockingThread>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<BlockingThread>.fromOpaque(context).release()
            return BenchError("could not start a thread for blocking work: \(String(cString: strerror(result)))")
        }
        pthread_detach(thread)
        return nil
    }
}
