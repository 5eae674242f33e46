// The `floor` engine: the cheapest honest cross-thread design in Swift with
// no io_uring at all. A dedicated thread resumes continuations that tasks
// queue under a mutex, sleeping on a blocking eventfd read when idle; a
// producer writes the eventfd only if the thread announced it sleeps.
// Whatever the loop costs above this is the ring's and our own overhead.
import CURing
import Dispatch
import Glibc
import URing
import URingLoop

final class FloorEngine: @unchecked Sendable {
    // `@unchecked Sendable`: `queue`, `sleeping` and `closed` are only
    // touched with `mutex` held; `eventFD` is immutable; `nicenessFailure`
    // is written by the thread before it signals `started`, read after.
    private var mutex = pthread_mutex_t()
    private var queue: [UnsafeContinuation<Void, Never>] = []
    private var sleeping = false
    private var closed = false
    private let eventFD: Int32
    private var thread = pthread_t()
    private(set) var eventfdWrites = 0

    /// The thread's nice value to set, and the kernel's refusal of it (read
    /// by `init` after `started` is signalled).
    private let niceness: Int32?
    private var nicenessFailure: IOError?
    private let started = DispatchSemaphore(value: 0)

    /// Starts the thread; with `niceness`, at that nice value (as
    /// `--thread-nice` sets our loops'), or throws if the kernel refuses it.
    init(niceness: Int32? = nil) throws {
        self.niceness = niceness
        pthread_mutex_init(&mutex, nil)
        eventFD = eventfd(0, Int32(EFD_CLOEXEC))
        guard eventFD >= 0 else { throw BenchError("eventfd failed: errno \(errno)") }
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { context in
            let engine = Unmanaged<FloorEngine>.fromOpaque(context!).takeRetainedValue()
            curing_set_thread_name("floor")
            if let niceness = engine.niceness {
                do throws(IOError) { try ThreadPriority.setCurrentThreadNiceness(niceness) } catch { engine.nicenessFailure = error }
            }
            engine.started.signal()
            engine.serve()
            return nil
        }, context)
        started.wait()
        if let nicenessFailure {
            stop()
            throw nicenessFailure
        }
    }

    deinit {
        close(eventFD)
        pthread_mutex_destroy(&mutex)
    }

    /// One round trip: hand a continuation to the thread, get resumed by it.
    func roundTrip() async {
        await withUnsafeContinuation { continuation in
            pthread_mutex_lock(&mutex)
            queue.append(continuation)
            let wake = sleeping
            sleeping = false
            if wake { eventfdWrites += 1 }
            pthread_mutex_unlock(&mutex)
            if wake {
                var one: UInt64 = 1
                _ = write(eventFD, &one, 8)
            }
        }
    }

    func stop() {
        pthread_mutex_lock(&mutex)
        closed = true
        let wake = sleeping
        pthread_mutex_unlock(&mutex)
        if wake {
            var one: UInt64 = 1
            _ = write(eventFD, &one, 8)
        }
        pthread_join(thread, nil)
    }

    private func serve() {
        var batch: [UnsafeContinuation<Void, Never>] = []
        while true {
            pthread_mutex_lock(&mutex)
            if queue.isEmpty {
                if closed {
                    pthread_mutex_unlock(&mutex)
                    return
                }
                sleeping = true
                pthread_mutex_unlock(&mutex)
                var value: UInt64 = 0
                _ = read(eventFD, &value, 8)
                continue
            }
            swap(&batch, &queue)
            pthread_mutex_unlock(&mutex)
            for continuation in batch { continuation.resume() }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
