// What a shutdown timeout leaves behind: the requests it abandons are
// answered at once (`.abandoned`), and their memory, and anything a late
// success creates, are released once the kernel gives them back.
import CURing
import Glibc
import Synchronization
import Testing
import URingTestSupport
import URing
@testable import URingLoop

@Suite struct AbandonedRequestTests {
    @Test func anAbandonedReceiveLetsGoOfItsBufferOnceTheKernelDoes() async throws {
        let handle = try smallLoop(shutdownTimeout: .milliseconds(20))
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        // Only the request holds the buffer once the caller is answered.
        let released = WeakBox<IOBuffer>()
        let receiver = Task {
            let buffer = IOBuffer(capacity: 64)
            released.object = buffer
            _ = try await handle.receive(from: right, into: buffer)
        }
        try await within(300, "the receive's admission") {
            while handle.statistics.pendingRequests == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        await handle.shutdown()
        await #expect(throws: IOError("recv", .abandoned)) { try await receiver.value }
        // The loop cancels it in the kernel and frees it at its CQE.
        try await within(300, "the abandoned receive's buffer to be freed") {
            while released.object != nil { try await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(handle.statistics.abandoned == 1)
    }

    @Test func aDescriptorOpenedAfterItsCallerWasAbandonedIsClosed() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let fifo = directory + "/fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        // An open with O_CREAT goes to a kernel worker, where opening a FIFO
        // to read waits for a writer: still in flight at the timeout. The
        // loop's cancel interrupts it (the kernel says -ERESTARTSYS); the
        // plan turns that late CQE into the success a slower cancel would
        // have met, with a pipe's read end as the new descriptor.
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let (readEnd, writeEnd) = (ends[0], ends[1])
        defer { close(writeEnd) }
        var configuration = LoopConfiguration()
        configuration.shutdownTimeout = .milliseconds(20)
        let handle = try IOLoop.start(configuration, faults: FaultPlan(completion: { operation, result in
            operation == "open" && result < 0 ? readEnd : result
        }))
        let opener = Task { try await handle.open(fifo, flags: O_RDONLY | O_CREAT) }
        try await within(300, "the open's admission") {
            while handle.statistics.pendingRequests == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        await handle.shutdown()
        // Named by its path, as every other error of a path request.
        await #expect(throws: IOError("open", .abandoned, context: fifo)) { try await opener.value }
        // Once the loop closes the read end, the pipe has no reader left.
        try await within(300, "the late descriptor to be closed") {
            while true {
                var entry = pollfd(fd: writeEnd, events: Int16(POLLOUT), revents: 0)
                if poll(&entry, 1, 0) == 1 && entry.revents & Int16(POLLERR) != 0 { return }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    @Test func receivesRacingTheirAbandonmentAreAnsweredOnceAndAllReleased() async throws {
        // Half the peers keep sending while the timeout abandons the
        // receives: theirs complete before it, between the abandonment and
        // the kernel's cancel (a late success, dropped) or are cancelled;
        // the silent half's are cancelled.
        let pairs = 64
        let handle = try smallLoop(size: UInt32(pairs), shutdownTimeout: .milliseconds(5))
        let sockets = try (0..<pairs).map { _ in try socketPair() }
        defer { for (left, right) in sockets { close(left); close(right) } }
        let buffers = (0..<pairs).map { _ in WeakBox<IOBuffer>() }
        let outcomes = SharedList<String>()
        let receivers = (0..<pairs).map { index in
            Task {
                let buffer = IOBuffer(capacity: 16)
                buffers[index].object = buffer
                do {
                    while true { _ = try await handle.receive(from: sockets[index].1, into: buffer) }
                } catch let error as IOError {
                    outcomes.append("\(error.reason)")
                } catch {
                    outcomes.append("\(error)")
                }
            }
        }
        let stop = Atomic<Bool>(false)
        let sender = Task.detached {
            var index = 0
            while !stop.load(ordering: .relaxed) {
                _ = send(sockets[index % pairs].0, "x", 1, Int32(MSG_DONTWAIT))
                index += 2
                if index % 64 == 0 { await Task.yield() }
            }
        }
        // More receives held than the sending half has: a silent one at
        // least is in the kernel when the shutdown begins.
        try await within(300, "the receives' admission") {
            while handle.statistics.pendingRequests <= UInt64(pairs / 2) { try await Task.sleep(for: .milliseconds(1)) }
        }
        try await Task.sleep(for: .milliseconds(5))
        await handle.shutdown()
        stop.store(true, ordering: .relaxed)
        await sender.value
        try await within(300, "every receiver's answer") { for receiver in receivers { await receiver.value } }
        let results = outcomes.all
        #expect(results.count == pairs)
        #expect(results.allSatisfy { ["abandoned", "shutdown"].contains($0) }, "\(Set(results))")
        #expect(handle.statistics.abandoned > 0)
        try await within(300, "every abandoned buffer to be freed") {
            while buffers.contains(where: { $0.object != nil }) { try await Task.sleep(for: .milliseconds(1)) }
        }
    }
}
