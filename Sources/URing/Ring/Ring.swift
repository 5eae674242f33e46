// The raw io_uring instance: setup, the shared mappings, and io_uring_enter.
//
// Invariants:
// - A `Ring` is used by one thread at a time (it is not Sendable); with
//   `.singleIssuer` that must be the thread that created it.
// - Every mapping made in `init` is unmapped, and the fd closed, in `deinit`.
//   Memory that in-flight operations point at is the caller's: destroying the
//   ring cancels them, but the caller keeps their buffers alive until then.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing

/// An io_uring instance with its submission and completion queues.
public final class Ring {
    /// The ring's file descriptor.
    public let fd: Int32
    /// What the kernel offers.
    public let features: RingFeatures
    /// The flags the ring was created with.
    public let setupFlags: SetupFlags
    // A Ring is used by one thread at a time (it is not Sendable), so the
    // queues skip dynamic exclusivity checks on their hot paths.
    /// The submission side.
    @exclusivity(unchecked) public var submissionQueue: SubmissionQueue
    /// The completion side.
    @exclusivity(unchecked) public var completionQueue: CompletionQueue

    private let mappings: [(UnsafeMutableRawPointer, Int)]

    /// The largest SQ size the kernel accepts (`IORING_MAX_ENTRIES`).
    public static let maximumEntries: UInt32 = 32768
    /// The largest CQ size the kernel accepts (`IORING_MAX_CQ_ENTRIES`).
    public static let maximumCompletionEntries: UInt32 = 2 * maximumEntries

    /// Creates a ring with at least `entries` SQ slots (rounded up to a power
    /// of two).
    ///
    /// - Throws: `IOError` with operation `io_uring_setup` whose description
    ///   says how to check why io_uring is unavailable.
    public init(entries: UInt32, options: RingOptions = RingOptions()) throws(IOError) {
        guard entries > 0 else {
            throw IOError("io_uring_setup", .invalidArgument("a ring needs at least one entry"))
        }
        let clamps = options.flags.contains(.clamp)
        guard clamps || entries <= Ring.maximumEntries else {
            throw IOError("io_uring_setup", .invalidArgument("\(entries) entries exceed the kernel's maximum of \(Ring.maximumEntries)"))
        }
        var params = io_uring_params()
        var flags = options.flags
        if let cqEntries = options.completionQueueEntries {
            guard cqEntries >= entries else {
                throw IOError("io_uring_setup", .invalidArgument("the CQ (\(cqEntries)) must be at least as large as the SQ (\(entries))"))
            }
            params.cq_entries = cqEntries
            flags.insert(SetupFlags(rawValue: IORING_SETUP_CQSIZE))
        }
        if let idle = options.submissionThreadIdle {
            flags.insert(.submissionQueuePoll)
            let (seconds, attoseconds) = idle.components
            params.sq_thread_idle = UInt32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        }
        if let cpu = options.submissionThreadCPU {
            flags.insert(SetupFlags(rawValue: IORING_SETUP_SQ_AFF))
            params.sq_thread_cpu = cpu
        }
        if flags.contains(.deferTaskRun) && !flags.contains(.singleIssuer) {
            throw IOError("io_uring_setup", .invalidArgument("deferTaskRun requires singleIssuer"))
        }
        params.flags = flags.rawValue
        let rounded = clamps ? entries : Ring.roundUpToPowerOfTwo(entries)

        let fd = curing_setup(rounded, &params)
        guard fd >= 0 else { throw IOError("io_uring_setup", errno: fd) }

        let features = RingFeatures(rawValue: params.features)
        let sqRingSize = Int(params.sq_off.array) + Int(params.sq_entries) * MemoryLayout<UInt32>.stride
        let cqRingSize = Int(params.cq_off.cqes) + Int(params.cq_entries) * MemoryLayout<io_uring_cqe>.stride
        let sqesSize = Int(params.sq_entries) * MemoryLayout<io_uring_sqe>.stride

        var mappings: [(UnsafeMutableRawPointer, Int)] = []
        func map(_ size: Int, _ offset: UInt64) throws(IOError) -> UnsafeMutableRawPointer {
            let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off_t(offset))
            guard let pointer, pointer != MAP_FAILED else {
                let code = curing_errno()
                for (base, length) in mappings { munmap(base, length) }
                Glibc.close(fd)
                throw IOError("mmap", errno: code, context: "io_uring ring memory")
            }
            mappings.append((pointer, size))
            return pointer
        }

        let sqRing: UnsafeMutableRawPointer
        let cqRing: UnsafeMutableRawPointer
        if features.contains(.singleMmap) {
            sqRing = try map(max(sqRingSize, cqRingSize), UInt64(IORING_OFF_SQ_RING))
            cqRing = sqRing
        } else {
            sqRing = try map(sqRingSize, UInt64(IORING_OFF_SQ_RING))
            cqRing = try map(cqRingSize, UInt64(IORING_OFF_CQ_RING))
        }
        let sqes = try map(sqesSize, UInt64(IORING_OFF_SQES)).assumingMemoryBound(to: io_uring_sqe.self)

        self.fd = fd
        self.features = features
        self.setupFlags = flags
        self.mappings = mappings
        self.submissionQueue = SubmissionQueue(
            ringBase: sqRing, offsets: params.sq_off, entries: sqes,
            kernelPolls: flags.contains(.submissionQueuePoll))
        self.completionQueue = CompletionQueue(ringBase: cqRing, offsets: params.cq_off)
    }

    deinit {
        for (base, length) in mappings { munmap(base, length) }
        Glibc.close(fd)
    }

    /// The smallest power of two >= `value` (`value` > 0).
    public static func roundUpToPowerOfTwo(_ value: UInt32) -> UInt32 {
        value <= 1 ? 1 : 1 << (32 - (value - 1).leadingZeroBitCount)
    }

    // MARK: - Submission

    /// Pushes one entry; `false` when the SQ is full.
    @inlinable @discardableResult
    public func push(_ entry: SubmissionEntry) -> Bool {
        submissionQueue.push(entry)
    }

    /// Submits pushed entries without waiting. Makes no system call when
    /// there is nothing to submit and the kernel has no completion work that
    /// needs this thread.
    @inlinable @discardableResult
    public func submit() throws(IOError) -> SubmitResult {
        try enter(want: 0)
    }

    /// Submits pushed entries without GETEVENTS: with `.deferTaskRun`, the
    /// kernel posts only what these entries complete inside the call, and
    /// completion work that was already waiting stays for a later enter
    /// (on an IOPOLL ring, so does polling for completions). Makes no
    /// system call when nothing is pushed.
    @discardableResult
    public func submitWithoutCompletionWork() throws(IOError) -> SubmitResult {
        if submissionQueue.kernelPolls { return try submit() }  // the SQ thread submits; nothing to tell apart
        let toSubmit = submissionQueue.flush()
        guard toSubmit > 0 else { return .submitted(0) }
        return try Ring.interpret(curing_enter(fd, UInt32(toSubmit), 0, 0))
    }

    /// Submits pushed entries and waits until at least `want` completions are
    /// ready.
    @inlinable @discardableResult
    public func submitAndWait(want: Int) throws(IOError) -> SubmitResult {
        try enter(want: want)
    }

    /// Submits and waits for `want` completions, at most `timeout`.
    /// Expiry is `.timedOut`, distinct from success and from errors.
    public func submitAndWait(want: Int, timeout: Duration) throws(IOError) -> SubmitResult {
        let (seconds, attoseconds) = max(timeout, .zero).components
        var time = __kernel_timespec(tv_sec: seconds, tv_nsec: attoseconds / 1_000_000_000)
        return try withUnsafeMutablePointer(to: &time) { (timePointer) throws(IOError) -> SubmitResult in
            var argument = io_uring_getevents_arg()
            argument.ts = UInt64(UInt(bitPattern: timePointer))
            let toSubmit = submissionQueue.flush()
            var flags = IORING_ENTER_GETEVENTS
            if submissionQueue.kernelPolls {
                curing_fence_seq_cst()
                if submissionQueue.kernelFlags & IORING_SQ_NEED_WAKEUP != 0 { flags |= IORING_ENTER_SQ_WAKEUP }
            }
            let result = curing_enter_ext(fd, UInt32(toSubmit), UInt32(clamping: want), flags, &argument)
            return try Ring.interpret(result)
        }
    }

    @usableFromInline func enter(want: Int) throws(IOError) -> SubmitResult {
        let toSubmit = submissionQueue.flush()
        var flags: UInt32 = 0
        // With deferred task run, completions are only posted while this
        // thread is in the kernel with GETEVENTS: ask for them on every
        // submission, which costs nothing extra in the same call.
        let deferred = setupFlags.contains(.deferTaskRun) && toSubmit > 0
        if want > 0 || deferred || setupFlags.contains(.ioPoll) || needsCompletionFlush {
            flags |= IORING_ENTER_GETEVENTS
        }
        if submissionQueue.kernelPolls {
            // The kernel thread consumes the SQ by itself; enter only to wake
            // it or to wait.
            curing_fence_seq_cst()
            if submissionQueue.kernelFlags & IORING_SQ_NEED_WAKEUP != 0 { flags |= IORING_ENTER_SQ_WAKEUP }
            if flags == 0 { return .submitted(toSubmit) }
        } else if toSubmit == 0 && flags == 0 {
            return .submitted(0)
        }
        let result = curing_enter(fd, UInt32(toSubmit), UInt32(clamping: want), flags)
        return try Ring.interpret(result)
    }

    /// Whether completions are ready to reap or waiting in the kernel for
    /// this thread to enter (a cheap check for a spinning loop).
    @inlinable public var hasPendingCompletions: Bool {
        completionQueue.readyCount > 0 || needsCompletionFlush
    }

    /// Completions wait in the kernel (CQ overflow, or deferred task work)
    /// and appear only if this thread enters with GETEVENTS.
    @usableFromInline var needsCompletionFlush: Bool {
        submissionQueue.kernelFlags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN) != 0
    }

    @usableFromInline static func interpret(_ result: Int32) throws(IOError) -> SubmitResult {
        if result >= 0 { return .submitted(Int(result)) }
        switch -result {
        case ETIME: return .timedOut
        case EINTR, EAGAIN, EBUSY: return .retry(errno: -result)
        default: throw IOError("io_uring_enter", errno: result)
        }
    }
}
