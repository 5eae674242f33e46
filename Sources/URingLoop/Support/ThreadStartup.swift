// A one-shot rendezvous between the thread that starts a loop and the loop
// thread, for the settings only the loop thread can apply to itself (CPU
// affinity, nice value): the starter must learn whether they took before
// returning.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing

/// Carries the loop thread's setup result back to `IOLoop.start`.
/// `@unchecked Sendable`: `outcome` is only read and written with `mutex` held.
final class ThreadStartup: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var outcome: Result<Void, IOError>?

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    func report(_ result: Result<Void, IOError>) {
        pthread_mutex_lock(&mutex)
        outcome = result
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func wait() -> Result<Void, IOError> {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while outcome == nil { pthread_cond_wait(&condition, &mutex) }
        return outcome!
    }
}
