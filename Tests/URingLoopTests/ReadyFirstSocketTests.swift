// Sends and receives that first try the socket on the caller's thread
// (`Handle.send`'s and `Handle.receive`'s `readyFirst`): what the socket can
// answer at once never reaches the ring, what must wait continues there
// where the attempt stopped, and everything else (errors, a closed peer, a
// cancelled task, a shut-down loop, a task on the loop's own thread) gets
// the answer the ring path gives.
import CURing
import Glibc
import Testing
import URing
@testable import URingLoop
import URingTestSupport

@Suite struct ReadyFirstSocketTests {
    /// Writes `bytes` to `fd` with a plain system call.
    static func put(_ bytes: [UInt8], on fd: Int32) throws {
        try #require(write(fd, bytes, bytes.count) == bytes.count)
    }

    /// Reads exactly `count` bytes from `fd` with plain system calls,
    /// failing (not hanging) when none come for 10 seconds.
    static func take(_ count: Int, from fd: Int32) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            try #require(poll(&ready, 1, 10_000) == 1, "no bytes after \(done) of \(count)")
            let result = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
            try #require(result > 0)
            done += result
        }
        return bytes
    }

    /// Waits until the call under test waits in the ring: what the test
    /// then puts on the socket must not reach the call's first attempt (a
    /// fixed sleep let a loaded machine start the call after it).
    static func untilWaitingInTheRing(_ handle: Handle) async throws {
        try await until("the call to wait in the ring") { handle.statistics.pendingRequests == 1 }
    }

    @Test func aReceiveTheSocketCanAnswerNeverReachesTheRing() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        try Self.put([1, 2, 3, 4, 5], on: left)
        let received = try await handle.receive(from: right, into: IOBuffer(capacity: 64), readyFirst: true)
        #expect(received.bytes == [1, 2, 3, 4, 5])
        #expect(handle.statistics.immediateReceives == 1)
        // The same receive without it goes through the ring.
        try Self.put([6, 7], on: left)
        #expect(try await handle.receive(from: right, into: IOBuffer(capacity: 64)).bytes == [6, 7])
        await handle.shutdown()
        #expect(handle.statistics.immediateReceives == 1)
        #expect(handle.statistics.requestsCompleted == 1)
    }

    @Test func aReceiveThatMustWaitGoesThroughTheRing() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        let receiving = Task { try await handle.receive(from: right, into: IOBuffer(capacity: 64), readyFirst: true).bytes }
        try await Self.untilWaitingInTheRing(handle)
        try Self.put([9, 8, 7], on: left)
        #expect(try await within(30, "the receive") { try await receiving.value } == [9, 8, 7])
        await handle.shutdown()
        #expect(handle.statistics.immediateReceives == 0)
        #expect(handle.statistics.requestsCompleted == 1)
    }

    @Test func anExactReceiveWaitsInTheRingOnlyForWhatIsMissing() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        try Self.put([1, 2, 3], on: left)
        let receiving = Task {
            try await handle.receive(from: right, into: IOBuffer(capacity: 8), exact: true, readyFirst: true).bytes
        }
        try await Self.untilWaitingInTheRing(handle)
        // Five more complete it; the three after them stay in the socket.
        try Self.put([4, 5, 6, 7, 8, 9, 10, 11], on: left)
        #expect(try await within(30, "the receive") { try await receiving.value } == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try Self.take(3, from: right) == [9, 10, 11])
        await handle.shutdown()
        #expect(handle.statistics.immediateReceives == 0)
        #expect(handle.statistics.requestsCompleted == 1)
    }

    @Test func aPeerThatClosedIsAnsweredAtOnce() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        try Self.put([1, 2, 3], on: left)
        try #require(shutdown(left, Int32(SHUT_WR)) == 0)
        // An exact receive the close cut short: the ring's error, naming
        // what came, from here.
        do {
            _ = try await handle.receive(from: right, into: IOBuffer(capacity: 8), exact: true, readyFirst: true)
            Issue.record("an exact receive cut short by the peer's close succeeded")
        } catch let error as IOError {
            #expect(error.reason == .endOfFile)
            #expect(error.context?.contains("peer closed after 3 of 8 bytes") == true, "\(error)")
        }
        // Then the end of the stream: no bytes, at once.
        let end = try await handle.receive(from: right, into: IOBuffer(capacity: 8), readyFirst: true)
        #expect(end.count == 0)
        await handle.shutdown()
        #expect(handle.statistics.immediateReceives == 1)
        #expect(handle.statistics.requestsCompleted == 0)
    }

    @Test func errorsAreTheOnesTheRingGives() async throws {
        let handle = try IOLoop.start()
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        try Self.put([1], on: ends[1])
        for readyFirst in [true, false] {
            await expectIOError(.errno(ENOTSOCK)) {
                _ = try await handle.receive(from: ends[0], into: IOBuffer(capacity: 8), readyFirst: readyFirst)
            }
            await expectIOError(.errno(ENOTSOCK)) {
                try await handle.send(IOBuffer(bytes: [1]), to: ends[1], readyFirst: readyFirst)
            }
        }
        // A peer that closed with bytes of ours unread resets the
        // connection: the kernel reports ECONNRESET once, then the end of
        // the stream, so the attempt must report it, not leave it to the
        // ring.
        for readyFirst in [true, false] {
            let (left, right) = try socketPair()
            defer { close(right) }
            try Self.put([1], on: right)
            close(left)
            await expectIOError(.errno(ECONNRESET)) {
                _ = try await handle.receive(from: right, into: IOBuffer(capacity: 8), readyFirst: readyFirst)
            }
        }
        // A peer that is gone: EPIPE both ways (MSG_NOSIGNAL: no SIGPIPE).
        let (left, right) = try socketPair()
        close(left)
        defer { close(right) }
        for readyFirst in [true, false] {
            await expectIOError(.errno(EPIPE)) {
                try await handle.send(IOBuffer(bytes: [1, 2]), to: right, readyFirst: readyFirst)
            }
        }
        await handle.shutdown()
        #expect(handle.statistics.immediateReceives == 0)
        #expect(handle.statistics.immediateSends == 0)
    }

    @Test func aCancelledTaskIsAnsweredAsByTheRingAndTakesNothing() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        try Self.put([1, 2], on: left)
        let outcome = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            do {
                _ = try await handle.receive(from: right, into: IOBuffer(capacity: 8), readyFirst: true)
                return "received"
            } catch is CancellationError {
                return "cancelled"
            } catch {
                return "\(error)"
            }
        }.value
        #expect(outcome == "cancelled")
        // The bytes are still there.
        #expect(try Self.take(2, from: right) == [1, 2])
        await handle.shutdown()
        #expect(handle.statistics.immediateReceives == 0)
    }

    @Test func aShutDownLoopRefusesAsTheRingWould() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        try Self.put([1, 2], on: left)
        await handle.shutdown()
        await expectIOError(.shutdown) {
            _ = try await handle.receive(from: right, into: IOBuffer(capacity: 8), readyFirst: true)
        }
        await expectIOError(.shutdown) { try await handle.send(IOBuffer(bytes: [3]), to: left, readyFirst: true) }
        #expect(try Self.take(2, from: right) == [1, 2])
        #expect(handle.statistics.immediateReceives == 0)
        #expect(handle.statistics.immediateSends == 0)
    }

    @Test func onTheLoopsOwnThreadTheRingAnswers() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        try Self.put([4, 2], on: left)
        let received = try await Task(executorPreference: handle.executor) {
            let buffer = try await handle.receive(from: right, into: IOBuffer(capacity: 8), readyFirst: true)
            try await handle.send(IOBuffer(bytes: [7]), to: right, readyFirst: true)
            return buffer.bytes
        }.value
        #expect(received == [4, 2])
        #expect(try Self.take(1, from: left) == [7])
        await handle.shutdown()
        #expect(handle.statistics.immediateReceives == 0)
        #expect(handle.statistics.immediateSends == 0)
        #expect(handle.statistics.requestsCompleted == 2)
    }

    @Test func aSendThatFitsNeverReachesTheRing() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        try await handle.send(IOBuffer(bytes: [1, 2, 3]), to: left, readyFirst: true)
        try await handle.send([IOBuffer(bytes: [4]), IOBuffer(bytes: []), IOBuffer(bytes: [5, 6])], to: left, readyFirst: true)
        #expect(try Self.take(6, from: right) == [1, 2, 3, 4, 5, 6])
        await handle.shutdown()
        #expect(handle.statistics.immediateSends == 2)
        #expect(handle.statistics.requestsCompleted == 0)
    }

    @Test func aSendLargerThanTheSocketTakesContinuesInTheRing() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try socketPair()
        defer { close(left); close(right) }
        var size: Int32 = 16 << 10
        try #require(setsockopt(left, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size)) == 0)
        let halves = [(0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) },
                      (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13) }]
        // Nobody reads yet: the attempt fills the socket and the ring waits
        // for room for the rest.
        let sending = Task { try await handle.send(halves.map { IOBuffer(bytes: $0) }, to: left, readyFirst: true) }
        try await Self.untilWaitingInTheRing(handle)
        let received = try await within(60, "the reader") { try Self.take(2 << 20, from: right) }
        try await within(60, "the send") { try await sending.value }
        #expect(firstDifference(received, halves[0] + halves[1]) == nil)
        await handle.shutdown()
        #expect(handle.statistics.immediateSends == 0)
        #expect(handle.statistics.requestsCompleted == 1)
    }

    // MARK: - Datagrams

    /// A connected pair of Unix domain datagram sockets.
    static func datagramPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, CURING_SOCK_DGRAM | CURING_SOCK_CLOEXEC, 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    @Test func datagramsTheSocketHoldsNeverReachTheRing() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try Self.datagramPair()
        defer { close(left); close(right) }
        for datagram in [[1], [2, 2], [3, 3, 3]] as [[UInt8]] { try Self.put(datagram, on: left) }
        let one = IOBuffer(capacity: 16)
        _ = try await handle.receiveDatagram(on: right, into: one, readyFirst: true)
        #expect(one.bytes == [1])
        let buffers = (0..<4).map { _ in IOBuffer(capacity: 16) }
        let batch = try await handle.receiveDatagrams(on: right, into: buffers, readyFirst: true)
        #expect(batch.senders.count == 2)
        #expect(batch.trailingError == nil)
        #expect(buffers.prefix(2).map(\.bytes) == [[2, 2], [3, 3, 3]])
        #expect(handle.statistics.immediateReceives == 2)
        // Nothing held: the batch waits in the ring for its first.
        let waiting = Task { try await handle.receiveDatagrams(on: right, into: buffers, readyFirst: true).senders.count }
        try await Self.untilWaitingInTheRing(handle)
        try Self.put([4], on: left)
        #expect(try await within(30, "the batch") { try await waiting.value } == 1)
        #expect(buffers[0].bytes == [4])
        await handle.shutdown()
        #expect(handle.statistics.immediateReceives == 2)
        #expect(handle.statistics.requestsCompleted == 1)
    }

    @Test func aDatagramTooLongIsReportedAsTheRingReportsIt() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try Self.datagramPair()
        defer { close(left); close(right) }
        for readyFirst in [true, false] {
            try Self.put([UInt8](repeating: 9, count: 100), on: left)
            do {
                _ = try await handle.receiveDatagram(on: right, into: IOBuffer(capacity: 10), readyFirst: readyFirst)
                Issue.record("a datagram longer than the buffer was received")
            } catch let error as IOError {
                #expect(error.errno == EMSGSIZE)
                #expect(error.context?.contains("a datagram of 100 bytes") == true, "\(error)")
            }
        }
        // In a batch, after a first that fits: the first, and the error.
        try Self.put([1], on: left)
        try Self.put([UInt8](repeating: 9, count: 100), on: left)
        let buffers = (0..<3).map { _ in IOBuffer(capacity: 10) }
        let batch = try await handle.receiveDatagrams(on: right, into: buffers, readyFirst: true)
        #expect(batch.senders.count == 1)
        #expect(buffers[0].bytes == [1])
        #expect(batch.trailingError?.errno == EMSGSIZE)
        await handle.shutdown()
        #expect(handle.statistics.requestsCompleted == 1)
    }

    @Test func aDatagramSendWaitsInTheRingOnlyForRoom() async throws {
        let handle = try IOLoop.start()
        let (left, right) = try Self.datagramPair()
        defer { close(left); close(right) }
        try await handle.sendDatagram(IOBuffer(bytes: [5, 6]), on: left, readyFirst: true)
        #expect(try Self.take(2, from: right) == [5, 6])
        #expect(handle.statistics.immediateSends == 1)
        // Fill the receiver's queue: the next send waits in the ring.
        var queued = 0
        while send(left, [7], 1, Int32(MSG_DONTWAIT)) == 1 { queued += 1 }
        try #require(errno == EAGAIN && queued > 0)
        let sending = Task { try await handle.sendDatagram(IOBuffer(bytes: [8]), on: left, readyFirst: true) }
        try await Self.untilWaitingInTheRing(handle)
        for _ in 0..<queued { #expect(try Self.take(1, from: right) == [7]) }
        try await within(30, "the send") { try await sending.value }
        #expect(try Self.take(1, from: right) == [8])
        await handle.shutdown()
        #expect(handle.statistics.immediateSends == 1)
        #expect(handle.statistics.requestsCompleted == 1)
    }

    @Test func aDatagramSendsErrorIsTheRingsOwn() async throws {
        let handle = try IOLoop.start()
        for readyFirst in [true, false] {
            // A fresh pair each time: the refusal disconnects the socket.
            let (left, right) = try Self.datagramPair()
            close(right)
            defer { close(left) }
            do {
                try await handle.sendDatagram(IOBuffer(bytes: [1]), on: left, readyFirst: readyFirst)
                Issue.record("a send to a closed peer succeeded")
            } catch let error as IOError {
                #expect(error.errno == ECONNREFUSED, "\(error)")
                #expect(error.context?.contains("a datagram of 1 bytes") == true, "\(error)")
            }
        }
        await handle.shutdown()
        #expect(handle.statistics.immediateSends == 0)
    }
}
