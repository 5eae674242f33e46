// The loop as a task executor: jobs from anywhere run on the loop thread,
// requests from tasks already there skip the channel and the eventfd.
import CURing
import Glibc
import Testing
import URingTestSupport
import URing
@testable import URingLoop

@Suite struct ExecutorTests {
    @Test func jobsEnqueuedFromManyThreadsAllRun() async throws {
        let handle = try smallLoop()
        let ran = SharedCounter()
        let onLoop = SharedCounter()
        let executor = handle.executor
        try await within(300, "jobs from many tasks") {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        for _ in 0..<50 {
                            await withTaskExecutorPreference(executor) {
                                ran.increment()
                                if executor.isCurrent { onLoop.increment() }
                            }
                        }
                    }
                }
            }
        }
        #expect(ran.count == 64 * 50)
        #expect(onLoop.count == 64 * 50)
        await handle.shutdown()
        #expect(handle.statistics.jobsRun >= UInt64(64 * 50))
    }

    @Test func tasksOnTheLoopSubmitDirectly() async throws {
        let handle = try smallLoop()
        try await handle.nop()  // settle: the loop has run once
        let before = handle.statistics
        let count = 2000
        try await handle.run {
            precondition(handle.executor.isCurrent)
            for _ in 0..<count { try await handle.nop() }
            // Still on the loop thread after every resumption.
            #expect(handle.executor.isCurrent)
        }
        await handle.shutdown()  // statistics are final once the loop has exited
        let after = handle.statistics
        #expect(after.directSubmissions - before.directSubmissions == UInt64(count))
        #expect(after.requestsCompleted - before.requestsCompleted == UInt64(count))
        // Entering the loop took at most a couple of channel messages and
        // wakes (the hop onto the loop); the requests themselves took none.
        #expect(after.channelMessages - before.channelMessages <= 4)
        #expect(after.eventfdWrites - before.eventfdWrites <= 4)
        // One job per request (the resumed continuation): the hops that
        // nonisolated code makes after each await must not re-enqueue the
        // task (they did, eight times per request, while task jobs ran
        // isolated to the loop's serial executor).
        #expect(after.jobsRun - before.jobsRun <= UInt64(count) + 8)
    }

    @Test func directAndCrossThreadRequestsMixUnderLoad() async throws {
        let handle = try smallLoop(size: 32)
        let fd = try temporaryFile()
        defer { close(fd) }
        try await handle.write([UInt8](repeating: 0xAB, count: 65536), to: fd, at: 0)
        try await within(300, "mixed direct and cross-thread requests") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<32 {
                    let local = index % 2 == 0
                    group.addTask(executorPreference: local ? handle.executor : nil) {
                        for step in 0..<200 {
                            let bytes = try await handle.read(from: fd, at: UInt64((index * 7 + step) % 64) * 1024, count: 1024)
                            guard bytes.allSatisfy({ $0 == 0xAB }) else { throw IOError("verify", .corrupt("bad bytes")) }
                            if local { precondition(handle.executor.isCurrent) }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        await handle.shutdown()
        let statistics = handle.statistics
        #expect(statistics.directSubmissions >= 16 * 200)
        #expect(statistics.requestsCompleted >= 32 * 200)
    }

    @Test func shutdownWithJobsAndRequestsPendingAnswersEveryone() async throws {
        let handle = try smallLoop(size: 8)
        let finished = SharedCounter()
        let tasks = (0..<40).map { index in
            Task(executorPreference: index % 2 == 0 ? handle.executor : nil) {
                do {
                    for _ in 0..<100 { try await handle.nop() }
                } catch let error as IOError where error.reason == .shutdown {
                    // The loop went away mid-way: a clear error, not a hang.
                }
                finished.increment()
            }
        }
        await Task.yield()
        await handle.shutdown()
        try await within(300, "every task after shutdown") { for task in tasks { _ = await task.result } }
        #expect(finished.count == 40)
        // After the loop is gone, work that prefers its executor still runs.
        let ran = try await within(300, "a job after shutdown") {
            await withTaskExecutorPreference(handle.executor) { 42 }
        }
        #expect(ran == 42)
    }

    @Test func actorsCanLiveOnTheLoop() async throws {
        let handle = try smallLoop()
        let counter = LoopBoundCounter(executor: handle.executor)
        try await within(300, "actor calls") {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<20 { group.addTask { for _ in 0..<50 { await counter.increment() } } }
            }
        }
        #expect(await counter.value == 1000)
        #expect(await counter.ranOnLoop)
        await handle.shutdown()
    }
}

extension ExecutorTests {
    @Test func actorsOutliveTheirLoop() async throws {
        let handle = try smallLoop()
        let counter = LoopBoundCounter(executor: handle.executor)
        await counter.increment()
        #expect(await counter.ranOnLoop)
        await handle.shutdown()
        // The loop is gone; the actor still runs, one job at a time, off it.
        try await within(300, "actor calls after its loop exited") {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { for _ in 0..<25 { await counter.increment() } } }
            }
        }
        #expect(await counter.value == 201)
        #expect(await !counter.ranOnLoop)
        await counter.assertIsolated()
    }
}

extension ExecutorTests {
    @Test func actorCallsRacingShutdownAllComplete() async throws {
        // Many tasks call an actor on the loop while the loop shuts down:
        // jobs queued locally, in the channel, and sent after the exit must
        // each run exactly once, in the actor's isolation.
        for _ in 0..<5 {
            let handle = try smallLoop()
            let counter = LoopBoundCounter(executor: handle.executor)
            let calls = 16 * 40
            try await within(300, "actor calls across a shutdown") {
                await withTaskGroup(of: Void.self) { group in
                    for index in 0..<16 {
                        group.addTask(executorPreference: index % 2 == 0 ? handle.executor : nil) {
                            for _ in 0..<40 { await counter.increment() }
                        }
                    }
                    group.addTask {
                        await Task.yield()
                        await handle.shutdown()
                    }
                }
            }
            #expect(await counter.value == calls)
            await counter.assertIsolated()
        }
    }
}

extension ExecutorTests {
    @Test func isolationChecksFailOffTheLoop() async throws {
        // The runtime's isolation check (`checkIsolated`) must refuse a
        // thread that is neither the loop's nor the orphan thread running
        // the executor's job; the child process traps.
        await #expect(processExitsWith: .failure) {
            let handle = try smallLoop()
            handle.executor.serialExecutor.checkIsolated()
        }
    }
}

/// An actor whose serial executor is the loop.
actor LoopBoundCounter {
    nonisolated let executor: LoopExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    var value = 0
    var ranOnLoop = true

    init(executor: LoopExecutor) { self.executor = executor }

    func increment() {
        value += 1
        if !executor.isCurrent { ranOnLoop = false }
    }

    /// Shuts down `handle` (its own loop) from inside the actor.
    func shutDown(_ handle: Handle) async {
        await handle.shutdown()
    }

    /// The runtime's isolation check, through `LoopSerialExecutor.checkIsolated`.
    func assertIsolated() {
        executor.serialExecutor.preconditionIsolated()
    }
}

@Suite struct LoopGroupTests {
    @Test func groupSpreadsWorkAndPinsKeys() async throws {
        var configuration = LoopConfiguration()
        configuration.size = 16
        let group = try LoopGroup(count: 3, configuration: configuration)
        // Round-robin visits every loop.
        let picked = Set((0..<9).map { _ in ObjectIdentifier(group.next().executor) })
        #expect(picked.count == 3)
        // The counter wraps without ever giving an index out of range.
        #expect(LoopGroup.roundRobinIndex(pick: UInt.max, of: 3) == 0)
        #expect(LoopGroup.roundRobinIndex(pick: UInt.max &+ 1, of: 3) == 0)
        #expect(LoopGroup.roundRobinIndex(pick: UInt(Int.max) + 1, of: 3) == 2)
        // A key always maps to the same loop.
        for key in ["blob-1", "peer:9000", "x"] {
            let first = ObjectIdentifier(group.handle(for: key).executor)
            for _ in 0..<10 { #expect(ObjectIdentifier(group.handle(for: key).executor) == first) }
        }
        // Work spread over the group runs on each loop's own thread.
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for index in 0..<30 {
                let handle = group.handles[index % 3]
                tasks.addTask(executorPreference: handle.executor) {
                    for _ in 0..<20 { try await handle.nop() }
                    guard group.current?.executor === handle.executor else {
                        throw IOError("group", .corrupt("task left its loop"))
                    }
                }
            }
            try await tasks.waitForAll()
        }
        #expect(group.current.map { _ in true } == nil)
        await group.shutdown()
        for handle in group.handles {
            #expect(handle.statistics.directSubmissions == 200)
        }
    }
}

extension ExecutorTests {
    @Test func tasksThatOnlyComputeDoNotHoldShutdown() async throws {
        // A shutdown drains I/O, not computation: tasks that never stop
        // running on the loop (a ticker, an actor called in a loop) must
        // not keep it from exiting. They carry on elsewhere.
        let handle = try smallLoop()
        let counter = LoopBoundCounter(executor: handle.executor)
        let stop = SharedCounter()  // raised once: count 1
        let yielder = Task(executorPreference: handle.executor) {
            var turns = 0
            while stop.count == 0 {
                await Task.yield()
                turns += 1
            }
            return turns
        }
        let caller = Task {
            var calls = 0
            while stop.count == 0 {
                await counter.increment()
                calls += 1
            }
            return calls
        }
        while await counter.value < 100 { await Task.yield() }
        try await within(300, "a shutdown beside tasks that never stop") { await handle.shutdown() }
        // Both still run, now off the loop.
        let after = await counter.value
        while await counter.value < after + 100 { await Task.yield() }
        stop.increment()
        let turns = await yielder.value
        #expect(turns > 0)
        let calls = await caller.value
        let counted = await counter.value
        #expect(counted == calls)
        #expect(await !counter.ranOnLoop)
    }
}

extension ExecutorTests {
    @Test func aTaskOnTheLoopCanShutItDown() async throws {
        // The shutdown's caller runs on the very thread that must exit: it
        // suspends, the loop exits, and it resumes elsewhere.
        let handle = try smallLoop()
        let resumedOnLoop = try await within(300, "a shutdown from the loop's own thread") {
            try await handle.run { () async throws -> Bool in
                try await handle.nop()
                await handle.shutdown()
                return handle.executor.isCurrent
            }
        }
        #expect(!resumedOnLoop)
        #expect(handle.isTerminated)
        // An actor living on the loop can do the same.
        let other = try smallLoop()
        let counter = LoopBoundCounter(executor: other.executor)
        try await within(300, "a shutdown from an actor on the loop") {
            await counter.shutDown(other)
        }
        #expect(other.isTerminated)
        await counter.increment()
        #expect(await !counter.ranOnLoop)
    }
}
