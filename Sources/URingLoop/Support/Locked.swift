// A value guarded by a pthread mutex.
//
// Why not `Synchronization.Mutex`: on Linux it is built on raw futex calls
// inside the prebuilt standard library, where ThreadSanitizer cannot see its
// acquire/release ordering, so every hand-off through it (the channel, most
// importantly) is reported as a data race and real races would drown in the
// noise. pthread mutexes are intercepted by TSan, cost the same uncontended
// (one atomic each way), and keep `swift test --sanitize=thread` meaningful.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `value`, readable and writable only inside `withLock`.
///
/// `@unchecked Sendable`: every access to `value` happens with `mutex` held.
package final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    // The mutex already makes every access exclusive, so the runtime's
    // dynamic exclusivity check (a call on each `withLock`, which shows in
    // the channel's profiles) would only repeat it.
    @exclusivity(unchecked) private var value: Value

    package init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
