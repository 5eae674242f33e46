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

    /// Runs `body` on a new detached thread named `name` (at most 15 bytes shown).
    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(IOError) {
        let context = Unmanaged.passRetained(Body(name, body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            curing_set_thread_name(body.name)
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
