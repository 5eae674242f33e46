// The producer-to-loop wake protocol: one atomic word gates two doorbells.
//
// `state` packs three flags and a sequence into one UInt64:
// - bit 0: ring intent. Set by the loop (`arm(.ring)`) just before it may
//   block in io_uring_enter, where only a CQE ends its wait;
// - bit 1: futex intent. Set instead (`arm(.futex)`) when the loop holds no
//   request the kernel could complete, so it may block on this very word
//   with FUTEX_WAIT rather than in the ring;
// - bit 2: closed. Set once by the last handle's release or a shutdown
//   (`wakeForClose`), so that even a loop about to call FUTEX_WAIT sees the
//   word move; the loop itself learns of the close from the channel;
// - bits 3...: the submitted sequence, a 61-bit count of messages producers
//   have enqueued. `publish` adds 8 (one step of the sequence) after each
//   successful enqueue.
// `disarm` clears both intent bits as soon as the loop runs again.
//
// The loop keeps its own `processedSeq` (messages drained). It may block only
// if, in the same atomic transition that sets an intent bit, the sequence
// still equals `processedSeq`. Because `publish` and `arm` are
// read-modify-writes of the same word, one of them is ordered first:
// - publish first: `arm` returns the new sequence, the loop sees a mismatch
//   and does not block;
// - arm first: `publish` sees the intent bit and rings that doorbell: ring
//   intent writes the eventfd, whose multishot poll posts a CQE that ends
//   the loop's wait; futex intent calls FUTEX_WAKE on the word.
// A loop that sees the closed bit in its arm does not sleep on the futex at
// all: that close's FUTEX_WAKE may have come and gone before the arm.
// The futex case needs no CQE, no acknowledging read and no kernel task
// work: a wake of a loop with nothing in flight costs what any thread's
// wake costs. FUTEX_WAIT compares the word's low 32 bits (the flags and the
// sequence's low 29) with what `arm` left there and sleeps only if they are
// unchanged, so a publish (or a close) whose FUTEX_WAKE comes before the
// loop is asleep makes FUTEX_WAIT return at once. (Only 2^29 publishes
// between the two steps could bring the low half back to the same value:
// each of them makes a system call, minutes of them.)
// Either way no submission is lost, and while the loop runs (no intent)
// producers make no system call: a doorbell costs one only for submissions
// that race with sleep.
//
// Sequence publication, sleep gating and doorbell readiness are kept apart
// on purpose: correctness never depends on how the kernel coalesces eventfd
// writes or futex wakes, only on the ordering of the atomic word.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if _endian(big)
#error("the Waker's futex word is the low half of its state, first in memory only on little-endian machines")
#endif
import CURing
import Logging
import Synchronization
import URing

/// The wake source shared by producers (`Handle`s) and the loop: an eventfd
/// for a loop asleep in its ring, a futex for a loop asleep with nothing in
/// the kernel.
///
/// `@unchecked Sendable` only for `state`, a pointer to an `Atomic` that is
/// allocated once, never reassigned, and touched only through atomic
/// operations (and by the kernel's futex calls).
final class Waker: @unchecked Sendable {
    /// Where a loop that arms is about to block.
    enum Sleep {
        /// In io_uring_enter: woken by the eventfd's poll CQE (or any other).
        case ring
        /// On the state word with FUTEX_WAIT: woken by FUTEX_WAKE only.
        case futex
    }

    /// The `user_data` of the wake poll's CQEs; never a waiter id.
    static let wakeUserData: UInt64 = .max
    /// Ring-intent flag in `state`.
    static let ringIntentBit: UInt64 = 1
    /// Futex-intent flag in `state`.
    static let futexIntentBit: UInt64 = 2
    /// Either intent.
    static let intentBits: UInt64 = ringIntentBit | futexIntentBit
    /// Closed flag in `state`.
    static let closedBit: UInt64 = 4
    /// Bits below the sequence.
    static let sequenceShift: UInt64 = 3
    /// One submission in `state` (bits 0 to 2 are the flags).
    static let submissionIncrement: UInt64 = 1 << sequenceShift
    /// The sequence domain: 61 bits (`state >> 3`).
    static let sequenceMask: UInt64 = .max >> sequenceShift

    private static let logger = Logger(label: "swift-uring.waker")

    /// The non-blocking, close-on-exec eventfd.
    let descriptor: Int32
    /// The packed state. On the heap, not inline, because FUTEX_WAIT and
    /// FUTEX_WAKE need its address; only ever accessed atomically (the
    /// futex calls read its low 32 bits inside the kernel).
    private let state: UnsafeMutablePointer<Atomic<UInt64>>
    /// eventfd writes that succeeded, for the loop's statistics.
    private let rings = Atomic<UInt64>(0)
    /// FUTEX_WAKE calls made, for the loop's statistics.
    private let futexWakes = Atomic<UInt64>(0)

    /// Creates the eventfd.
    init() throws(IOError) {
        let fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard fd >= 0 else { throw IOError("eventfd", errno: curing_errno()) }
        descriptor = fd
        state = .allocate(capacity: 1)
        state.initialize(to: Atomic(0))
    }

    deinit {
        close(descriptor)
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// The low 32 bits of `state`, the word the futex calls compare and
    /// wait on (the flags and the sequence's low bits: they come first on
    /// the little-endian machines this runs on, which the `_endian` check
    /// at the top of this file makes sure of).
    private var futexWord: UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(state).assumingMemoryBound(to: UInt32.self)
    }

    /// Rings the eventfd doorbell: adds 1 to its counter.
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

    /// Tells the loop its channel was closed (the last handle's release, a
    /// shutdown): sets the closed flag, then rings both doorbells whatever
    /// the intent bits say, since no published message carries the news.
    /// The flag moves the futex word, so a loop between its arm and its
    /// FUTEX_WAIT does not go to sleep on it; the eventfd's count stays
    /// until read, so its poll fires even if armed later.
    func wakeForClose() {
        state.pointee.bitwiseOr(Waker.closedBit, ordering: .releasing)
        ring()
        wakeFutex()
    }

    private func wakeFutex() {
        futexWakes.wrappingAdd(1, ordering: .relaxed)
        let woken = curing_futex_wake(futexWord, 1)
        if woken < 0 {
            Waker.logger.warning("futex wake failed", metadata: ["errno": "\(-woken)"])
        }
    }

    /// Records one enqueued message and rings the doorbell the loop armed,
    /// if it announced it may sleep.
    ///
    /// Call only after the message is in the channel: a loop that sees the
    /// new sequence must find the message to drain.
    func publish() {
        publish(count: 1)
    }

    /// `publish()` for `count` messages enqueued together.
    func publish(count: UInt64) {
        let previous = state.pointee.wrappingAdd(Waker.submissionIncrement &* count, ordering: .releasing).oldValue
        if previous & Waker.intentBits != 0 {
            if previous & Waker.futexIntentBit != 0 { wakeFutex() } else { ring() }
        }
    }

    /// The submitted sequence (61-bit domain), to compare with `processedSeq`.
    func submitted() -> UInt64 {
        (state.pointee.load(ordering: .acquiring) >> Waker.sequenceShift) & Waker.sequenceMask
    }

    /// What `arm` saw: the submitted sequence and the word it left.
    struct Armed {
        /// The submitted sequence read in the arming step.
        var sequence: UInt64
        /// The state word right after the arm, for `sleepOnFutex`.
        fileprivate var word: UInt64
    }

    /// Announces that the loop may sleep, in the ring or on the futex, and
    /// returns the submitted sequence read in that same atomic step. The
    /// loop blocks only if it equals its `processedSeq`; otherwise it
    /// disarms and keeps running.
    func arm(_ sleep: Sleep = .ring) -> Armed {
        let bit = sleep == .ring ? Waker.ringIntentBit : Waker.futexIntentBit
        let previous = state.pointee.bitwiseOr(bit, ordering: .acquiring).oldValue
        return Armed(sequence: (previous >> Waker.sequenceShift) & Waker.sequenceMask, word: previous | bit)
    }

    /// Blocks on the state word after an `arm(.futex)` whose sequence the
    /// loop had processed, until a FUTEX_WAKE, for at most `timeout`.
    /// Returns at once if anything was published, or the channel closed,
    /// since the arm: the word then differs from what the arm left in it.
    /// Returns at once, too, if the channel had closed before the arm: the
    /// close's one FUTEX_WAKE may be spent already, and the loop, going
    /// around, finds the channel finished.
    func sleepOnFutex(_ armed: Armed, timeout: Duration?) {
        precondition(armed.word & Waker.futexIntentBit != 0, "sleepOnFutex after an arm for the ring")
        guard armed.word & Waker.closedBit == 0 else { return }
        let expected = UInt32(truncatingIfNeeded: armed.word)
        var nanoseconds: Int64 = -1
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            nanoseconds = max(0, seconds) &* 1_000_000_000 &+ max(0, attoseconds / 1_000_000_000)
        }
        // 0 (woken, or spuriously), EAGAIN (the word moved), ETIMEDOUT and
        // EINTR all mean the same to the loop: go around and look.
        _ = curing_futex_wait(futexWord, expected, nanoseconds)
    }

    /// Withdraws sleep intent once the loop runs again, so producers stop
    /// ringing during bursts. Called after a real wake and after a recheck
    /// that decided not to block.
    func disarm() {
        state.pointee.bitwiseAnd(~Waker.intentBits, ordering: .releasing)
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

    /// Whether either intent is set right now (for tests and diagnostics).
    var isArmed: Bool { state.pointee.load(ordering: .acquiring) & Waker.intentBits != 0 }

    /// Where the loop announced it may sleep, if it did (for tests).
    var armedSleep: Sleep? {
        let word = state.pointee.load(ordering: .acquiring)
        if word & Waker.futexIntentBit != 0 { return .futex }
        return word & Waker.ringIntentBit != 0 ? .ring : nil
    }

    /// eventfd writes so far.
    var ringCount: UInt64 { rings.load(ordering: .relaxed) }

    /// FUTEX_WAKE calls so far.
    var futexWakeCount: UInt64 { futexWakes.load(ordering: .relaxed) }
}
