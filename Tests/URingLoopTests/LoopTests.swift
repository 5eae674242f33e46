// The loop end to end: round trips, many producers, deadlines, cancellation,
// capacity, short transfers and shutdown. Every wait is bounded.
import CURing
import Glibc
import Synchronization
import Testing
import URingTestSupport
import URing
@testable import URingLoop

@Suite struct LoopTests {
    @Test func nopRoundTripAndCounters() async throws {
        let handle = try smallLoop()
        for _ in 0..<10 { try await handle.nop() }
        await handle.shutdown()
        let statistics = handle.statistics
        #expect(statistics.requestsCompleted == 10)
        #expect(statistics.pendingRequests == 0)
        #expect(statistics.enterCalls >= 1)
        // A publish rings at most once, and only a ring produces wake CQEs
        // (the shutdown ring included).
        #expect(statistics.eventfdWrites <= 11)
        #expect(statistics.wakeCompletions <= statistics.eventfdWrites)
        #expect(handle.isTerminated)
    }

    @Test func manyProducersAllComplete() async throws {
        let tasks = 64
        let perTask = underThreadSanitizer ? 300 : 10_000
        let handle = try smallLoop(size: 256)
        let finished = SharedCounter()
        try await within(300, "\(tasks) x \(perTask) NOPs") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<tasks {
                    group.addTask {
                        for _ in 0..<perTask { try await handle.nop() }
                        finished.increment()
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(finished.count == tasks)
        // Statistics are published once per loop pass; after shutdown they are final.
        await handle.shutdown()
        let statistics = handle.statistics
        #expect(statistics.requestsCompleted == UInt64(tasks * perTask))
        // The loop went to sleep and was woken along the way, in its ring or
        // on its futex; a publish rings at most one doorbell (the shutdown
        // rings both).
        #expect(statistics.wakeCompletions + statistics.futexWakes > 0)
        #expect(statistics.eventfdWrites + statistics.futexWakes <= UInt64(tasks * perTask) + 2)
    }

    @Test func requestsMadeBeforeTheLoopThreadRunsAreServed() async throws {
        // `start` returns without waiting for the new thread: whatever is
        // asked of a loop at once waits in its channel until the thread has
        // enabled the ring. Each round starts its loops and uses them at
        // once; one is shut down and one dropped before any use.
        for round in 0..<(underThreadSanitizer ? 3 : 10) {
            let handles = try (0..<8).map { _ in try IOLoop.start() }
            let completed = try await within(300, "fresh loops, round \(round)") {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for handle in handles {
                        for _ in 0..<4 {
                            group.addTask {
                                for _ in 0..<50 { try await handle.nop() }
                                return 50
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
            }
            #expect(completed == 8 * 4 * 50)
            for handle in handles { await handle.shutdown() }
            for handle in handles { #expect(handle.statistics.requestsCompleted == 200) }
            let unused = try IOLoop.start()
            await unused.shutdown()
            await expectIOError(.shutdown) { try await unused.nop() }
            _ = try IOLoop.start()  // dropped: its loop ends on its own
        }
    }

    @Test func sleepingLoopIsWokenForEachRequest() async throws {
        // One request at a time, pausing so the loop goes back to sleep: each
        // request must wake it (a lost wake hangs, caught by `within`).
        let handle = try smallLoop()
        try await within(300, "sequential NOPs with idle gaps") {
            for _ in 0..<50 {
                try await handle.nop()
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        // Idle between them, it sleeps on its futex (nothing is in the
        // kernel): each wake is a FUTEX_WAKE, none an eventfd write.
        let statistics = handle.statistics
        #expect(statistics.futexWakes >= 1)
        #expect(statistics.futexWakes <= 50)
        #expect(statistics.eventfdWrites == 0)
        await handle.shutdown()
    }

    @Test func receiveThatNeverCompletesTimesOutAndFreesItsSlot() async throws {
        let handle = try smallLoop(size: 1)
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        await expectIOError(.timedOut) {
            _ = try await handle.receive(from: right, count: 8, deadline: .now + .milliseconds(30))
        }
        #expect(handle.statistics.timeouts == 1)
        // The only waiter slot is free again: more work gets through.
        try await within(300, "a request after the timeout") { try await handle.nop() }
        await expectIOError(.timedOut) {
            _ = try await handle.receive(from: right, count: 8, deadline: .now + .milliseconds(10))
        }
        await handle.shutdown()
    }

    @Test func aSendWithACompletionHandlerEndsExactlyOnceHereOrInTheHandler() async throws {
        let handle = try smallLoop()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        let outcomes = SharedList<String>()
        // Through the ring: nothing returned, each handler called once. One
        // buffer (a plain send) and several (sendmsg), in order.
        try await within(300, "the completion handlers") {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let one = handle.send([IOBuffer(bytes: [1, 2])], to: left, deadline: nil) { result in
                    outcomes.append((try? result.get()) != nil ? "one" : "one failed")
                }
                let two = handle.send([IOBuffer(bytes: [3]), IOBuffer(bytes: [4, 5])], to: left, deadline: nil) { result in
                    outcomes.append((try? result.get()) != nil ? "two" : "two failed")
                    done.resume()
                }
                #expect(one == nil && two == nil)
            }
        }
        #expect(outcomes.all == ["one", "two"])
        #expect(try await handle.receive(from: right, count: 5, exact: true) == [1, 2, 3, 4, 5])
        // What ends on this thread is returned and the handler never runs:
        // nothing to send; a socket that takes it all at once (readyFirst);
        // an attempt that fails (the peer is gone).
        let empty = handle.send([IOBuffer(bytes: [])], to: left, deadline: nil) { _ in outcomes.append("empty") }
        #expect(empty.map { (try? $0.get()) != nil } == true)
        let ready = handle.send([IOBuffer(bytes: [6]), IOBuffer(bytes: [7])], to: left, deadline: nil, readyFirst: true) { _ in
            outcomes.append("ready")
        }
        #expect(ready.map { (try? $0.get()) != nil } == true)
        #expect(try await handle.receive(from: right, count: 2, exact: true) == [6, 7])
        let (gone, goneWith) = try socketPair()
        defer { close(gone) }
        close(goneWith)
        let refused = handle.send([IOBuffer(bytes: [8])], to: gone, deadline: nil, readyFirst: true) { _ in outcomes.append("refused") }
        guard case .failure(let error as IOError)? = refused else {
            Issue.record("a send to a closed peer returned \(String(describing: refused))")
            return
        }
        #expect(error.errno == EPIPE)
        // A silent peer's deadline and a shut-down loop: the handler gets
        // the error, exactly once each.
        let full = IOBuffer(bytes: [UInt8](repeating: 7, count: 16 << 20))  // more than the socket holds
        let timedOut = try await within(300, "the timed-out send's handler") {
            await withCheckedContinuation { (done: CheckedContinuation<IOError.Reason?, Never>) in
                let returned = handle.send([full], to: left, deadline: .now + .milliseconds(50)) { result in
                    if case .failure(let error as IOError) = result { done.resume(returning: error.reason) } else { done.resume(returning: nil) }
                }
                #expect(returned == nil)
            }
        }
        #expect(timedOut == .timedOut)
        await handle.shutdown()
        let afterShutdown = handle.send([IOBuffer(bytes: [9])], to: left, deadline: nil) { result in
            if case .failure(let error as IOError) = result, error.reason == .shutdown { outcomes.append("shutdown") }
        }
        #expect(afterShutdown == nil)
        #expect(outcomes.all == ["one", "two", "shutdown"])
    }

    @Test func aCountNoMemoryCanHoldIsAnErrorNotACrash() async throws {
        // The calls that allocate for the caller take their count from
        // outside (a length a peer sent): one past any memory must fail
        // with ENOMEM, leaving the loop serving.
        let handle = try smallLoop()
        let fd = try temporaryFile()
        defer { close(fd) }
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        let impossible = 1 << 60
        await expectIOError(.errno(ENOMEM)) { _ = try await handle.read(from: fd, at: 0, count: impossible) }
        await expectIOError(.errno(ENOMEM)) { _ = try await handle.receive(from: right, count: impossible) }
        #expect(throws: IOError("recv", .errno(ENOMEM), context: "cannot allocate a buffer of \(impossible) bytes")) {
            try IOBuffer(capacity: impossible, orThrowFor: "recv")
        }
        try await handle.send([1, 2], to: left)
        #expect(try await handle.receive(from: right, count: 2, exact: true) == [1, 2])
        await handle.shutdown()
    }

    @Test func writingToAPipeWithoutAReaderIsEPIPENotSIGPIPE() async throws {
        // The kernel answers a write to a pipe whose reader is gone with
        // EPIPE and a SIGPIPE to the writing thread, the loop's when the
        // write completes inline: that signal would end the process.
        let handle = try smallLoop()
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        close(ends[0])
        defer { close(ends[1]) }
        await expectIOError(.errno(EPIPE)) { try await handle.write([1, 2, 3], to: ends[1], at: nil) }
        try await within(300, "a request after the EPIPE") { try await handle.nop() }
        await handle.shutdown()
    }

    /// Deadlines farther away than the timing wheel reaches (20 ms here)
    /// neither fire at its horizon nor wait a horizon too long: each is put
    /// back on the wheel until due. A receive whose data comes 150 ms in
    /// gets it (its deadline is the hang guard's, as far as a sanitizer's
    /// load may need); one that never gets data times out at 300 ms.
    @Test func deadlinesPastTheWheelsHorizonFireAtTheirTime() async throws {
        var configuration = LoopConfiguration()
        configuration.timeoutWheelTick = .milliseconds(1)
        configuration.timeoutWheelHorizon = .milliseconds(20)
        let handle = try IOLoop.start(configuration)
        let (left, right) = try socketPair()
        let (silentLeft, silentRight) = try socketPair()
        defer { [left, right, silentLeft, silentRight].forEach { close($0) } }

        async let received = handle.receive(from: right, count: 8, deadline: .now + .seconds(300))
        try await Task.sleep(for: .milliseconds(150))
        let bytes: [UInt8] = [7, 7]
        #expect(send(left, bytes, 2, 0) == 2)
        #expect(try await received == [7, 7])

        let started = ContinuousClock.now
        await expectIOError(.timedOut) {
            _ = try await handle.receive(from: silentRight, count: 8, deadline: started + .milliseconds(300))
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(300), "fired early, after \(waited)")
        await handle.shutdown()
        let statistics = handle.statistics
        #expect(statistics.deadlinesRearmed >= 10, "\(statistics)")
        #expect(statistics.timeouts == 1)
    }

    @Test func deadlineAlreadyPassedFailsAtOnce() async throws {
        let handle = try smallLoop()
        await expectIOError(.timedOut) { try await handle.nop(deadline: .now - .seconds(1)) }
        await handle.shutdown()
    }

    @Test func onlyCancellableReadsAreCancelledInFlight() async throws {
        let handle = try smallLoop(size: 4)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(readEnd); close(writeEnd) }
        // A read that opted out of in-flight cancellation waits out the
        // cancel and gets its bytes...
        let steadfast = Task { try await handle.read(from: readEnd, at: nil, count: 2, cancellable: false) }
        try await until("the request to be held by the loop") { handle.statistics.pendingRequests != 0 }
        steadfast.cancel()
        #expect(write(writeEnd, "ok", 2) == 2)
        #expect(try await steadfast.value == Array("ok".utf8))
        // ...while a default read on the same pipe is cancelled at once.
        // (Statistics are published once per pass: first see the finished
        // read gone, so the next count is this read in flight.)
        try await until("the loop to hold no request") { handle.statistics.pendingRequests == 0 }
        let cancellable = Task { try await handle.read(from: readEnd, at: nil, count: 2) }
        try await until("the request to be held by the loop") { handle.statistics.pendingRequests != 0 }
        cancellable.cancel()
        let outcome = await cancellable.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        // Neither kind is submitted once its task is already cancelled.
        let late = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await handle.read(from: readEnd, at: nil, count: 1, cancellable: false)
        }
        let lateOutcome = await late.result
        #expect(throws: CancellationError.self) { try lateOutcome.get() }
        await handle.shutdown()
    }

    @Test func cancellingTheCallerCancelsThePendingReceive() async throws {
        let handle = try smallLoop(size: 1)
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        let receiver = Task { try await handle.receive(from: right, count: 8) }
        // Wait (not sleep) until the receive is admitted, then cancel it.
        try await until("the request to be held by the loop") { handle.statistics.pendingRequests != 0 }
        receiver.cancel()
        let outcome = await receiver.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(handle.statistics.cancellations == 1)
        try await within(300, "a request after the cancellation") { try await handle.nop() }
        // Data sent now is not eaten by the cancelled receive.
        #expect(send(left, "x", 1, 0) == 1)
        let bytes = try await handle.receive(from: right, count: 1, exact: true)
        #expect(bytes == Array("x".utf8))
        await handle.shutdown()
    }

    @Test func alreadyCancelledTaskNeverSubmits() async throws {
        let handle = try smallLoop()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await handle.nop()
        }
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        await handle.shutdown()
    }

    @Test func fullQueueMakesProducersWaitThenProceed() async throws {
        // Two waiter slots, both held by receives; fifty NOPs must wait and
        // then all complete once the receives finish.
        let handle = try smallLoop(size: 2)
        let pairs = try (0..<2).map { _ in try socketPair() }
        defer { for (a, b) in pairs { close(a); close(b) } }
        let receivers = pairs.map { pair in Task { try await handle.receive(from: pair.1, count: 1, exact: true) } }
        try await until("both receives to be held by the loop") { handle.statistics.pendingRequests >= 2 }
        let done = SharedCounter()
        let nops = (0..<50).map { _ in
            Task {
                try await handle.nop()
                done.increment()
            }
        }
        await Task.yield()
        #expect(done.count == 0, "NOPs ran while every slot was taken")
        for (left, _) in pairs { #expect(send(left, "!", 1, 0) == 1) }
        for receiver in receivers {
            let bytes = try await receiver.value
            #expect(bytes == Array("!".utf8))
        }
        try await within(300, "parked NOPs") { for nop in nops { try await nop.value } }
        #expect(done.count == 50)
        await handle.shutdown()
    }

    @Test func shortWritesAndReadsContinue() async throws {
        // A pipe holds at most 4 KiB here, so a 256 KiB write and read both
        // proceed in many short steps.
        let handle = try smallLoop()
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        _ = fcntl(fds[1], 1031 /* F_SETPIPE_SZ */, 4096)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let payload = (0..<(256 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let reader = Task { try await handle.read(from: readEnd, at: nil, count: payload.count) }
        try await within(300, "short pipe transfer") { try await handle.write(payload, to: writeEnd, at: nil) }
        let received = try await reader.value
        #expect(received == payload)
        await handle.shutdown()
    }

    @Test func filesWriteReadSyncAndEndOfFile() async throws {
        let handle = try smallLoop()
        let fd = try temporaryFile()
        defer { close(fd) }
        try await handle.write([IOBuffer(bytes: Array("abc".utf8)), IOBuffer(bytes: []), IOBuffer(bytes: Array("defgh".utf8))],
                               to: fd, at: 4096)
        try await handle.sync(fd)
        try await handle.sync(fd, dataOnly: true)
        #expect(try await handle.read(from: fd, at: 4098, count: 4) == Array("cdef".utf8))
        // A pooled buffer is filled and handed back.
        let pool = BufferPool(bufferSize: 8)
        let buffer = try await handle.read(from: fd, at: 4096, into: pool.take())
        #expect(buffer.bytes == Array("abcdefgh".utf8))
        pool.recycle(buffer)
        #expect(pool.idleCount == 1)
        // Past the end is a distinct error.
        await expectIOError(.endOfFile) { _ = try await handle.read(from: fd, at: 4100, count: 16) }
        // Empty transfers need no kernel round trip and succeed.
        #expect(try await handle.read(from: fd, at: 0, count: 0) == [])
        try await handle.write([UInt8](), to: fd, at: 0)
        // One buffer: only its valid bytes are written, not its capacity.
        let partial = IOBuffer(capacity: 16)
        partial.assign(Array("XYZ".utf8))
        partial.count = 2
        try await handle.write(partial, to: fd, at: 4096)
        #expect(try await handle.read(from: fd, at: 4096, count: 4) == Array("XYcd".utf8))
        try await handle.write(IOBuffer(capacity: 8), to: fd, at: 0)
        await handle.shutdown()
    }

    @Test func truncateGoesThroughTheRingAndReportsTypedErrors() async throws {
        // Requests are counted from each loop's start and read once it has
        // exited, when its statistics are final.
        let ringTruncates = try Ring(entries: 2).probe().supports(.ftruncate)
        let fd = try temporaryFile()
        defer { close(fd) }
        let handle = try smallLoop()
        try await handle.write(Array("abcdefgh".utf8), to: fd, at: 0)
        try await handle.truncate(fd, to: 3)
        #expect(try await handle.read(from: fd, at: 0, count: 3) == Array("abc".utf8))
        await expectIOError(.endOfFile) { _ = try await handle.read(from: fd, at: 0, count: 4) }
        try await handle.truncate(fd, to: 6)
        #expect(try await handle.read(from: fd, at: 0, count: 6) == Array("abc".utf8) + [0, 0, 0])
        await handle.shutdown()
        // A write, three reads and both truncates on a kernel with
        // IORING_OP_FTRUNCATE; on an older one, only the first truncate's
        // attempt (its EINVAL sends the loop to the system call from then on).
        #expect(handle.statistics.requestsCompleted == (ringTruncates ? 6 : 5))

        // The descriptor's own faults are the kernel's errors, whichever
        // path ran; a length no file can have is refused before either.
        let errors = try smallLoop()
        await expectIOError(.errno(EBADF)) { try await errors.truncate(-1, to: 0) }
        let readOnly = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)
        try #require(readOnly >= 0)
        defer { close(readOnly) }
        await expectIOError(.errno(EINVAL)) { try await errors.truncate(readOnly, to: 0) }
        await expectIOError(.invalidArgument("length \(UInt64.max) is past the largest file size")) {
            try await errors.truncate(fd, to: .max)
        }
        try await errors.truncate(fd, to: 1)
        await errors.shutdown()
        // Three ring requests: that EINVAL was the descriptor's (the system
        // call failed too), so the last truncate still used the ring.
        #expect(errors.statistics.requestsCompleted == 3)
        var info = stat()
        #expect(fstat(fd, &info) == 0 && info.st_size == 1)
    }

    @Test func badArgumentsAndDescriptorsGetTypedErrors() async throws {
        let handle = try smallLoop()
        await expectIOError(.errno(EBADF)) { _ = try await handle.read(from: -1, at: 0, count: 4) }
        await expectIOError(.errno(EBADF)) { try await handle.write([1, 2], to: 9999, at: 0) }
        await expectIOError(.errno(EBADF)) { try await handle.sync(-1) }
        await expectIOError(.invalidArgument("5 bytes do not fit in a buffer of 4")) {
            _ = try await handle.read(from: 0, at: 0, into: IOBuffer(capacity: 4), count: 5)
        }
        do {
            _ = try await handle.read(from: 0, at: .max - 2, count: 4)
            Issue.record("offset overflow accepted")
        } catch let error as IOError {
            guard case .invalidArgument = error.reason else { Issue.record("\(error)"); return }
        }
        await expectIOError(.invalidArgument("negative byte count -1")) {
            _ = try await handle.receive(from: 0, count: -1)
        }
        // Nothing left in flight. The gauge is published at the end of the
        // loop's pass, which may come just after the last failed request
        // resumed its caller: wait for it to settle (a leaked waiter never
        // would; it read 1 once when read at once).
        try await until("the failed requests to leave nothing in flight", seconds: 300) { handle.statistics.pendingRequests == 0 }
        await handle.shutdown()
    }

    @Test func socketsThroughTheLoop() async throws {
        let handle = try smallLoop()
        let listener = socket(AF_INET, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = try SocketAddress(host: "127.0.0.1", port: 0)
        try withUnsafeMutablePointer(to: &address.storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                try #require(bind(listener, raw, address.length) == 0)
                try #require(getsockname(listener, raw, &address.length) == 0)
            }
        }
        try #require(listen(listener, 8) == 0)
        #expect(address.port != 0)
        #expect(address.description.hasPrefix("127.0.0.1:"))

        let client = socket(AF_INET, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0)
        try #require(client >= 0)
        async let accepted = handle.accept(on: listener)
        try await handle.connect(client, to: address)
        let server = try await accepted
        #expect(server.peer.host == "127.0.0.1")

        try await handle.send([IOBuffer(bytes: Array("he".utf8)), IOBuffer(bytes: Array("llo".utf8))], to: client)
        #expect(try await handle.receive(from: server.fd, count: 5, exact: true) == Array("hello".utf8))
        try await handle.send(IOBuffer(bytes: Array("one".utf8)), to: client)
        try await handle.send(IOBuffer(capacity: 4), to: client)  // empty: nothing to send
        #expect(try await handle.receive(from: server.fd, count: 3, exact: true) == Array("one".utf8))
        try await handle.close(client)
        // The peer's close is an empty at-most receive, and an exact one fails.
        #expect(try await handle.receive(from: server.fd, count: 5) == [])
        await expectIOError(.endOfFile) { _ = try await handle.receive(from: server.fd, count: 5, exact: true) }
        try await handle.close(server.fd)
        // A bad descriptor is a typed error. (Never close the same number
        // twice: a parallel test may already own it again.)
        await expectIOError(.errno(EBADF)) { try await handle.close(-1) }

        // Connecting to a closed port fails with the kernel's reason.
        let refused = socket(AF_INET, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0)
        defer { close(refused) }
        var closedPort = address
        closedPort = try SocketAddress(host: "127.0.0.1", port: 1)
        await expectIOError(.errno(ECONNREFUSED)) { try await handle.connect(refused, to: closedPort) }
        await handle.shutdown()
    }

    @Test func shutdownWithWorkInFlightAnswersEveryCaller() async throws {
        let handle = try smallLoop(size: 16)
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        let outcomes = SharedList<String>()
        let callers = (0..<200).map { index in
            Task {
                do {
                    if index == 0 {
                        _ = try await handle.receive(from: right, count: 4, deadline: .now + .milliseconds(50))
                    } else {
                        try await handle.nop()
                    }
                    outcomes.append("ok")
                } catch let error as IOError {
                    outcomes.append("\(error.reason)")
                }
            }
        }
        await handle.shutdown()
        try await within(300, "callers after shutdown") { for caller in callers { _ = await caller.result } }
        let results = outcomes.all
        #expect(results.count == 200)
        #expect(results.allSatisfy { ["ok", "shutdown", "timedOut"].contains($0) }, "\(Set(results))")
        await expectIOError(.shutdown) { try await handle.nop() }
    }

    @Test func shutdownTimeoutAbandonsWhatIsLeft() async throws {
        let handle = try smallLoop(shutdownTimeout: .milliseconds(20))
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        let receiver = Task { try await handle.receive(from: right, count: 4) }
        try await until("the request to be held by the loop") { handle.statistics.pendingRequests != 0 }
        await handle.shutdown()
        let outcome = await receiver.result
        #expect(throws: IOError("recv", .abandoned)) { try outcome.get() }
        #expect(handle.statistics.abandoned == 1)
    }

    @Test func aShutdownCancellingInFlightEndsReceivesThatWouldWaitForever() async throws {
        // One place: the first receive is admitted, the second parked. A
        // plain shutdown would wait for the silent peers forever; this one
        // ends both with .shutdown.
        let handle = try smallLoop(size: 1)
        let (left, right) = try socketPair()
        let (otherLeft, otherRight) = try socketPair()
        defer { for fd in [left, right, otherLeft, otherRight] { close(fd) } }
        let admitted = Task { try await handle.receive(from: right, count: 4) }
        try await within(300, "the first receive's admission") {
            while handle.statistics.pendingRequests == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        let parked = Task { try await handle.receive(from: otherRight, count: 4) }
        try await Task.sleep(for: .milliseconds(5))
        try await within(300, "a shutdown that cancels the silent receives") {
            await handle.shutdown(cancellingInFlight: true)
        }
        for outcome in [await admitted.result, await parked.result] {
            #expect(throws: IOError("recv", .shutdown)) { try outcome.get() }
        }
        #expect(handle.statistics.abandoned == 0)
    }

    @Test func aShutdownCancellingInFlightStillWaitsForUncancellableRequests() async throws {
        // `cancellable: false` (storage's file I/O) is never cancelled: the
        // shutdown waits until the read can complete, and it keeps its data.
        let handle = try smallLoop()
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let (readEnd, writeEnd) = (ends[0], ends[1])
        defer { close(readEnd); close(writeEnd) }
        let reader = Task { try await handle.read(from: readEnd, at: nil, count: 1, cancellable: false) }
        try await within(300, "the read's admission") {
            while handle.statistics.pendingRequests == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        let stopping = Task { await handle.shutdown(cancellingInFlight: true) }
        try await Task.sleep(for: .milliseconds(20))
        #expect(!handle.isTerminated)
        var byte: UInt8 = 42
        #expect(write(writeEnd, &byte, 1) == 1)
        try await within(300, "the shutdown after the read completed") { await stopping.value }
        #expect(try await reader.value == [42])
    }

    @Test func releasingTheLastHandleStopsTheLoop() async throws {
        var handle: Handle? = try smallLoop()
        try await handle!.nop()
        let termination = handle!.core.termination
        handle = nil
        try await within(300, "loop exit after the last handle") { await termination.wait() }
        #expect(termination.isOpen)
    }

    @Test func invalidConfigurationsAreRejected() throws {
        var configuration = LoopConfiguration()
        configuration.timeoutWheelTick = .zero
        #expect(throws: IOError.self) { try IOLoop.start(configuration) }
        configuration = LoopConfiguration()
        configuration.timeoutWheelHorizon = .zero
        #expect(throws: IOError.self) { try IOLoop.start(configuration) }
        configuration = LoopConfiguration()
        configuration.size = 40000
        #expect(throws: IOError.self) { try IOLoop.start(configuration) }
        configuration.size = 100
        #expect(try configuration.validated().size == 128)
        configuration = LoopConfiguration()
        configuration.requestCapacity = 0
        #expect(throws: IOError.self) { try IOLoop.start(configuration) }
        configuration.requestCapacity = LoopConfiguration.maximumRequestCapacity + 1
        #expect(throws: IOError.self) { try IOLoop.start(configuration) }
    }

    @Test func theLargestRingAndCapacityStart() async throws {
        // The completion queue sized from both must fit the kernel's limit.
        var configuration = LoopConfiguration()
        configuration.size = Ring.maximumEntries
        configuration.requestCapacity = LoopConfiguration.maximumRequestCapacity
        let handle = try IOLoop.start(configuration)
        try await within(300, "a NOP on the largest loop") { try await handle.nop() }
        await handle.shutdown()
    }

    @Test func moreRequestsInFlightThanTheCompletionQueueHoldsAllComplete() async throws {
        // 20,000 one-byte receives wait on one socket: more than the old
        // largest capacity (16,384), and far more than this loop's 64-entry
        // completion queue. One send answers them all at once, so the
        // kernel holds back most completions (NODROP) and the loop must
        // collect them over later enters: every receive gets its byte, and
        // together they got every byte sent.
        let count = 20_000
        var configuration = LoopConfiguration()
        configuration.size = 32
        configuration.requestCapacity = LoopConfiguration.maximumRequestCapacity
        configuration.completionQueueEntriesForTesting = 64
        let handle = try IOLoop.start(configuration)
        let (writer, reader) = try socketPair()
        defer { close(writer); close(reader) }
        let sent = (0..<count).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let received = try await within(300, "\(count) receives answered by one send") {
            try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<count {
                    group.addTask { try await handle.receive(from: reader, count: 1) }
                }
                while handle.statistics.pendingRequests < count { try await Task.sleep(for: .milliseconds(1)) }
                try await handle.send(sent, to: writer)
                var bytes: [UInt8] = []
                while let one = try await group.next() {
                    #expect(one.count == 1)
                    bytes += one
                }
                return bytes
            }
        }
        #expect(received.count == count)
        #expect(received.sorted() == sent.sorted())
        await handle.shutdown()
    }

    @Test func requestsPastTheSubmissionQueueStayAdmittedUpToTheCapacity() async throws {
        // A receive keeps its place until data comes. With 4 SQ entries and
        // room for 64 requests, 40 idle receives are all admitted and the
        // send that answers one of them still gets through; were capacity
        // the SQ's size, that send would queue behind them for good.
        var configuration = LoopConfiguration()
        configuration.size = 4
        configuration.requestCapacity = 64
        configuration.timeoutWheelTick = .milliseconds(1)
        let handle = try IOLoop.start(configuration)
        let pairs = try (0..<40).map { _ in try socketPair() }
        defer { for (left, right) in pairs { close(left); close(right) } }
        try await within(300, "40 idle receives, then the sends that answer them") {
            try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                for (index, pair) in pairs.enumerated() {
                    group.addTask { (index, try await handle.receive(from: pair.1, count: 1)) }
                }
                while handle.statistics.pendingRequests < 40 { try await Task.sleep(for: .milliseconds(1)) }
                try await handle.send([7], to: pairs[0].0)
                let first = try await group.next()
                #expect(first?.0 == 0 && first?.1 == [7])
                for (index, pair) in pairs.enumerated().dropFirst() {
                    try await handle.send([UInt8(index)], to: pair.0)
                }
                var answered = 1
                while let (index, bytes) = try await group.next() {
                    #expect(bytes == [UInt8(index)])
                    answered += 1
                }
                #expect(answered == 40)
            }
        }
        await handle.shutdown()
    }
}

@Suite struct LoopWakeAccountingTests {
    @Test(arguments: [true, false])
    func armedIdleLoopIsWokenExactlyOncePerPublish(sleepsOnFutex: Bool) async throws {
        // An idle loop with no deadlines sleeps armed until a publish; each
        // request sent to it then costs exactly one doorbell: a FUTEX_WAKE
        // (no eventfd write, no wake CQE) when it holds nothing in the
        // kernel and may sleep on its futex, else one eventfd write, whose
        // wake CQE count follows.
        var configuration = LoopConfiguration()
        configuration.size = 8
        configuration.requestCapacity = 8
        configuration.sleepsOnFutexWhenIdle = sleepsOnFutex
        let handle = try IOLoop.start(configuration)
        let waker = handle.core.waker
        for round in 1...5 {
            try await until("the loop to arm before round \(round)", seconds: 300) { waker.isArmed }
            let before = handle.statistics
            try await handle.nop()
            let after = handle.statistics
            #expect(after.eventfdWrites == before.eventfdWrites + (sleepsOnFutex ? 0 : 1))
            #expect(after.futexWakes == before.futexWakes + (sleepsOnFutex ? 1 : 0))
        }
        await handle.shutdown()
        let statistics = handle.statistics
        if sleepsOnFutex {
            #expect(statistics.futexSleeps >= 5)
            // At most the shutdown's own eventfd write reached the ring.
            #expect(statistics.wakeCompletions <= 1)
        } else {
            #expect(statistics.futexSleeps == 0)
            #expect(statistics.wakeCompletions >= 5)
            #expect(statistics.wakeCompletions <= statistics.eventfdWrites)
        }
    }

    @Test func aLoopHoldingARequestInTheKernelSleepsInTheRing() async throws {
        // A receive waiting for data can complete while the loop sleeps, and
        // only a CQE would tell it: the loop must not sleep on its futex then.
        // A publish to it rings the eventfd, and the receive still completes
        // when its data comes.
        let handle = try smallLoop()
        let waker = handle.core.waker
        let (reader, writer) = try socketPair()
        defer { close(reader); close(writer) }
        let receive = Task { try await handle.receive(from: reader, count: 1) }
        try await until("the receive to be held and the loop armed", seconds: 60) {
            handle.statistics.pendingRequests == 1 && waker.armedSleep == .ring
        }
        let before = handle.statistics
        try await handle.nop()
        let after = handle.statistics
        #expect(after.eventfdWrites == before.eventfdWrites + 1)
        #expect(after.futexWakes == before.futexWakes)
        // Asleep in the ring again, the loop is woken by the receive's CQE.
        try await until("the loop to arm again", seconds: 60) { waker.armedSleep == .ring }
        var byte: UInt8 = 42
        #expect(write(writer, &byte, 1) == 1)
        let received = try await within(30, "the receive to complete") { try await receive.value }
        #expect(received == [42])
        await handle.shutdown()
    }

    @Test func aShutdownWakesALoopAsleepOnItsFutex() async throws {
        // The channel's close is no published message: it must still reach
        // a loop asleep on its futex, by shutdown() or by the last handle's
        // release, and the loop's thread must end.
        let handle = try smallLoop()
        try await handle.nop()
        try await until("the loop to sleep on its futex", seconds: 60) { handle.core.waker.armedSleep == .futex }
        await handle.shutdown()
        #expect(handle.isTerminated)

        let termination: Latch
        do {
            let released = try smallLoop()
            termination = released.core.termination
            try await released.nop()
            try await until("the second loop to sleep on its futex", seconds: 60) { released.core.waker.armedSleep == .futex }
        }
        // The last handle is gone with the scope.
        try await within(30, "the released loop's thread to end") { await termination.wait() }
    }

    @Test func publishesWhileTheLoopRunsRingNothing() throws {
        // The same Waker the loop uses: with sleep intent clear (the loop
        // running), any number of publishes writes nothing to the eventfd.
        let waker = try Waker()
        for _ in 0..<1000 { waker.publish() }
        #expect(waker.ringCount == 0)
        #expect(waker.submitted() == 1000)
        _ = waker.arm()
        waker.publish()
        waker.publish()
        #expect(waker.ringCount == 2)
    }
}

@Suite struct LoopRingModeTests {
    @Test func submissionQueuePollingLoopServesRequests() async throws {
        var configuration = LoopConfiguration()
        configuration.size = 16
        configuration.submissionPollIdle = .milliseconds(10)
        let handle = try IOLoop.start(configuration)
        let fd = try temporaryFile()
        defer { close(fd) }
        try await within(300, "requests through an SQPOLL ring") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        for step in 0..<50 {
                            try await handle.nop()
                            let offset = UInt64(index * 100 + step)
                            try await handle.write([UInt8(truncatingIfNeeded: step)], to: fd, at: offset)
                            let back = try await handle.read(from: fd, at: offset, count: 1)
                            guard back == [UInt8(truncatingIfNeeded: step)] else { throw IOError("verify", .corrupt("\(offset)")) }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        await handle.shutdown()
        #expect(handle.statistics.requestsCompleted == 8 * 50 * 3)
    }

    @Test func submissionPollIdleIsValidated() {
        var configuration = LoopConfiguration()
        configuration.submissionPollIdle = .microseconds(10)
        #expect(throws: IOError.self) { try IOLoop.start(configuration) }
    }
}

@Suite struct LoopSleepRaceTests {
    @Test func producersRaceALoopThatSwitchesBetweenItsTwoSleeps() async throws {
        // Producers pause at random between NOPs, so the loop keeps going to
        // sleep; a receive that times out over and over makes it hold a
        // request in the kernel some of the time (it sleeps in the ring)
        // and none at other times (on its futex). Every NOP must come back.
        // Which door each wake takes is up to the scheduler (under TSan a
        // run can go without a single eventfd wake): the tests above pin
        // each door down; this one asserts only that both kinds of time
        // came and that wakes happened.
        let handle = try smallLoop(size: 16)
        let (quiet, other) = try socketPair()
        defer { close(quiet); close(other) }
        let producers = 8
        let perProducer = underThreadSanitizer ? 30 : 300
        let done = SharedCounter()
        let stopFlipping = Latch()
        try await within(120, "\(producers) x \(perProducer) NOPs beside a flipping receive") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Nothing ever arrives: each receive ends at its deadline.
                    while !stopFlipping.isOpen {
                        await expectIOError(.timedOut) {
                            _ = try await handle.receive(from: quiet, count: 1, deadline: .now + .milliseconds(2))
                        }
                        try await Task.sleep(for: .microseconds(Int.random(in: 0...2000)))
                    }
                }
                for _ in 0..<producers {
                    group.addTask {
                        for _ in 0..<perProducer {
                            try await handle.nop()
                            try await Task.sleep(for: .microseconds(Int.random(in: 0...400)))
                        }
                        done.increment()
                        if done.count == producers { stopFlipping.open() }
                    }
                }
                try await group.waitForAll()
            }
        }
        await handle.shutdown()
        let statistics = handle.statistics
        #expect(done.count == producers)
        #expect(statistics.futexSleeps > 0)
        #expect(statistics.timeouts > 0)  // the receive was held, and timed out
        #expect(statistics.futexWakes + statistics.wakeCompletions > 0)
        #expect(statistics.pendingRequests == 0)
    }

    @Test func aShutdownRacesProducersAndSleeps() async throws {
        // Shutdowns that land while producers are mid-flight and the loop
        // is asleep in either place: every call returns exactly once, with
        // its NOP done or `.shutdown`, and the loop's thread ends.
        for round in 0..<(underThreadSanitizer ? 4 : 20) {
            // A draining shutdown would wait for the receive for ever: its
            // timeout abandons it.
            let handle = try smallLoop(size: 8, shutdownTimeout: .milliseconds(50))
            let (quiet, other) = try socketPair()
            let answered = SharedCounter()
            let calls = 6 * 40
            let receive = Task {
                // Held in the kernel (a ring sleep) until the shutdown cancels it.
                _ = try? await handle.receive(from: quiet, count: 1)
            }
            let producers = (0..<6).map { _ in
                Task {
                    for _ in 0..<40 {
                        do {
                            try await handle.nop()
                        } catch let error as IOError {
                            #expect(error.reason == .shutdown, "\(error)")
                        } catch {
                            Issue.record("unexpected \(error)")
                        }
                        answered.increment()
                        if Bool.random() { try? await Task.sleep(for: .microseconds(Int.random(in: 0...300))) }
                    }
                }
            }
            try await Task.sleep(for: .microseconds(Int.random(in: 0...3000)))
            await handle.shutdown(cancellingInFlight: Bool.random())
            try await within(60, "round \(round)'s producers and receive to end") {
                for producer in producers { await producer.value }
                await receive.value
            }
            #expect(answered.count == calls)
            #expect(handle.isTerminated)
            close(quiet)
            close(other)
        }
    }
}
