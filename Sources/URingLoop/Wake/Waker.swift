// The producer-to-loop wake protocol: an eventfd doorbell gated by one atomic.
//
// `state` packs two things into one UInt64:
// - bit 0: sleep intent. Set by the loop (`arm`) just before it may block in
//   io_uring_enter, cleared (`disarm`) as soon as it runs again.
// - bits 1...: the submitted sequence, a 63-bit count of messages producers
//   have enqueued. `publish` adds 2 (one step of the sequence) after each
//   successful enqueue.
//
// The loop keeps its own `processedSeq` (messages drained). It may block only
// if, in the same atomic transition that sets sleep intent, the sequence still
// equals `processedSeq`. Because `publish` and `arm` are read-modify-writes of
// the same word, one of them is ordered first:
// - publish first: `arm` returns the new sequence, the loop sees a mismatch
//   and does not block;
// - arm first: `publish` sees the intent bit and rings the eventfd, whose
//   multishot poll posts a CQE that ends the loop's wait.
// Either way no submission is lost, and while the loop runs (intent clear)
// producers write nothing to the eventfd: the doorbell costs a syscall only
// for submissions that race with sleep.
//
// Sequence publication, sleep gating and eventfd readiness are kept apart on
// purpose: correctness never depends on how the kernel coalesces eventfd
// writes, only on the ordering of the atomic word.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import Logging
import Synchronization
import URing

/// Eventfd-backed wake source shared by producers (`Handle`s) and the loop.
final class Waker: Sendable {
    /// The `user_data` of the wake poll's CQEs; never a waiter id.
    static let wakeUserData: UInt64 = .max
    /// Sleep-intent flag in `state`.
    static let sleepIntentBit: UInt64 = 1
    /// One submission in `state` (bit 0 is the flag).
    static let submissionIncrement: UInt64 = 2
    /// The sequence domain: 63 bits (`state >> 1`).
    static let sequenceMask: UInt64 = .max >> 1

    private static let logger = Logger(label: "swift-uring.waker")

    /// The non-blocking, close-on-exec eventfd.
    let descriptor: Int32
    private let state = Atomic<UInt64>(0)
    /// eventfd writes that succeeded, for the loop's statistics.
    private let rings = Atomic<UInt64>(0)

    /// Creates the eventfd.
    init() throws(IOError) {
        let fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard fd >= 0 else { throw IOError("eventfd", errno: curing_errno()) }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Rings the doorbell: adds 1 to the eventfd counter.
    ///
    /// `EINTR` is retried; `EAGAIN` means the counter is saturated, so a wake
    /// is already pending and nothing more is needed; anything else is logged
    /// (the loop's timeouts and the next publish still make progress).
    func ring() {
        var value: UInt64 = 1
        while true {
            let written = write(descriptor, &value, MemoryLayout<UInt64>.size)
            if written == MemoryLayout<UInt64>.size {
                rings.wrappingAdd(1, ordering: .relaxed)
                return
            }
            precondition(written == -1, "eventfd write returned an unexpected byte count: \(written)")
            let code = curing_errno()
            switch code {
            case EINTR: continue
            case EAGAIN: return
            default:
                Waker.logger.warning("eventfd write failed", metadata: ["errno": "\(code)", "fd": "\(descriptor)"])
                return
            }
        }
    }

    /// Records one enqueued message and rings the eventfd if the loop
    /// announced it may sleep.
    ///
    /// Call only after the message is in the channel: a loop that sees the
    /// new sequence must find the message to drain.
    func publish() {
        publish(count: 1)
    }

    /// `publish()` for `count` messages enqueued together.
    func publish(count: UInt64) {
        let previous = state.wrappingAdd(Waker.submissionIncrement &* count, ordering: .releasing).oldValue
        if previous & Waker.sleepIntentBit != 0 {
            ring()
        }
    }

    /// The submitted sequence (63-bit domain), to compare with `processedSeq`.
    func submitted() -> UInt64 {
        (state.load(ordering: .acquiring) >> 1) & Waker.sequenceMask
    }

    /// Announces that the loop may sleep, and returns the submitted sequence
    /// read in that same atomic step. The loop blocks only if it equals its
    /// `processedSeq`; otherwise it disarms and keeps running.
    func arm() -> UInt64 {
        let previous = state.bitwiseOr(Waker.sleepIntentBit, ordering: .acquiring).oldValue
        return (previous >> 1) & Waker.sequenceMask
    }

    /// Withdraws sleep intent once the loop runs again, so producers stop
    /// ringing during bursts. Called after a real wake and after a recheck
    /// that decided not to block.
    func disarm() {
        state.bitwiseAnd(~Waker.sleepIntentBit, ordering: .releasing)
    }

    /// Drains eventfd readiness after a wake CQE: one read resets the counter
    /// (no EFD_SEMAPHORE). `EINTR` is retried, `EAGAIN` means already empty,
    /// other failures are logged. Sleep intent is not touched here.
    func acknowledge() {
        var value: UInt64 = 0
        while true {
            let count = read(descriptor, &value, MemoryLayout<UInt64>.size)
            if count == MemoryLayout<UInt64>.size { return }
            precondition(count == -1, "eventfd read returned an unexpected byte count: \(count)")
            let code = curing_errno()
            switch code {
            case EINTR: continue
            case EAGAIN: return
            default:
                Waker.logger.warning("eventfd read failed", metadata: ["errno": "\(code)", "fd": "\(descriptor)"])
                return
            }
        }
    }

    /// Pushes the multishot POLL_ADD(POLLIN) on the eventfd, tagged with
    /// `wakeUserData`. Done at startup and whenever a wake CQE arrives
    /// without `IORING_CQE_F_MORE` (the kernel ended the multishot).
    ///
    /// - Returns: `false` if the SQ was full; the caller retries next pass.
    @discardableResult
    func reinstall(into submissionQueue: inout SubmissionQueue) -> Bool {
        submissionQueue.push(
            .pollAdd(fd: descriptor, events: UInt32(POLLIN), multishot: true).userData(Waker.wakeUserData))
    }

    /// Whether sleep intent is set right now (for tests and diagnostics).
    var isArmed: Bool { state.load(ordering: .acquiring) & Waker.sleepIntentBit != 0 }

    /// eventfd writes so far.
    var ringCount: UInt64 { rings.load(ordering: .relaxed) }
}
