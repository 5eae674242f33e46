// Datagram sends and receives at the loop's level: a send that finds its
// receiver's queue full waits in the ring for room and then sends the whole
// datagram (the kernel's own retry would send an empty one), a deadline
// ends that wait with nothing sent, a batch that waits for room sends each
// datagram once as room comes, and a receive reports its sender.
import CURing
import Glibc
import Testing
import URing
@testable import URingLoop
import URingTestSupport

@Suite struct DatagramRequestTests {
    /// A Unix domain datagram server at a fresh path and a client connected
    /// to it, whose queue at the server (a few datagrams) is already full.
    private func fullQueue() throws -> (server: Int32, client: Int32, queued: Int, path: String) {
        let directory = try temporaryDirectory()
        let path = "\(directory)/queue.sock"
        let server = socket(AF_UNIX, CURING_SOCK_DGRAM | CURING_SOCK_CLOEXEC, 0)
        let client = socket(AF_UNIX, CURING_SOCK_DGRAM | CURING_SOCK_CLOEXEC, 0)
        try #require(server >= 0 && client >= 0)
        var address = try SocketAddress(unixDomainSocketPath: path)
        try withUnsafePointer(to: &address.storage) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(server, $0, address.length) == 0)
                try #require(connect(client, $0, address.length) == 0)
            }
        }
        var queued = 0
        var byte: UInt8 = 1
        while Glibc.send(client, &byte, 1, Int32(MSG_DONTWAIT)) == 1 { queued += 1 }
        try #require(errno == EAGAIN && queued > 0)
        return (server, client, queued, path)
    }

    private func cleanUp(_ queue: (server: Int32, client: Int32, queued: Int, path: String)) {
        close(queue.server)
        close(queue.client)
        unlink(queue.path)
        rmdir(String(queue.path.dropLast("/queue.sock".count)))
    }

    private func receiveNow(_ fd: Int32) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 256)
        let count = recv(fd, &bytes, bytes.count, Int32(MSG_DONTWAIT))
        return count < 0 ? nil : Array(bytes.prefix(count))
    }

    @Test func aSendThatFindsNoRoomWaitsAndSendsTheWholeDatagram() async throws {
        let queue = try fullQueue()
        defer { cleanUp(queue) }
        let handle = try smallLoop()
        let client = queue.client
        let sending = Task { try await handle.sendDatagram(IOBuffer(bytes: [9, 8, 7, 6, 5]), on: client) }
        try await until("the send waits for room") { handle.statistics.pendingRequests == 1 }
        for _ in 0..<queue.queued { #expect(receiveNow(queue.server) == [1]) }
        try await sending.value
        var datagram: [UInt8]?
        for _ in 0..<1000 where datagram == nil {
            datagram = receiveNow(queue.server)
            if datagram == nil { try await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(datagram == [9, 8, 7, 6, 5])
        #expect(receiveNow(queue.server) == nil, "more than one datagram arrived")
        await handle.shutdown()
    }

    @Test func aDeadlineEndsTheWaitForRoomWithNothingSent() async throws {
        let queue = try fullQueue()
        defer { cleanUp(queue) }
        let handle = try smallLoop()
        await expectIOError(.timedOut) {
            try await handle.sendDatagram(IOBuffer(bytes: [9]), on: queue.client, deadline: .now + .milliseconds(50))
        }
        for _ in 0..<queue.queued { #expect(receiveNow(queue.server) == [1]) }
        try await Task.sleep(for: .milliseconds(20))
        #expect(receiveNow(queue.server) == nil, "a timed-out send still sent")
        await handle.shutdown()
    }

    @Test func aBatchThatFindsNoRoomSendsEveryDatagramOnceAsRoomComes() async throws {
        let queue = try fullQueue()
        defer { cleanUp(queue) }
        let count = min(3 * queue.queued + 5, 128)
        let handle = try smallLoop(size: 128)
        let client = queue.client
        let batch = (0..<count).map { OutgoingDatagram(IOBuffer(bytes: [2, UInt8($0)])) }
        let sending = Task { try await handle.sendDatagrams(batch, on: client) }
        try await until("the batch waits for room") { handle.statistics.pendingRequests == UInt64(count) }
        // Draining makes room a few datagrams at a time; each waiting send
        // takes it as it comes (in no set order: each polls on its own).
        var received: [[UInt8]] = []
        try await until("every datagram arrives") {
            while let datagram = receiveNow(queue.server) { received.append(datagram) }
            return received.count >= queue.queued + count
        }
        let outcomes = try await sending.value
        #expect(outcomes.count == count)
        #expect(outcomes.allSatisfy { (try? $0.get()) != nil })
        #expect(received.filter { $0 == [1] }.count == queue.queued)
        #expect(received.filter { $0.first == 2 }.map { Int($0[1]) }.sorted() == Array(0..<count))
        try await Task.sleep(for: .milliseconds(20))
        #expect(receiveNow(queue.server) == nil, "a datagram arrived twice")
        await handle.shutdown()
    }

    /// A UDP socket bound to a free port on loopback, and its address.
    private func boundLoopbackUDPSocket() throws -> (fd: Int32, address: SocketAddress) {
        let fd = socket(AF_INET, CURING_SOCK_DGRAM | CURING_SOCK_CLOEXEC, 0)
        try #require(fd >= 0)
        var address = try SocketAddress(host: "127.0.0.1", port: 0)
        try #require(withUnsafePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
        } == 0)
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        address.length = length
        return (fd, address)
    }

    @Test func aReceiveReportsItsSenderAndLength() async throws {
        let handle = try smallLoop()
        let (fd, address) = try boundLoopbackUDPSocket()
        defer { close(fd) }
        let (other, otherAddress) = try boundLoopbackUDPSocket()
        defer { close(other) }
        try await handle.sendDatagram(IOBuffer(bytes: [1, 2, 3]), on: other, to: address)
        let buffer = IOBuffer(capacity: 8)
        let sender = try await handle.receiveDatagram(on: fd, into: buffer)
        #expect(buffer.bytes == [1, 2, 3])
        #expect(sender.description == otherAddress.description)
        await handle.shutdown()
    }

    @Test func aBatchSendsEachDatagramAndReportsEachOutcomeInOrder() async throws {
        let handle = try smallLoop(size: 16)
        let (first, firstAddress) = try boundLoopbackUDPSocket()
        defer { close(first) }
        let (second, secondAddress) = try boundLoopbackUDPSocket()
        defer { close(second) }
        let (sender, _) = try boundLoopbackUDPSocket()
        defer { close(sender) }
        let outcomes = try await handle.sendDatagrams([
            OutgoingDatagram(IOBuffer(bytes: [1]), to: firstAddress),
            OutgoingDatagram(IOBuffer(bytes: [2, 2]), to: secondAddress),
            OutgoingDatagram(IOBuffer(bytes: [UInt8](repeating: 0, count: 65_508)), to: firstAddress),  // too long for UDP
            OutgoingDatagram(IOBuffer(bytes: [3, 3, 3]), to: firstAddress),
            OutgoingDatagram(IOBuffer(bytes: [4])),  // no address on a socket that is not connected
        ], on: sender)
        #expect(outcomes.count == 5)
        for index in [0, 1, 3] {
            #expect((try? outcomes[index].get()) != nil, "datagram \(index): \(outcomes[index])")
        }
        #expect(outcomes[2].errno == EMSGSIZE, "\(outcomes[2])")
        #expect(outcomes[4].errno == EDESTADDRREQ, "\(outcomes[4])")
        let buffer = IOBuffer(capacity: 16)
        _ = try await handle.receiveDatagram(on: first, into: buffer)
        #expect(buffer.bytes == [1])
        _ = try await handle.receiveDatagram(on: first, into: buffer)
        #expect(buffer.bytes == [3, 3, 3])
        _ = try await handle.receiveDatagram(on: second, into: buffer)
        #expect(buffer.bytes == [2, 2])
        #expect(try await handle.sendDatagrams([], on: sender).isEmpty)

        // A loop that has shut down answers every element.
        await handle.shutdown()
        let refused = try await handle.sendDatagrams(
            [OutgoingDatagram(IOBuffer(bytes: [5]), to: firstAddress), OutgoingDatagram(IOBuffer(bytes: [6]), to: firstAddress)],
            on: sender)
        #expect(refused.map { ($0.error as? IOError)?.reason } == [.shutdown, .shutdown])
    }

    /// Sends `datagrams` from `sender` to `address`. Over loopback a UDP
    /// datagram is in the receiver's queue when `sendto` returns.
    private func queue(_ datagrams: [[UInt8]], from sender: Int32, to address: SocketAddress) throws {
        var storage = address.storage
        for datagram in datagrams {
            let sent = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sender, datagram, datagram.count, 0, $0, address.length) }
            }
            try #require(sent == datagram.count)
        }
    }

    @Test func aBatchOfReceivesTakesWhatIsQueuedInOneTrip() async throws {
        let handle = try smallLoop()
        let (fd, address) = try boundLoopbackUDPSocket()
        defer { close(fd) }
        let (sender, senderAddress) = try boundLoopbackUDPSocket()
        defer { close(sender) }
        try queue([[1], [2, 2], [], [4, 4, 4, 4], [5]], from: sender, to: address)
        let buffers = (0..<3).map { _ in IOBuffer(capacity: 16) }
        // Three buffers: three datagrams, the empty one included.
        var received = try await within(60, "a batch") { try await handle.receiveDatagrams(on: fd, into: buffers) }
        #expect(received.senders.map(\.description) == Array(repeating: senderAddress.description, count: 3))
        #expect(buffers.map(\.bytes) == [[1], [2, 2], []])
        #expect(received.trailingError == nil)
        // The rest, and the batch ends when the socket has nothing more.
        received = try await within(60, "the rest") { try await handle.receiveDatagrams(on: fd, into: buffers) }
        #expect(received.senders.count == 2)
        #expect(buffers.prefix(2).map(\.bytes) == [[4, 4, 4, 4], [5]])
        // An empty socket: the first receive waits, as a single one does.
        await expectIOError(.timedOut) {
            _ = try await handle.receiveDatagrams(on: fd, into: buffers, deadline: .now + .milliseconds(30))
        }
        let waiting = Task { try await handle.receiveDatagrams(on: fd, into: buffers) }
        try await until("the receive waits") { handle.statistics.pendingRequests == 1 }
        try queue([[7]], from: sender, to: address)
        #expect(try await waiting.value.senders.count == 1)
        #expect(buffers[0].bytes == [7])
        await expectIOError(.invalidArgument("a batch of receives needs a buffer")) {
            _ = try await handle.receiveDatagrams(on: fd, into: [])
        }
        await handle.shutdown()
    }

    @Test func aDatagramTooLongAfterTheFirstEndsTheBatchWithoutLosingTheOthers() async throws {
        let handle = try smallLoop()
        let (fd, address) = try boundLoopbackUDPSocket()
        defer { close(fd) }
        let (sender, _) = try boundLoopbackUDPSocket()
        defer { close(sender) }
        try queue([[1], [UInt8](repeating: 2, count: 100), [3]], from: sender, to: address)
        let buffers = (0..<4).map { _ in IOBuffer(capacity: 10) }
        let received = try await handle.receiveDatagrams(on: fd, into: buffers)
        #expect(received.senders.count == 1)
        #expect(buffers[0].bytes == [1])
        #expect(received.trailingError?.errno == EMSGSIZE)
        #expect(received.trailingError?.context?.contains("a datagram of 100 bytes") == true, "\(String(describing: received.trailingError))")
        // The one after it is still there.
        #expect(try await handle.receiveDatagrams(on: fd, into: buffers).senders.count == 1)
        #expect(buffers[0].bytes == [3])
        // Too long as the first: thrown, as a single receive does.
        try queue([[UInt8](repeating: 2, count: 100)], from: sender, to: address)
        await expectIOError(.errno(EMSGSIZE)) { _ = try await handle.receiveDatagrams(on: fd, into: buffers) }
        await handle.shutdown()
    }

    /// A batch that never ends on its own: a loop whose fault plan turns the
    /// socket's "nothing more" into interruptions, so a batch of receives
    /// keeps asking until something else ends it; with a bound socket, a
    /// sender and three buffers.
    private func withEndlessBatches(
        _ configuration: LoopConfiguration,
        _ body: (Handle, Int32, Int32, SocketAddress, [IOBuffer]) async throws -> Void
    ) async throws {
        let handle = try IOLoop.start(configuration, faults: FaultPlan(completion: { operation, result in
            operation == "recvmsg" && result == -EAGAIN ? -EINTR : result
        }))
        let (fd, address) = try boundLoopbackUDPSocket()
        defer { close(fd) }
        let (sender, _) = try boundLoopbackUDPSocket()
        defer { close(sender) }
        try await body(handle, fd, sender, address, (0..<3).map { _ in IOBuffer(capacity: 16) })
    }

    /// Waits until `fd` holds no datagram: the batch took the one queued
    /// (a fixed sleep let a loaded machine cancel or shut down first).
    private func untilTaken(_ fd: Int32) async throws {
        try await until("the batch to take the datagram") {
            recv(fd, nil, 0, Int32(MSG_PEEK | MSG_DONTWAIT)) < 0 && errno == EAGAIN
        }
    }

    /// A deadline or a cancel that reaches a batch after its first datagram
    /// returns what it took: the socket gave those datagrams up, and no one
    /// else will get them.
    @Test func aDeadlineOrCancelAfterTheFirstDatagramReturnsWhatWasTaken() async throws {
        var configuration = LoopConfiguration()
        configuration.timeoutWheelTick = .milliseconds(1)
        try await withEndlessBatches(configuration) { handle, fd, sender, address, buffers in
            try queue([[1]], from: sender, to: address)
            // The deadline must come after the batch took the datagram. On a
            // loaded machine 30 ms can pass first: the batch then ends with
            // nothing taken, the datagram stays queued, and a longer
            // deadline tries again.
            var limit = Duration.milliseconds(30)
            var taken: ReceivedDatagrams?
            while taken == nil {
                do {
                    taken = try await handle.receiveDatagrams(on: fd, into: buffers, deadline: .now + limit)
                } catch let error as IOError where error.reason == .timedOut && limit < .seconds(8) {
                    limit *= 2
                }
            }
            let timed = try #require(taken)
            #expect(timed.senders.count == 1)
            #expect(buffers[0].bytes == [1])

            try queue([[2]], from: sender, to: address)
            let cancelled = Task { try await handle.receiveDatagrams(on: fd, into: buffers) }
            try await untilTaken(fd)
            cancelled.cancel()
            #expect(try await cancelled.value.senders.count == 1)
            #expect(buffers[0].bytes == [2])
            await handle.shutdown()
        }
    }

    /// The same for a shutdown whose timeout abandons the batch while it
    /// still asks for more: its caller gets the datagram it took, not
    /// `.abandoned`.
    @Test func aShutdownTimeoutAfterTheFirstDatagramReturnsWhatWasTaken() async throws {
        var configuration = LoopConfiguration()
        configuration.shutdownTimeout = .milliseconds(30)
        try await withEndlessBatches(configuration) { handle, fd, sender, address, buffers in
            try queue([[4]], from: sender, to: address)
            let batch = Task { try await handle.receiveDatagrams(on: fd, into: buffers) }
            try await untilTaken(fd)
            // A draining shutdown waits for the batch until its timeout.
            await handle.shutdown()
            #expect(try await batch.value.senders.count == 1)
            #expect(buffers[0].bytes == [4])
            #expect(handle.statistics.abandoned == 1)
        }
    }
}

private extension Result where Success == Void {
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }

    var errno: Int32? { (error as? IOError)?.errno }
}
