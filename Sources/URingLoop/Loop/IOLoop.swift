// The event loop: one thread that owns one ring.
//
// Data path:  task -> Handle -> SubmissionChannel -> loop -> SQE -> kernel
//             task <- continuation <- loop <- CQE <- kernel
// Wake path:  Handle --publish/ring--> eventfd --multishot poll CQE--> loop
//             (or, to a loop holding nothing in the kernel: publish -->
//             FUTEX_WAKE on the Waker's word --> loop)
//
// One iteration:
//   1. reap CQEs (wake CQEs are acknowledged; the poll is re-installed when
//      a wake CQE lacks IORING_CQE_F_MORE);
//   2. advance the timing wheel; expired requests with an SQE in flight get
//      an ASYNC_CANCEL, idle ones end when next staged;
//   3. stage: wake poll (rare) -> cancels -> ready queue -> new requests, up
//      to the waiter table's and the SQ's room; processedSeq advances by
//      exactly the messages drained;
//   4. if local work is left, or requests are queued that the SQ had no room
//      for, submit without waiting. Otherwise arm the Waker and block in
//      io_uring_enter (for one CQE, until the next deadline), or on the
//      Waker's futex when no request is held, only if the sequence read by
//      `arm` equals what this pass accounted for; disarm.
//      At waiter capacity that same arm-and-recheck wait ends on a CQE (a
//      slot frees) or on a new publish (a cancel must be served even then).
//
// Jobs of the loop's executor run right after reaping, in bounded batches;
// requests made by those tasks are staged directly (see LoopExecutor).
//
// All state below is touched only by the loop thread.
import CURing
import Logging
import URing

/// The io_uring event loop. Start one with `IOLoop.start(_:)`; talk to it
/// through the returned `Handle`.
public final class IOLoop {
    private static let logger = Logger(label: "swift-uring.loop")

    private let configuration: LoopConfiguration
    private let ring: Ring
    private let channel: SubmissionChannel
    private let waker: Waker
    private let counters: LoopCounters
    private let executor: LoopExecutor
    /// The executor's loop-thread state (jobs, direct requests).
    private let local: LoopLocalState
    /// Test-only fault injection; nil in production.
    private let faults: FaultPlan?
    // The mutable state below is confined to the loop thread, so dynamic
    // exclusivity checks (a runtime call on every access of a class's stored
    // property, several per request) buy nothing: they are turned off here.
    @exclusivity(unchecked) private var waiters: WaiterTable
    @exclusivity(unchecked) private var readyQueue: RingBuffer<WaiterID>
    @exclusivity(unchecked) private var pendingCancels: RingBuffer<WaiterID>
    @exclusivity(unchecked) private var wheel: TimingWheel
    @exclusivity(unchecked) private var wheelAligned = false
    /// Messages drained from the channel, in the Waker's 63-bit domain.
    @exclusivity(unchecked) private var processedSeq: UInt64 = 0
    @exclusivity(unchecked) private var wakePollNeeded = true
    @exclusivity(unchecked) private var shutdownStarted: ContinuousClock.Instant?
    /// Set once a shutdown asked to cancel what the loop holds: cancellable
    /// requests then end with `.shutdown` instead of being waited for.
    @exclusivity(unchecked) private var cancelsForShutdown = false
    /// A draining shutdown cancelled the requests armed ahead.
    @exclusivity(unchecked) private var cancelledArmedAhead = false
    @exclusivity(unchecked) private var completedAtLastPass: UInt64 = 0
    @exclusivity(unchecked) private var statistics = LoopStatistics()
    @exclusivity(unchecked) private var spinner: IdleSpinner
    @exclusivity(unchecked) private var pacer: ReadPacer
    @exclusivity(unchecked) private var metrics: LoopMetrics
    // Scratch arrays reused every pass so draining allocates nothing.
    @exclusivity(unchecked) private var drainedRequests: [Request] = []
    @exclusivity(unchecked) private var drainedCancellations: [Request] = []
    @exclusivity(unchecked) private var drainedJobs: [LoopJob] = []
    @exclusivity(unchecked) private var expired: [TimingWheel.Entry] = []
    /// Requests a shutdown abandoned while the kernel held them, by their
    /// SQE's user data, until their CQEs (see `releaseAbandoned`).
    @exclusivity(unchecked) private var abandoned: [UInt64: Request] = [:]

    /// Starts a loop on a new thread and returns the handle that feeds it.
    ///
    /// The ring is created here, disabled, so that its errors are this
    /// call's to throw; the loop thread enables it and so becomes its single
    /// issuer. The call does not wait for the new thread to run, which on a
    /// busy machine takes milliseconds (3.5-4.5 ms beside two busy processes
    /// on a 2-CPU VM, against well under one for everything else here):
    /// requests made meanwhile wait in the channel like any others. Only a
    /// thread setting that can fail there (`cpuAffinity`, `niceness`) makes
    /// the call wait for the thread's answer.
    ///
    /// - Throws: `IOError` for an invalid configuration, when io_uring is
    ///   unavailable (the description says how to check why), or when the
    ///   kernel refuses the thread its `cpuAffinity` or `niceness`.
    public static func start(_ configuration: LoopConfiguration = LoopConfiguration()) throws(IOError) -> Handle {
        try start(configuration, faults: nil)
    }

    /// `start` with a fault plan (tests only).
    package static func start(_ configuration: LoopConfiguration, faults: FaultPlan?) throws(IOError) -> Handle {
        let configuration = try configuration.validated()
        let waker = try Waker()
        let channel = SubmissionChannel(capacity: configuration.requestCapacity)
        let counters = LoopCounters()
        let termination = Latch()
        let executor = LoopExecutor(channel: channel, waker: waker)
        let loop = try IOLoop(configuration: configuration, channel: channel, waker: waker, counters: counters,
                              executor: executor, faults: faults)
        let startup = configuration.cpuAffinity != nil || configuration.niceness != nil ? ThreadStartup() : nil
        // The thread takes the loop out of `handOver` and drops it when it
        // ends, so by the time `termination` fires, the ring is closed and
        // nothing of the loop keeps the eventfd open: a caller whose
        // shutdown returned sees every descriptor of the loop gone once it
        // drops its handle (no closure capture outlives the loop). The one
        // exception: a shutdown timeout that abandoned requests the kernel
        // still holds fires `termination` first, and the thread keeps the
        // ring until the kernel has given them back (`releaseAbandoned`).
        let handOver = Locked<IOLoop?>(loop)
        try LoopThread.spawn(name: configuration.threadName) {
            do throws(IOError) {
                let loop = handOver.withLock { $0.take()! }
                do throws(IOError) {
                    if let cpus = configuration.cpuAffinity { try ThreadAffinity.pinCurrentThread(to: cpus) }
                    if let niceness = configuration.niceness { try ThreadPriority.setCurrentThreadNiceness(niceness) }
                } catch {
                    _ = loop.channel.terminate()
                    throw error
                }
                loop.enableRing()
                startup?.report(.success(()))
                loop.run()
                if loop.holdsAbandonedRequests {
                    // Every caller has its answer: the shutdown is done.
                    // What is left is the loop's own cleanup.
                    termination.open()
                    loop.releaseAbandoned()
                }
            } catch {
                startup?.report(.failure(error))
            }
            termination.open()
        }
        try startup?.wait().get()
        return Handle(core: HandleCore(channel: channel, waker: waker, counters: counters, termination: termination, executor: executor,
                                       configuration: configuration))
    }

    /// Makes the loop thread the ring's issuer (see `start`). The ring was
    /// created disabled by this process a moment ago, so the kernel's only
    /// refusal (EBADFD, a ring not disabled) cannot happen.
    private func enableRing() {
        do throws(IOError) {
            try ring.enable()
        } catch {
            preconditionFailure("the kernel refused to enable the loop's new ring: \(error)")
        }
    }

    private init(
        configuration: LoopConfiguration, channel: SubmissionChannel, waker: Waker, counters: LoopCounters,
        executor: LoopExecutor, faults: FaultPlan?
    ) throws(IOError) {
        self.faults = faults
        // Enabled by the loop thread (`enableRing`).
        var flags: SetupFlags = [.startsDisabled]
        if configuration.ioPoll { flags.insert(.ioPoll) }
        if configuration.singleIssuer {
            flags.insert(.singleIssuer)
            if configuration.submissionPollIdle == nil { flags.formUnion([.deferTaskRun, .taskRunFlag]) }
        }
        // The CQ is sized from the request capacity, up to the kernel's
        // largest; past that, completions that do not fit wait in the
        // kernel (NODROP) until the next enter collects them.
        ring = try Ring(entries: configuration.size, options: RingOptions(
            flags: flags, completionQueueEntries: configuration.completionQueueEntries,
            submissionThreadIdle: configuration.submissionPollIdle))
        guard ring.features.contains(.noDrop) || configuration.requestCapacity * 4 <= Int(ring.completionQueue.capacity) else {
            throw IOError("io_uring_setup", .invalidArgument(
                "requestCapacity \(configuration.requestCapacity) needs a kernel that keeps completions the queue cannot hold (IORING_FEAT_NODROP, Linux 5.5)"))
        }
        self.configuration = configuration
        self.channel = channel
        self.waker = waker
        self.counters = counters
        self.executor = executor
        local = executor.local
        waiters = WaiterTable(capacity: configuration.requestCapacity)
        // Both queues grow on demand (at most to the request capacity).
        readyQueue = RingBuffer(capacity: Int(configuration.size))
        pendingCancels = RingBuffer(capacity: Int(configuration.size))
        wheel = TimingWheel(tick: configuration.timeoutWheelTick, horizon: configuration.timeoutWheelHorizon, origin: .now)
        metrics = LoopMetrics(name: configuration.threadName)
        spinner = IdleSpinner(minimum: configuration.idleSpin)
        // Measuring needs DEFER_TASKRUN (otherwise any enter may post earlier
        // completions); an IOPOLL ring finds completions only by polling in
        // an enter with GETEVENTS, which a measured enter leaves out.
        pacer = ReadPacer(enabled: configuration.pacesDeviceReads && flags.contains(.deferTaskRun) && !configuration.ioPoll)
        drainedRequests.reserveCapacity(Int(configuration.size))
    }

    // MARK: - The loop

    private func run() {
        curing_set_current_loop(executor.router.identity)
        while true {
            reap()
            runJobs()
            advanceTimeouts()
            let pass = stage()
            publishStatistics()
            if pass.channelFinished {
                let now = ContinuousClock.now
                if shutdownStarted == nil { shutdownStarted = now }
                // From now on, tasks on this thread get `.shutdown` too.
                local.isClosing = true
                // A shutdown drains I/O, not computation: jobs still queued
                // (a task that only yields, an actor called in a loop) would
                // keep coming forever, so they do not hold the loop. They
                // carry on elsewhere, below, as every later job does.
                if waiters.isEmpty && local.directRequests.isEmpty { break }
                if let limit = configuration.shutdownTimeout, now - shutdownStarted! >= limit {
                    abandonRemaining()
                    break
                }
            }
            wait(after: pass)
        }
        // Jobs that still arrive (or wait) run elsewhere: a task that had
        // this loop as its preference continues on the global executor, an
        // actor on the orphan thread (see `LoopJobRouter`).
        curing_set_current_loop(nil)
        local.directRequests.removeAll { $0.fail($0.error(for: .shutdown)) }
        let serial = executor.serialExecutor
        for job in channel.terminate() { LoopJobRouter.runElsewhere(job, serial: serial) }
        local.jobs.removeAll { LoopJobRouter.runElsewhere($0, serial: serial) }
        publishStatistics()
    }

    /// Runs the jobs queued when the batch starts (at most
    /// `configuration.jobBatch`); jobs they enqueue wait for the next pass,
    /// so completions are reaped between batches and never starve.
    private func runJobs() {
        var budget = min(local.jobs.count, configuration.jobBatch)
        guard budget > 0 else { return }
        let serial = executor.asUnownedSerialExecutor()
        let task = executor.asUnownedTaskExecutor()
        while budget > 0, let next = local.jobs.popFirst() {
            // See `LoopJob`: an actor's job runs isolated to the loop, a
            // task's job only on it.
            if next.isolated {
                next.job.runSynchronously(on: serial)
            } else {
                next.job.runSynchronously(on: task)
            }
            budget -= 1
            local.jobsRun += 1
        }
    }

    /// What staging left behind, for the wait decision.
    private struct Pass {
        /// Cancels or ready requests that did not fit in the SQ.
        var localWorkLeft = false
        /// The waiter table is full.
        var atCapacity = false
        /// The submitted sequence this pass accounted for.
        var expectedSeq: UInt64 = 0
        /// Closed, with no queued or parked requests left.
        var channelFinished = false
        /// Some caller was resumed since the previous pass.
        var resumedCallers = false
    }

    private func wait(after pass: Pass) {
        if pass.localWorkLeft || (processedSeq != pass.expectedSeq && !pass.atCapacity) {
            enter(wait: false)
            return
        }
        // Staged SQEs are submitted without sleep intent first: many complete
        // inline (NOPs, page-cache hits), and a producer publishing during
        // that syscall should not pay for an eventfd write the loop does not
        // need. The next pass reaps them and decides whether to sleep.
        if ring.submissionQueue.count > 0 && !pass.atCapacity {
            enter(wait: false)
            return
        }
        // Callers resumed in this pass usually come back soon with their next
        // request, and in-flight I/O may complete any moment. Yielding the
        // CPU for a while first (see `IdleSpinner` for how long) is far
        // cheaper than an eventfd write and a cross-CPU wake. Only after a
        // pass that resumed someone, so an idle loop still sleeps at once.
        var sleptSince: ContinuousClock.Instant?
        if pass.resumedCallers && spinner.budget > .zero {
            let expected = pass.expectedSeq
            if spinner.spin(until: { waker.submitted() != expected || ring.hasPendingCompletions }) {
                return
            }
            sleptSince = .now
        }
        // With nothing the kernel could complete (no request held, nothing
        // staged or posted), only a producer can give the loop work: it
        // sleeps on the Waker's futex, whose wake skips the eventfd's poll
        // CQE, its kernel task work and the acknowledging read.
        let sleep: Waker.Sleep = configuration.sleepsOnFutexWhenIdle && waiters.isEmpty && abandoned.isEmpty
            && ring.submissionQueue.count == 0 && !ring.hasPendingCompletions ? .futex : .ring
        let armed = waker.arm(sleep)
        if armed.sequence != pass.expectedSeq {
            enter(wait: false)
        } else if sleep == .futex {
            statistics.futexSleeps += 1
            waker.sleepOnFutex(armed, timeout: sleepLimit())
        } else {
            enter(wait: true)
        }
        waker.disarm()
        if let sleptSince { spinner.woke(after: .now - sleptSince) }
    }

    private func enter(wait: Bool) {
        if !wait && ring.submissionQueue.unflushedCount == 0 && ring.submissionQueue.count == 0 {
            return
        }
        statistics.enterCalls += 1
        if let faults, faults.enter() != nil {
            // An injected EINTR/EAGAIN/EBUSY: like the real ones, the call
            // did nothing and the loop simply goes around again.
            return
        }
        var completedInline: Bool?
        do {
            if wait {
                if let timeout = sleepLimit() {
                    _ = try ring.submitAndWait(want: 1, timeout: timeout)
                } else {
                    _ = try ring.submitAndWait(want: 1)
                }
            } else if pacer.measuresNextEnter {
                // Reads go without GETEVENTS, so whatever the CQ gains was
                // done inside this call (see `ReadPacer`); completion work
                // already waiting is posted by the next enter.
                let before = ring.completionQueue.readyCount
                if case .submitted(let count) = try ring.submitWithoutCompletionWork(), count > 0 {
                    completedInline = ring.completionQueue.readyCount != before
                }
            } else {
                _ = try ring.submit()
            }
            pacer.entered(completedInline: completedInline)
        } catch {
            // io_uring_enter failing for real (not EINTR/EAGAIN/EBUSY/ETIME)
            // means the ring itself is broken: nothing can complete anymore.
            // EBADR too: the kernel dropped a CQE for want of memory, so
            // some caller, no one can tell which, would never be answered;
            // io_uring_enter(2) advises ending unless any CQE may be lost.
            preconditionFailure("io_uring_enter failed on the loop's own ring: \(error)")
        }
    }

    /// How long a sleep may last: until the next deadline, or what is left
    /// of a shutdown's timeout; nil for as long as it takes.
    private func sleepLimit() -> Duration? {
        var timeout = wheel.nextDeadline()
        if let started = shutdownStarted, let limit = configuration.shutdownTimeout {
            let left = max(limit - (ContinuousClock.now - started), .zero)
            timeout = min(timeout ?? left, left)
        }
        return timeout
    }

    // MARK: - Completions

    private func reap() {
        ring.completionQueue.forEach { completion in
            handle(completion)
        }
    }

    private func handle(_ completion: CompletionEntry) {
        if completion.userData == Waker.wakeUserData {
            statistics.wakeCompletions += 1
            // Multishot poll on an eventfd fails only if the kernel lacks it
            // (Linux < 5.13) or the descriptor is broken; either way no
            // producer could ever wake this loop again.
            precondition(completion.result >= 0,
                         "the loop's wake poll failed with \(IOError("poll", errno: completion.result)); multishot POLL_ADD needs Linux 5.13+")
            waker.acknowledge()
            if !completion.hasMore { wakePollNeeded = true }
            return
        }
        if WaiterID.decode(completion.userData).isCancel {
            let result = completion.result
            if result != 0 && result != -ENOENT && result != -EALREADY {
                IOLoop.logger.warning("unexpected ASYNC_CANCEL result", metadata: ["result": "\(result)"])
            }
            return
        }
        var result = completion.result
        if let faults, let request = waiters.request(for: completion.userData) {
            result = faults.completion(request.stepName, result)
        }
        switch waiters.complete(userData: completion.userData, result: result) {
        case .ignored:
            break
        case .again(let id):
            readyQueue.append(id)
        case .finished(let targetTick):
            if let targetTick { wheel.remove(tick: targetTick) }
            statistics.requestsCompleted += 1
        }
    }

    // MARK: - Deadlines

    private func advanceTimeouts() {
        guard wheel.storedCount > 0 else {
            wheelAligned = false
            return
        }
        wheel.advance(to: .now, into: &expired)
        wheelAligned = true
        for entry in expired where waiters.targetTick(of: entry.id) == entry.tick {
            // A deadline farther than the wheel reaches was scheduled at its
            // horizon: one not yet due goes back on the wheel, as far as it
            // now reaches, so no deadline fires early however far it is.
            if let deadline = waiters.deadline(of: entry.id), let tick = wheel.targetTick(for: deadline) {
                wheel.remove(tick: entry.tick)
                wheel.schedule(entry.id, at: tick)
                waiters.rescheduled(entry.id, at: tick)
                statistics.deadlinesRearmed += 1
            } else {
                cancel(entry.id, reason: .timeout)
            }
        }
        expired.removeAll(keepingCapacity: true)
    }

    /// Marks a waiter cancelled; in flight it gets an ASYNC_CANCEL, idle (in
    /// the ready queue) it ends when next staged.
    private func cancel(_ id: WaiterID, reason: CancelReason) {
        let (marked, targetTick) = waiters.markCancelled(id, reason: reason)
        guard marked else { return }
        if let targetTick { wheel.remove(tick: targetTick) }
        switch reason {
        case .timeout: statistics.timeouts += 1
        case .task, .shutdown: statistics.cancellations += 1
        case .abandoned: preconditionFailure("a shutdown's timeout ends requests in abandonRemaining, never through a cancel")
        }
        if waiters.isInFlight(id) { pendingCancels.append(id) }
    }

    // MARK: - Staging

    private func stage() -> Pass {
        var pass = Pass()
        pass.resumedCallers = statistics.requestsCompleted != completedAtLastPass
        completedAtLastPass = statistics.requestsCompleted
        if wakePollNeeded {
            guard waker.reinstall(into: &ring.submissionQueue) else {
                pass.localWorkLeft = true
                return pass
            }
            wakePollNeeded = false
        }
        while let id = pendingCancels.first {
            if waiters.isInFlight(id) {
                guard ring.push(.cancel(target: id.userData).userData(id.cancelUserData)) else { break }
            }
            _ = pendingCancels.popFirst()
        }
        while !ring.submissionQueue.isFull, let id = readyQueue.popFirst() {
            stageWaiter(id)
        }
        // Requests from tasks running on this thread: no channel, no sequence.
        while !waiters.isFull && !ring.submissionQueue.isFull, let request = local.directRequests.popFirst() {
            local.directSubmissions += 1
            admit(request)
        }

        let snapshot = waker.submitted()
        let budget = Int((snapshot &- processedSeq) & Waker.sequenceMask)
        let room = min(waiters.freeCount, ring.submissionQueue.freeCount)
        let drained = channel.drain(budget: budget, requestLimit: room, requests: &drainedRequests,
                                    cancellations: &drainedCancellations, jobs: &drainedJobs)
        processedSeq = (processedSeq &+ UInt64(drained.taken)) & Waker.sequenceMask
        statistics.channelMessages += UInt64(drained.taken)
        for job in drainedJobs { local.jobs.append(job) }
        drainedJobs.removeAll(keepingCapacity: true)
        if drained.promoted > 0 { waker.publish(count: UInt64(drained.promoted)) }
        for request in drainedRequests { admit(request) }
        drainedRequests.removeAll(keepingCapacity: true)
        for request in drainedCancellations {
            if let id = request.waiterID { cancel(id, reason: .task) }
        }
        drainedCancellations.removeAll(keepingCapacity: true)

        if drained.cancelsInFlight && !cancelsForShutdown {
            // Once: later admissions are refused in `admit`.
            cancelsForShutdown = true
            for id in waiters.cancellableUnmarked() { cancel(id, reason: .shutdown) }
        } else if drained.finished && !cancelledArmedAhead {
            // A draining shutdown still ends what was armed on nobody's
            // behalf: it would otherwise wait for a peer that may never
            // come. Once; the channel admits nothing more, and requests
            // from this thread are refused from now on (`isClosing`).
            cancelledArmedAhead = true
            for id in waiters.cancellableUnmarked(armedAheadOnly: true) { cancel(id, reason: .shutdown) }
        }

        pass.expectedSeq = (snapshot &+ UInt64(drained.promoted)) & Waker.sequenceMask
        pass.localWorkLeft = !pendingCancels.isEmpty || !readyQueue.isEmpty || !local.jobs.isEmpty
            || (!local.directRequests.isEmpty && !waiters.isFull)
        pass.atCapacity = waiters.isFull
        pass.channelFinished = drained.finished
        return pass
    }

    private func admit(_ request: Request) {
        if request.isCancelRequested
            || ((cancelsForShutdown || (cancelledArmedAhead && request.armedAhead)) && request.cancellable) {
            statistics.cancellations += 1
            statistics.requestsCompleted += 1
            request.fail(request.isCancelRequested ? CancellationError() : request.error(for: .shutdown))
            return
        }
        var targetTick: UInt64?
        if let deadline = request.deadline {
            if !wheelAligned {
                wheel.advance(to: .now, into: &expired)
                precondition(expired.isEmpty, "an unaligned wheel holds no deadlines")
                wheelAligned = true
            }
            guard let tick = wheel.targetTick(for: deadline) else {
                statistics.timeouts += 1
                statistics.requestsCompleted += 1
                request.fail(request.error(for: .timeout))
                return
            }
            targetTick = tick
        }
        let id = waiters.insert(request, targetTick: targetTick)
        if let targetTick { wheel.schedule(id, at: targetTick) }
        stageWaiter(id)
    }

    private func stageWaiter(_ id: WaiterID) {
        switch waiters.stage(id) {
        case .submit(let entry):
            let read = ReadPacer.isRead(entry.opcode)
            if read && pacer.submitsBeforeRead(staged: ring.submissionQueue.count) { submitPaced() }
            let pushed = ring.push(entry)
            precondition(pushed, "staged \(id) without room in the SQ")
            if read && pacer.pushedRead() { submitPaced() }
        case .ended(let targetTick):
            if let targetTick { wheel.remove(tick: targetTick) }
            statistics.requestsCompleted += 1
        }
    }

    /// Submits what is staged mid-pass, so reads reach the device in pairs
    /// (see `ReadPacer`).
    private func submitPaced() {
        statistics.pacedSubmissions += 1
        enter(wait: false)
    }

    // MARK: - Shutdown

    /// Requests abandoned by a loop whose ring broke while it waited for
    /// them (see `releaseAbandoned`), kept reachable, and so never freed,
    /// for the life of the process.
    private static let graveyard = Locked<[Request]>([])

    /// Ends every request still held with `.abandoned`. Those the kernel
    /// still has are kept in `abandoned` until their CQEs: an abandoned
    /// operation may still be running (an io-wq worker mid-read) and write
    /// into its request's buffer, so that memory must outlive it.
    private func abandonRemaining() {
        let held = waiters.count
        abandoned = waiters.abandonAll()
        // Their ids name no waiter now.
        readyQueue.removeAll { _ in }
        pendingCancels.removeAll { _ in }
        statistics.abandoned += UInt64(held)
        statistics.requestsCompleted += UInt64(held)
        IOLoop.logger.warning("shutdown timeout abandoned in-flight requests", metadata: ["count": "\(held)"])
    }

    /// Whether a shutdown abandoned requests the kernel still holds.
    private var holdsAbandonedRequests: Bool { !abandoned.isEmpty }

    /// After a shutdown abandoned requests: asks the kernel to cancel all of
    /// them and waits for each one's CQE, then lets it go. Its caller was
    /// answered already; what remains is the request's memory, freed here,
    /// and anything a late success created (an open's or accept's new
    /// descriptor), closed here. Runs on the loop thread after every caller
    /// was answered and the channel terminated, so nothing else reaches
    /// the ring. Returns once the kernel has given every request back, which
    /// an operation stuck in the kernel (a disk that never answers) may
    /// delay indefinitely: that keeps this thread, and the ring, waiting.
    private func releaseAbandoned() {
        var cancelPushed = false
        while true {
            // One cancel for everything, after whatever is still staged (the
            // kernel takes SQEs in order, so the cancel sees all of them).
            if !cancelPushed { cancelPushed = ring.push(.cancelAny().userData(WaiterID.cancelTag)) }
            ring.completionQueue.forEach { completion in
                // The wake poll's and the cancels' CQEs match nothing here.
                guard let request = abandoned.removeValue(forKey: completion.userData) else { return }
                var result = completion.result
                if let faults { result = faults.completion(request.stepName, result) }
                request.discardLateResult(result)
            }
            if abandoned.isEmpty { return }
            do {
                // Without the cancel queued yet, only make room in the SQ.
                _ = cancelPushed ? try ring.submitAndWait(want: 1) : try ring.submit()
            } catch {
                // The ring itself broke (see `enter`): no CQE can come, but
                // the kernel may still be using the memory.
                IOLoop.logger.error("releasing abandoned requests failed", metadata: ["error": "\(error)"])
                IOLoop.graveyard.withLock { $0.append(contentsOf: abandoned.values) }
                abandoned.removeAll()
                return
            }
        }
    }

    private func publishStatistics() {
        statistics.pendingRequests = UInt64(waiters.count)
        statistics.jobsRun = local.jobsRun
        statistics.directSubmissions = local.directSubmissions
        statistics.spinBackOffs = spinner.backOffs
        statistics.eventfdWrites = waker.ringCount
        statistics.futexWakes = waker.futexWakeCount
        counters.store(statistics)
        metrics.report(statistics)
    }
}
