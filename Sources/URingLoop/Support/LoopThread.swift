// Starts a detached pthread for a loop, without Foundation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing

enum LoopThread {
    private final class Body {
        let name: String
        let run: @Sendable () -> Void
        init(_ name: String, _ run: @escaping @Sendable () -> Void) {
            self.name = String(name.utf8.prefix(15)) ?? "uring-loop"
            self.run = run
        }
    }

    /// Runs `body` on a new detached thread named `name` (at most 15 bytes
    /// shown), with SIGPIPE blocked: a write the loop makes inline to a
    /// pipe or socket without a reader is then an EPIPE for its caller, not
    /// a signal that ends the process (sends use MSG_NOSIGNAL; plain writes
    /// have no such flag, and io-wq's workers take no signals at all).
    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(IOError) {
        let context = Unmanaged.passRetained(Body(name, body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            curing_set_thread_name(body.name)
            _ = curing_block_sigpipe()
            body.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw IOError("pthread_create", errno: result)
        }
        pthread_detach(thread)
    }
}
