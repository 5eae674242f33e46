// The loop under injected faults: transient enter errors, retryable CQEs,
// short transfers at every byte boundary, I/O errors, cancel races. Every
// caller must hear back exactly once, with the right outcome, and no waiter
// slot may leak (pending returns to zero and the loop keeps serving).
import CURing
import Glibc
import Synchronization
import Testing
import URingTestSupport
import URing
@testable import URingLoop

/// Counts calls, shareable by Sendable fault closures.
private final class Calls: Sendable {
    private let value = Atomic<Int>(0)
    /// Returns the number of this call (0, 1, 2...).
    func next() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}

private func faultyLoop(size: UInt32 = 8, _ plan: FaultPlan) throws -> Handle {
    var configuration = LoopConfiguration()
    configuration.size = size
    configuration.requestCapacity = Int(size)
    configuration.timeoutWheelTick = .milliseconds(1)
    return try IOLoop.start(configuration, faults: plan)
}

/// After the faults, the loop must still have every slot: `size` concurrent
/// NOPs all complete.
private func expectAllSlotsFree(_ handle: Handle, size: Int = 8) async throws {
    try await within(300, "a full table of NOPs after the faults") {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<size { group.addTask { try await handle.nop() } }
            try await group.waitForAll()
        }
    }
}

/// Shuts down and checks the final statistics: nothing left pending.
private func shutdownLeavesNothingPending(_ handle: Handle) async {
    await handle.shutdown()
    #expect(handle.statistics.pendingRequests == 0)
    #expect(handle.statistics.abandoned == 0)
}

@Suite struct FaultInjectionTests {
    @Test func transientEnterErrorsAreRetried() async throws {
        let calls = Calls()
        let errors: [Int32] = [EINTR, EAGAIN, EBUSY]
        let handle = try faultyLoop(FaultPlan(enter: {
            let call = calls.next()
            return call % 2 == 0 ? errors[(call / 2) % 3] : nil
        }))
        let done = SharedCounter()
        try await within(300, "NOPs through failing enters") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        for _ in 0..<50 { try await handle.nop() }
                        done.increment()
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(done.count == 8)
        try await expectAllSlotsFree(handle)
        await shutdownLeavesNothingPending(handle)
        #expect(handle.statistics.requestsCompleted == 8 * 50 + 8)
    }

    @Test func retryableCompletionsAreResubmitted() async throws {
        // Every read's CQEs cycle -EAGAIN, -EINTR, real result.
        let calls = Calls()
        let handle = try faultyLoop(FaultPlan(completion: { operation, result in
            guard operation == "read" else { return result }
            switch calls.next() % 3 {
            case 0: return -EAGAIN
            case 1: return -EINTR
            default: return result
            }
        }))
        let fd = try temporaryFile()
        defer { close(fd) }
        let payload = (0..<64).map { UInt8($0) }
        try await handle.write(payload, to: fd, at: 0)
        for offset in 0..<16 {
            let bytes = try await handle.read(from: fd, at: UInt64(offset), count: 8)
            #expect(bytes == Array(payload[offset..<(offset + 8)]))
        }
        try await expectAllSlotsFree(handle)
        await shutdownLeavesNothingPending(handle)
    }

    @Test func shortReadsAndWritesAtEveryByteBoundary() async throws {
        let size = 16
        for boundary in 1..<size {
            // The first CQE of each read and write reports only `boundary`
            // bytes; the request must continue from there and end byte-exact.
            let firstOfRequest = Locked<Set<String>>([])
            let handle = try faultyLoop(FaultPlan(completion: { operation, result in
                guard result > Int32(boundary) else { return result }
                let first = firstOfRequest.withLock { $0.insert(operation).inserted }
                return first ? Int32(boundary) : result
            }))
            let fd = try temporaryFile()
            defer { close(fd) }
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 7 + boundary) }
            try await handle.write(payload, to: fd, at: 100)
            firstOfRequest.withLock { $0.removeAll() }
            let back = try await handle.read(from: fd, at: 100, count: size)
            #expect(back == payload, "boundary \(boundary)")
            var check = [UInt8](repeating: 0, count: size)
            #expect(pread(fd, &check, size, 100) == size)
            #expect(check == payload, "file content at boundary \(boundary)")
            // The same through the vectored path: three buffers, one empty,
            // so the cursor crosses a buffer edge at some boundaries.
            let vectored = payload.map { $0 ^ 0xFF }
            firstOfRequest.withLock { $0.removeAll() }
            try await handle.write([IOBuffer(bytes: vectored[..<5]), IOBuffer(bytes: []), IOBuffer(bytes: vectored[5...])],
                                   to: fd, at: 200)
            #expect(pread(fd, &check, size, 200) == size)
            #expect(check == vectored, "vectored file content at boundary \(boundary)")
            await shutdownLeavesNothingPending(handle)
        }
    }

    @Test func injectedIOErrorsReachTheCallerTyped() async throws {
        let fault = Locked<Int32>(0)
        let handle = try faultyLoop(FaultPlan(completion: { operation, result in
            let errno = fault.withLock { $0 }
            return errno != 0 && operation != "nop" ? -errno : result
        }))
        let fd = try temporaryFile()
        defer { close(fd) }
        for code in [EBADF, ENOSPC, EIO] {
            fault.withLock { $0 = code }
            await expectIOError(.errno(code)) { try await handle.write([1, 2, 3], to: fd, at: 0) }
            await expectIOError(.errno(code)) { _ = try await handle.read(from: fd, at: 0, count: 1) }
            await expectIOError(.errno(code)) { try await handle.sync(fd) }
        }
        fault.withLock { $0 = 0 }
        try await handle.write([9], to: fd, at: 0)
        #expect(try await handle.read(from: fd, at: 0, count: 1) == [9])
        try await expectAllSlotsFree(handle)
        await shutdownLeavesNothingPending(handle)
    }

    @Test func aRingWithoutFtruncateFallsBackToTheSystemCall() async throws {
        // Every ftruncate CQE says EINVAL, as a kernel before 6.9 answers an
        // opcode it does not know.
        let ringTruncates = Calls()
        let handle = try faultyLoop(FaultPlan(completion: { operation, result in
            guard operation == "ftruncate" else { return result }
            _ = ringTruncates.next()
            return -EINVAL
        }))
        let fd = try temporaryFile()
        defer { close(fd) }
        // The first truncate hears EINVAL, tries the system call, which
        // succeeds: the loop now knows its ring cannot truncate...
        try await handle.truncate(fd, to: 5)
        // ...so the next goes straight to the system call.
        try await handle.truncate(fd, to: 2)
        #expect(ringTruncates.next() == 1, "one ring attempt in all")
        var info = stat()
        #expect(fstat(fd, &info) == 0 && info.st_size == 2)
        try await expectAllSlotsFree(handle)
        await shutdownLeavesNothingPending(handle)
    }

    @Test func cancelRacesResolveExactlyOnce() async throws {
        // A receive that times out: its ASYNC_CANCEL races the operation.
        // (a) the operation's CQE is -ECANCELED: the caller gets .timedOut;
        // (b) the operation's CQE is a success that beat the cancel: the
        //     caller gets the data (its effect happened).
        let succeedInstead = Locked<Bool>(false)
        let handle = try faultyLoop(FaultPlan(completion: { operation, result in
            if operation == "recv" && result == -ECANCELED && succeedInstead.withLock({ $0 }) { return 3 }
            return result
        }))
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        await expectIOError(.timedOut) {
            _ = try await handle.receive(from: right, count: 3, deadline: .now + .milliseconds(20))
        }
        succeedInstead.withLock { $0 = true }
        // A loop that admits a request after its deadline (a sanitizer's
        // slowness) fails it at once, with no SQE and so no race to run:
        // try again until the race ran, and count those timeouts too.
        var bytes: [UInt8]?
        var attempts = 0
        while bytes == nil && attempts < 20 {
            attempts += 1
            do {
                bytes = try await handle.receive(from: right, count: 3, deadline: .now + .milliseconds(20))
            } catch let error as IOError where error.reason == .timedOut {}
        }
        #expect(bytes?.count == 3)
        // Task cancellation racing a completion behaves the same way.
        succeedInstead.withLock { $0 = false }
        let patience = ContinuousClock.now + .seconds(60)
        // Statistics are published once per loop pass: first see the earlier
        // receive gone, then this one admitted, before cancelling it.
        while handle.statistics.pendingRequests != 0 {
            try #require(ContinuousClock.now < patience)
            await Task.yield()
        }
        let receiver = Task { try await handle.receive(from: right, count: 3) }
        while handle.statistics.pendingRequests == 0 {
            try #require(ContinuousClock.now < patience)
            await Task.yield()
        }
        receiver.cancel()
        let outcome = await receiver.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        try await expectAllSlotsFree(handle)
        await shutdownLeavesNothingPending(handle)
        let statistics = handle.statistics
        #expect(statistics.timeouts == UInt64(1 + attempts))
        #expect(statistics.cancellations == 1)
    }
}
