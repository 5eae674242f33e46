// The bounded threads that run blocking name lookups: a burst never runs on
// more than the limit, every caller is answered, lookups whose callers gave
// up before their turn are not run, and the threads leave when idle.
import Glibc
import Synchronization
import Testing
import URing
@testable import URingLoop

@Suite struct LookupThreadsTests {
    @Test func aBurstOfLookupsRunsOnAtMostTheLimitsThreads() async throws {
        let threads = LookupThreads(limit: 4)
        let gate = LookupGate()
        let answers = try await within(300, "twenty lookups through four threads") {
            try await withThrowingTaskGroup(of: [SocketAddress].self) { group in
                for index in 0..<20 {
                    group.addTask { try await HostLookup.run(host: "host-\(index)", deadline: nil, threads: threads, lookup: gate.lookup) }
                }
                while gate.running < 4 { try await Task.sleep(for: .milliseconds(1)) }
                gate.open()
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(answers.count == 20)
        #expect(answers.allSatisfy { $0.map(\.description) == ["10.0.0.1:0"] })
        #expect(gate.peak == 4, "the burst ran on \(gate.peak) threads at once")
        #expect(gate.ran.count == 20)
        try await within(300, "the idle threads to leave") {
            while threads.threadCount > 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
    }

    @Test func aLookupWhoseCallerGaveUpBeforeItsTurnIsNotRun() async throws {
        let threads = LookupThreads(limit: 1)
        let gate = LookupGate()
        let first = Task { try await HostLookup.run(host: "first", deadline: nil, threads: threads, lookup: gate.lookup) }
        try await within(300, "the first lookup to start") {
            while gate.running < 1 { try await Task.sleep(for: .milliseconds(1)) }
        }
        // Queued behind it: ten callers that are cancelled, one whose
        // deadline passes.
        let cancelled = (0..<10).map { index in
            Task { try await HostLookup.run(host: "cancelled-\(index)", deadline: nil, threads: threads, lookup: gate.lookup) }
        }
        for caller in cancelled { caller.cancel() }
        for caller in cancelled { await #expect(throws: CancellationError.self) { try await caller.value } }
        await #expect(throws: IOError("resolve", .timedOut, context: "late")) {
            try await HostLookup.run(host: "late", deadline: .now + .milliseconds(10), threads: threads, lookup: gate.lookup)
        }
        gate.open()
        _ = try await first.value
        _ = try await HostLookup.run(host: "after", deadline: nil, threads: threads, lookup: gate.lookup)
        #expect(gate.ran == ["first", "after"])
    }

    @Test func whenNoThreadCanStartTheQueuedCallersGetTheErrorUnlessOneRuns() async throws {
        // Only the first thread starts; every later start fails.
        let starts = Atomic<Int>(0)
        let threads = LookupThreads(limit: 4) { name, body throws(IOError) in
            if starts.wrappingAdd(1, ordering: .relaxed).newValue > 1 { throw IOError("pthread_create", errno: EAGAIN) }
            try LoopThread.spawn(name: name, body)
        }
        let gate = LookupGate()
        let first = Task { try await HostLookup.run(host: "first", deadline: nil, threads: threads, lookup: gate.lookup) }
        try await within(300, "the first lookup to start") {
            while gate.running < 1 { try await Task.sleep(for: .milliseconds(1)) }
        }
        // A thread runs: this lookup waits for it, though its own failed.
        let second = Task { try await HostLookup.run(host: "second", deadline: nil, threads: threads, lookup: gate.lookup) }
        try await within(300, "the second lookup's failed start") {
            while starts.load(ordering: .relaxed) < 2 { try await Task.sleep(for: .milliseconds(1)) }
        }
        gate.open()
        _ = try await first.value
        _ = try await second.value
        // None runs now: a caller whose thread cannot start gets the error.
        try await within(300, "the thread to leave") {
            while threads.threadCount > 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        await #expect(throws: IOError("pthread_create", errno: EAGAIN)) {
            try await HostLookup.run(host: "third", deadline: nil, threads: threads, lookup: gate.lookup)
        }
        #expect(gate.ran == ["first", "second"])
    }
}

/// A lookup that blocks its thread until the test opens the gate, and
/// records what ran and how many ran at once.
private final class LookupGate: Sendable {
    private let isOpen = Atomic<Bool>(false)
    private let state = Locked<(running: Int, peak: Int, ran: [String])>((0, 0, []))

    var running: Int { state.withLock { $0.running } }
    var peak: Int { state.withLock { $0.peak } }
    var ran: [String] { state.withLock { $0.ran } }

    func open() { isOpen.store(true, ordering: .releasing) }

    var lookup: @Sendable (String) -> Result<[SocketAddress], IOError> {
        { [self] host in
            state.withLock { state in
                state.running += 1
                state.peak = max(state.peak, state.running)
                state.ran.append(host)
            }
            while !isOpen.load(ordering: .acquiring) { usleep(1_000) }
            state.withLock { $0.running -= 1 }
            return .success([try! SocketAddress(host: "10.0.0.1", port: 0)])
        }
    }
}
