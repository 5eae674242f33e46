// A process whose global executor is a LoopGroup, checked step by step.
//
// A takeover lasts for the life of its process, so it cannot be tested
// inside the test binary without moving every other test onto the loops.
// `GlobalExecutorTests` runs this program instead and reads the report it
// writes: the names of the checks that passed, in order. Any failed check
// exits 1 with what went wrong; `alarm` turns a hang into a failure.
import Glibc
import Synchronization
import URing
import URingLoop
import URingNetwork
import URingStorage

alarm(240)
guard CommandLine.arguments.count == 2 else { fail("usage: GlobalExecutorProbe REPORT") }
let reportPath = CommandLine.arguments[1]
var passed: [String] = []

@MainActor func check(_ name: String, _ condition: Bool, _ detail: @autoclosure () -> String = "") {
    guard condition else { fail("\(name): \(detail())") }
    passed.append(name)
}

func fail(_ message: String) -> Never {
    let line = "GlobalExecutorProbe: FAIL \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

/// Which of `loops` the caller runs on, if any.
@Sendable func currentLoop(of loops: LoopGroup) -> ObjectIdentifier? {
    loops.current.map { ObjectIdentifier($0.executor) }
}

/// Starts `count` plain threads running `body(index)` and joins them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Work: @unchecked Sendable {
        // `@unchecked Sendable`: immutable after init, read by one thread.
        let body: @Sendable (Int) -> Void
        let index: Int
        init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        var thread = pthread_t()
        let work = Unmanaged.passRetained(Work(body, index)).toOpaque()
        guard pthread_create(&thread, nil, { context in
            let work = Unmanaged<Work>.fromOpaque(context!).takeRetainedValue()
            work.body(work.index)
            return nil
        }, work) == 0 else { fail("pthread_create") }
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// Counts calls and records whether each ran on a loop of the group.
actor Tally {
    var calls = 0
    var offLoop = 0
    func add(_ loops: LoopGroup) {
        calls += 1
        if loops.current == nil { offLoop += 1 }
    }
}

let loops = try LoopGroup(count: 2)
let home = loops.handles[0]

// 1. Before the takeover, an ordinary task runs on the runtime's pool.
check("before-install-off-loops", await Task.detached { currentLoop(of: loops) == nil }.value)

// 2. The takeover, and a second one refused whichever group asks.
try loops.unsafeInstallAsGlobalExecutor()
let other = try LoopGroup(count: 1)
for (name, group) in [("second-install-refused", other), ("repeat-install-refused", loops)] {
    do {
        try group.unsafeInstallAsGlobalExecutor()
        fail("\(name): a second takeover was accepted")
    } catch {
        check(name, error.reason == .invalidArgument("a loop group is already this process's global executor"), "\(error)")
    }
}
await other.shutdown()

// 3. Tasks started from many plain threads at once all run on the loops,
// spread over both.
let started = Locked<[Task<ObjectIdentifier?, Never>]>([])
onThreads(8) { _ in
    for _ in 0..<125 {
        let task = Task.detached { currentLoop(of: loops) }
        started.withLock { $0.append(task) }
    }
}
var seen: [ObjectIdentifier?] = []
for task in started.withLock({ $0 }) { seen.append(await task.value) }
check("tasks-from-threads-on-loops", seen.count == 1000 && seen.allSatisfy { $0 != nil },
      "\(seen.filter { $0 == nil }.count) of \(seen.count) ran off the loops")
check("tasks-spread-over-loops", Set(seen.compactMap { $0 }).count == loops.handles.count)

// 4. A plain task follows its I/O onto the loop that served it and from
// then on submits directly: no channel, no eventfd. (A cross-thread
// request can complete before its task has suspended; the task then simply
// goes on where it was, so arriving may take more than one request.)
@Sendable func arrive(at handle: Handle) async throws -> Bool {
    for _ in 0..<100 {
        try await handle.nop()
        if handle.executor.isCurrent { return true }
    }
    return false
}
let (stayed, direct) = try await Task.detached { () async throws -> (Bool, UInt64) in
    guard try await arrive(at: home) else { return (false, 0) }
    let before = home.statistics.directSubmissions
    var stayed = true
    for _ in 0..<2000 {
        try await home.nop()
        stayed = stayed && home.executor.isCurrent
    }
    // Published by the pass that staged each one, before it completed.
    return (stayed, home.statistics.directSubmissions - before)
}.value
check("task-follows-its-io", stayed)
check("requests-submitted-directly", direct == 2000, "\(direct) of 2000")

// Any loop keeps what its thread enqueues, in the group or not: a plain
// task follows its I/O to a loop of its own too.
let outsider = try IOLoop.start()
let followsOutsider = try await Task.detached { try await arrive(at: outsider) }.value
await outsider.shutdown()
check("task-follows-io-outside-the-group", followsOutsider)

// Child tasks begin where their parent runs (the documented stickiness).
let childrenAtHome = try await Task.detached { () async throws -> Bool in
    guard try await arrive(at: home) else { return false }
    return await withTaskGroup(of: Bool.self) { group in
        for _ in 0..<16 { group.addTask { home.executor.isCurrent } }
        return await group.reduce(true) { $0 && $1 }
    }
}.value
check("children-start-on-parents-loop", childrenAtHome)

// 5. Default actors run on the loops too, and keep their exclusion under
// contention from tasks on both loops.
let tally = Tally()
await Task.detached {
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<100 {
            group.addTask { for _ in 0..<100 { await tally.add(loops) } }
        }
    }
}.value
let (calls, offLoop) = (await tally.calls, await tally.offLoop)
check("actor-calls-all-counted", calls == 10_000, "\(calls)")
check("actor-runs-on-loops", offLoop == 0, "\(offLoop) calls off the loops")

// 6. A sleep resumes (on the runtime's timer thread), and I/O brings the
// task back onto a loop.
let backAfterSleep = try await Task.detached { () async throws -> Bool in
    try await Task.sleep(for: .milliseconds(2))
    return try await arrive(at: home)
}.value
check("sleep-then-back-on-loop", backAfterSleep)

// 7. A receive cancelled while the kernel holds it ends in
// CancellationError (a second resume would trap), on a loop of the group.
var pair: [Int32] = [0, 0]
guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else { fail("socketpair: errno \(errno)") }
let waiting = Task.detached { () async -> String in
    do {
        _ = try await home.receive(from: pair[0], count: 16)
        return "received"
    } catch is CancellationError {
        // On `home` if the task had suspended when the cancel completed it,
        // else on the loop it started on: a loop of the group either way.
        return currentLoop(of: loops) != nil ? "cancelled on loop" : "cancelled off loop"
    } catch {
        return "\(error)"
    }
}
// Wait until the receive is in the kernel, so the cancel races nothing.
while home.statistics.pendingRequests == 0 { await Task.yield() }
waiting.cancel()
let outcome = await waiting.value
check("cancel-mid-flight", outcome == "cancelled on loop", outcome)
close(pair[0])
close(pair[1])

// 8. A network and a storage on a second group, busy when that group shuts
// down (cancelling): tasks follow their I/O onto its loops, and when those
// exit, their jobs come back to the takeover's group. Every client and
// writer ends (no hang), with an answer it may give; every echo is exact;
// every write acknowledged before the shutdown reads back afterwards.
let second = try LoopGroup(count: 2)
let network = try Network(loops: second)
let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
let server = Task.detached {
    try? await listener.serve { _, sink, stream in
        while true { try await sink.send(try await stream.receive(exactly: 8)) }
    }
}
/// Whether `error` is an answer a connection or a blob may give when its
/// loops shut down under it (or its peer's did).
@Sendable func endsWithShutdown(_ error: any Error) -> Bool {
    guard let error = error as? IOError else { return false }
    return error.reason == .shutdown || error.reason == .endOfFile || error.errno == ECONNRESET || error.errno == EPIPE
}
let exchanges = Atomic<Int>(0)
let clients = (0..<16).map { client in
    Task.detached { () async -> String? in
        do {
            let (sink, stream) = try await network.dial(listener.localAddress)
            for round in 0... {
                let message = (0..<8).map { UInt8(truncatingIfNeeded: client &* 31 &+ round &+ $0) }
                try await sink.send(message)
                guard try await stream.receive(exactly: 8) == message else { return "client \(client): a wrong echo" }
                exchanges.wrappingAdd(1, ordering: .relaxed)
            }
            return nil
        } catch {
            return endsWithShutdown(error) ? nil : "client \(client): \(error)"
        }
    }
}
var template = Array("/tmp/uring-takeover-storage-XXXXXX".utf8CString)
guard let createdRoot = mkdtemp(&template) else { fail("mkdtemp: errno \(errno)") }
let root = String(cString: createdRoot)
let storage = try Storage(directory: root, loops: second)
let writes = Atomic<Int>(0)
/// Bit `writer` is set once that writer's first write was acknowledged (or
/// it failed first): the shutdown waits for all eight, so the check below
/// tests every writer (a total alone let one writer, slow to open its blob
/// on a loaded machine, reach the shutdown with nothing written).
let writersThatWrote = Atomic<Int>(0)
let writers = (0..<8).map { writer in
    Task.detached { () async -> (acknowledged: Int, failure: String?) in
        var acknowledged = 0
        do {
            let (blob, _, _) = try await storage.open(partition: "takeover", name: [UInt8(writer)])
            while true {
                try await blob.write([UInt8](repeating: UInt8(truncatingIfNeeded: acknowledged), count: 8),
                                     at: UInt64(acknowledged * 8), options: .dataSync)
                acknowledged += 1
                writes.wrappingAdd(1, ordering: .relaxed)
                writersThatWrote.bitwiseOr(1 << writer, ordering: .relaxed)
            }
        } catch {
            writersThatWrote.bitwiseOr(1 << writer, ordering: .relaxed)
            return (acknowledged, endsWithShutdown(error) ? nil : "writer \(writer): \(error)")
        }
    }
}
while exchanges.load(ordering: .relaxed) < 2_000 || writes.load(ordering: .relaxed) < 100
    || writersThatWrote.load(ordering: .relaxed) != 0xFF { await Task.yield() }
await second.shutdown(cancellingInFlight: true)
var failures: [String] = []
for task in clients { if let failure = await task.value { failures.append(failure) } }
var acknowledged: [Int] = []
for task in writers {
    let (count, failure) = await task.value
    acknowledged.append(count)
    if let failure { failures.append(failure) }
}
listener.close()
await network.shutdown()
await server.value
check("network-and-storage-across-a-group-shutdown", failures.isEmpty, "\(failures)")
let reopened = try Storage(directory: root)
var lost: [String] = []
for (writer, count) in acknowledged.enumerated() {
    let (blob, length, _) = try await reopened.open(partition: "takeover", name: [UInt8(writer)])
    guard length >= UInt64(count * 8) else { lost.append("writer \(writer): \(length) bytes for \(count) writes"); continue }
    let bytes = try await blob.read(at: 0, count: count * 8)
    for index in 0..<count where bytes[(index * 8)..<(index * 8 + 8)].contains(where: { $0 != UInt8(truncatingIfNeeded: index) }) {
        lost.append("writer \(writer): write \(index)")
    }
}
try await reopened.remove(partition: "takeover")
await reopened.shutdown()
rmdir(root)
check("acknowledged-writes-survive-the-shutdown", lost.isEmpty && acknowledged.allSatisfy { $0 > 0 }, "\(lost), \(acknowledged)")

// 9. Shutdown with work in flight: 64 tasks issuing requests on both loops
// each end with `.shutdown` (none hangs, none is resumed twice), including
// those whose last resumption comes after their loop has exited and so
// runs on the runtime's pool. Beside them, receives that time out or are
// cancelled mid-flight end once each, with an answer they may give; and an
// actor called from both loops throughout keeps its exclusion while its
// jobs move off the loops (a lost increment would show two jobs at once).
let progress = Atomic<Int>(0)
let busy = (0..<64).map { index in
    Task.detached { () async -> IOError.Reason? in
        let handle = loops.handles[index % loops.handles.count]
        while true {
            do {
                try await handle.nop()
                progress.wrappingAdd(1, ordering: .relaxed)
            } catch let error as IOError {
                return error.reason
            } catch {
                return nil
            }
        }
    }
}
let receivers = (0..<16).map { index in
    Task.detached { () async -> [String] in
        let handle = loops.handles[index % loops.handles.count]
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else { return ["socketpair: errno \(errno)"] }
        defer { close(pair[0]); close(pair[1]) }
        let silent = pair[0]
        var unexpected: [String] = []
        for round in 0... {
            // A silent peer: each receive ends by its deadline, its cancel
            // (half the rounds, after a few hops) or the shutdown.
            let receive = Task { () async -> String in
                do {
                    _ = try await handle.receive(from: silent, count: 16, deadline: .now + .microseconds(200 + 300 * (round % 7)))
                    return "received"
                } catch is CancellationError {
                    return "cancelled"
                } catch let error as IOError {
                    return error.reason == .timedOut ? "timed out" : error.reason == .shutdown ? "shutdown" : "\(error)"
                } catch {
                    return "\(error)"
                }
            }
            if round % 2 == 1 {
                for _ in 0..<(round % 5) { await Task.yield() }
                receive.cancel()
            }
            let outcome = await receive.value
            if outcome == "shutdown" { return unexpected }
            if outcome != "timed out" && outcome != "cancelled" { unexpected.append(outcome) }
        }
        return unexpected
    }
}
let stopCalling = Atomic<Bool>(false)
let shared = Tally()
let callers = (0..<8).map { _ in
    Task.detached { () async -> Int in
        var made = 0
        while !stopCalling.load(ordering: .relaxed) {
            await shared.add(loops)
            made += 1
        }
        return made
    }
}
while progress.load(ordering: .relaxed) < 20_000 { await Task.yield() }
await loops.shutdown()
var reasons: [IOError.Reason?] = []
for task in busy { reasons.append(await task.value) }
check("shutdown-ends-every-task", reasons.allSatisfy { $0 == .shutdown }, "\(reasons)")
var unexpectedReceives: [String] = []
for task in receivers { unexpectedReceives += await task.value }
check("receives-end-once-across-shutdown", unexpectedReceives.isEmpty, "\(unexpectedReceives)")
// Some calls after the loops are gone, on the runtime's own threads.
let callsAtShutdown = await shared.calls
while await shared.calls < callsAtShutdown + 1_000 { await Task.yield() }
stopCalling.store(true, ordering: .relaxed)
var made = 0
for task in callers { made += await task.value }
let counted = await shared.calls
check("actor-exclusion-across-shutdown", counted == made && made > callsAtShutdown, "counted \(counted) of \(made) calls")

// 10. With every loop gone, jobs go back to the runtime's own threads.
check("after-shutdown-off-loops", await Task.detached { currentLoop(of: loops) == nil }.value)

let report = passed.joined(separator: "\n") + "\n"
let fd = open(reportPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
guard fd >= 0, report.withCString({ write(fd, $0, strlen($0)) }) == report.utf8.count else { fail("cannot write \(reportPath)") }
close(fd)
print("GlobalExecutorProbe: \(passed.count) checks passed")
