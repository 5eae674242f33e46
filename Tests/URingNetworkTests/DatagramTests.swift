// Datagram sockets: UDP over IPv4 and IPv6 and Unix domain datagrams through
// the ring; boundaries and senders kept, datagrams too long for the buffer
// or the protocol, connected sockets and refusals, close, deadlines,
// cancellation, shutdown, and many senders at once.
import CURing
import Glibc
import Synchronization
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct DatagramTests {
    private func loopback(_ host: String = "127.0.0.1") throws -> SocketAddress {
        try SocketAddress(host: host, port: 0)
    }

    /// A port on loopback with no UDP socket behind it (bound, then closed).
    private func closedUDPPort() throws -> SocketAddress {
        let fd = socket(AF_INET, CURING_SOCK_DGRAM, 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = try loopback()
        try #require(withUnsafePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
        } == 0)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return SocketAddress(storage: storage, length: length)
    }

    private func expectClosed(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
        await expectIOError(.invalidArgument("the socket is closed"), body, sourceLocation: sourceLocation)
    }

    @Test func datagramsKeepTheirBoundariesAndTheirSenders() async throws {
        try await withNetwork { network in
            let a = try network.bindDatagram(try loopback())
            let b = try network.bindDatagram(try loopback())
            #expect(a.localAddress.port != 0 && a.localAddress.port != b.localAddress.port)
            #expect(a.peer == nil)
            // Sent one after another, received one by one: never joined or
            // split, the empty one and one of 60,000 bytes included.
            let sent = [pattern(10), [], pattern(1000, seed: 2), pattern(60_000, seed: 3)]
            for bytes in sent { try await a.send(bytes, to: b.localAddress) }
            for bytes in sent {
                let datagram = try await b.receive()
                #expect(datagram.bytes == bytes)
                #expect(datagram.sender.description == a.localAddress.description)
            }
            // A reply to whoever sent, from and into buffers of the caller's.
            try await b.send(IOBuffer(bytes: [7, 7]), to: a.localAddress)
            let buffer = IOBuffer(capacity: 16)
            let sender = try await a.receive(into: buffer)
            #expect(buffer.bytes == [7, 7])
            #expect(sender.description == b.localAddress.description)
        }
    }

    @Test func receiveTakesTheLargestBuffersFromTheNetworkAndGivesThemBackOnceDone() async throws {
        try await withNetwork { network in
            let a = try network.bindDatagram(try loopback())
            let b = try network.bindDatagram(try loopback())
            let pool = network.datagramReceiveBuffers
            // A receive that failed keeps its buffer out of the pool: the
            // kernel may not be done with it.
            await expectIOError(.timedOut) { _ = try await b.receive(deadline: .now + .milliseconds(20)) }
            #expect(pool.idleCount == 0)
            // Each completed receive gives its buffer back and the next one
            // takes it again: a shorter datagram after a longer one is its
            // own bytes only.
            for bytes in [pattern(3000), pattern(5, seed: 2), []] {
                try await a.send(bytes, to: b.localAddress)
                #expect(try await b.receive().bytes == bytes)
                #expect(pool.idleCount == 1)
            }
            // Another size is allocated for the call, as before.
            try await a.send([1, 2], to: b.localAddress)
            #expect(try await b.receive(maxLength: 100).bytes == [1, 2])
            #expect(pool.idleCount == 1)
        }
    }

    @Test func receivesWaitingAtOnceEachGetABufferOfTheirOwn() async throws {
        try await withNetwork { network in
            let a = try network.bindDatagram(try loopback())
            let b = try network.bindDatagram(try loopback())
            let count = 40
            let received = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<count { group.addTask { try await b.receive().bytes } }
                try await untilPending(network, atLeast: count, "the receives")
                for index in 0..<count { try await a.send(pattern(100 + index, seed: index), to: b.localAddress) }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // Every datagram arrived whole, once, in a buffer no other
            // receive wrote into; the pool keeps no more than its bound.
            #expect(Set(received) == Set((0..<count).map { pattern(100 + $0, seed: $0) }))
            #expect(received.count == count)
            #expect(network.datagramReceiveBuffers.idleCount == 16)
        }
    }

    @Test func overIPv6WhereAvailable() async throws {
        try await withNetwork { network in
            let a: DatagramSocket
            do { a = try network.bindDatagram(try loopback("::1")) } catch let error as IOError
                where error.errno == EADDRNOTAVAIL || error.errno == EAFNOSUPPORT {
                return  // no IPv6 loopback on this machine
            }
            let b = try network.bindDatagram(try loopback("::1"))
            #expect(a.localAddress.family == AF_INET6)
            try await a.send([1, 2, 3], to: b.localAddress)
            let datagram = try await b.receive()
            #expect(datagram.bytes == [1, 2, 3])
            #expect(datagram.sender.host == "::1")
            #expect(datagram.sender.port == a.localAddress.port)
        }
    }

    @Test func aDatagramLongerThanTheBufferIsReportedAndTheNextOneArrives() async throws {
        try await withNetwork { network in
            let a = try network.bindDatagram(try loopback())
            let b = try network.bindDatagram(try loopback())
            try await a.send(pattern(100), to: b.localAddress)
            try await a.send(pattern(5), to: b.localAddress)
            try await a.send(pattern(11), to: b.localAddress)
            do {
                _ = try await b.receive(maxLength: 10)
                Issue.record("a datagram of 100 bytes fitted 10")
            } catch let error as IOError {
                #expect(error.errno == EMSGSIZE)
                let context = error.context ?? ""
                #expect(context.contains("a datagram of 100 bytes from \(a.localAddress)"), "\(error)")
                #expect(context.contains("did not fit a buffer of 10"), "\(error)")
            }
            #expect(try await b.receive(maxLength: 10).bytes == pattern(5))
            // The same through a buffer of the caller's.
            await expectIOError(.errno(EMSGSIZE)) { _ = try await b.receive(into: IOBuffer(capacity: 10)) }
            // Exactly the buffer's size fits.
            try await a.send(pattern(10), to: b.localAddress)
            #expect(try await b.receive(maxLength: 10).bytes == pattern(10))
            await expectIOError(.invalidArgument("negative maximum length -1")) { _ = try await b.receive(maxLength: -1) }
        }
    }

    @Test func aBatchOfReceivesTakesWhatQueuedAndATrailingErrorComesNext() async throws {
        try await withNetwork { network in
            let a = try network.bindDatagram(try loopback())
            let b = try network.bindDatagram(try loopback())
            for bytes in [[1], [2, 2], pattern(100), [4]] as [[UInt8]] { try await a.send(bytes, to: b.localAddress) }
            let buffers = (0..<8).map { _ in IOBuffer(capacity: 50) }
            let senders = try await b.receive(into: buffers)
            #expect(senders.count == 2)
            #expect(senders.allSatisfy { $0.description == a.localAddress.description })
            #expect(buffers.prefix(2).map(\.bytes) == [[1], [2, 2]])
            // The datagram too long for its buffer is reported next, with
            // the socket's address, and then the one after it arrives.
            do {
                _ = try await b.receive(into: buffers)
                Issue.record("the batch's trailing error was not thrown")
            } catch let error as IOError {
                #expect(error.errno == EMSGSIZE)
                #expect(error.context?.hasPrefix("\(b.localAddress): ") == true, "\(error)")
            }
            #expect(try await b.receive(into: buffers).count == 1)
            #expect(buffers[0].bytes == [4])
            b.close()
            await expectClosed { _ = try await b.receive(into: buffers) }
        }
    }

    @Test func sendsTheKernelRefusesAreTypedAndTheSocketGoesOn() async throws {
        try await withNetwork { network in
            let a = try network.bindDatagram(try loopback())
            let b = try network.bindDatagram(try loopback())
            // More than UDP carries over IPv4 (65,507 bytes).
            do {
                try await a.send(pattern(65_508), to: b.localAddress)
                Issue.record("a datagram of 65,508 bytes was sent")
            } catch let error as IOError {
                #expect(error.errno == EMSGSIZE)
                #expect(error.context?.contains("a datagram of 65508 bytes to \(b.localAddress)") == true, "\(error)")
            }
            // No address on a socket that is not connected.
            await expectIOError(.errno(EDESTADDRREQ)) { try await a.send([1]) }
            // An address of another family.
            do {
                try await a.send([1], to: try SocketAddress(unixDomainSocketPath: "/tmp/nowhere"))
                Issue.record("an IPv4 socket sent to a path")
            } catch let error as IOError {
                #expect(error.errno == EAFNOSUPPORT || error.errno == EINVAL, "\(error)")
            }
            try await a.send(pattern(65_507), to: b.localAddress)
            #expect(try await b.receive().bytes == pattern(65_507))
        }
    }

    @Test func aConnectedSocketTalksToItsPeerOnlyAndHearsARefusal() async throws {
        try await withNetwork { network in
            let server = try network.bindDatagram(try loopback())
            let client = try await network.connectDatagram(to: server.localAddress)
            #expect(client.peer?.description == server.localAddress.description)
            try await client.send([1, 2])
            let request = try await server.receive()
            #expect(request.bytes == [1, 2])
            #expect(request.sender.description == client.localAddress.description)

            // A stranger's datagram is filtered out by the kernel; the
            // server's reply, sent after it, is what the client gets.
            let stranger = try network.bindDatagram(try loopback())
            try await stranger.send([9], to: client.localAddress)
            try await server.send([3], to: request.sender)
            #expect(try await client.receive().bytes == [3])
            await expectIOError(.timedOut) { _ = try await client.receive(deadline: .now + .milliseconds(100)) }

            // A peer whose port is closed: the ICMP answer to the first
            // datagram ends the receive waiting for a reply.
            let nobody = try await network.connectDatagram(to: try closedUDPPort())
            try await nobody.send([1])
            await expectIOError(.errno(ECONNREFUSED)) { _ = try await nobody.receive(deadline: .now + .seconds(60)) }
        }
    }

    @Test func connectingByNameTakesTheFirstAddressTheKernelAccepts() async throws {
        try await withNetwork { network in
            // localhost, from /etc/hosts: the server listens on its first address.
            let first = try #require(try await SocketAddress.resolve(host: "localhost", port: 0).first)
            let server = try network.bindDatagram(first)
            let client = try await network.connectDatagram(host: "localhost", port: server.localAddress.port)
            try await client.send([1])
            #expect(try await server.receive().sender.description == client.localAddress.description)

            // A broadcast address is refused at once (no SO_BROADCAST): the
            // next address is taken.
            let port = server.localAddress.port
            let named = try await network.connectDatagram(
                host: "example.test", port: port, options: DatagramOptions(), deadline: nil,
                lookup: { _ in .success([try! SocketAddress(host: "127.255.255.255", port: 0),
                                         try! SocketAddress(host: first.host, port: 0)]) })
            #expect(named.peer?.description == server.localAddress.description)
            try await named.send([2])
            #expect(try await server.receive().bytes == [2])

            // Every address refused: the last refusal, naming the host.
            do {
                _ = try await network.connectDatagram(
                    host: "example.test", port: port, options: DatagramOptions(), deadline: nil,
                    lookup: { _ in .success([try! SocketAddress(host: "127.255.255.255", port: 0)]) })
                Issue.record("a broadcast address was connected without SO_BROADCAST")
            } catch let error as IOError {
                #expect(error.errno == EACCES)
                #expect(error.context?.hasPrefix("example.test port \(port), 1 address(es) tried") == true, "\(error)")
            }
            // A name with no address.
            await expectIOError(.notFound) {
                _ = try await network.connectDatagram(host: "nowhere.test", port: port, options: DatagramOptions(),
                                                      deadline: nil, lookup: { _ in .success([]) })
            }
        }
    }

    @Test func unixDomainDatagramsGetRepliesAndTheirFileIsRemovedOnClose() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let path = "\(directory)/dgram.sock"
        try await withNetwork { network in
            let address = try SocketAddress(unixDomainSocketPath: path)
            let server = try network.bindDatagram(address)
            #expect(access(path, F_OK) == 0)
            await expectIOError(.errno(EADDRINUSE)) { _ = try network.bindDatagram(address) }

            // A client connected without a path is given a name, so the
            // reply finds it.
            let client = try await network.connectDatagram(to: address)
            #expect(client.localAddress.description.hasPrefix("unix:@"), "\(client.localAddress)")
            try await client.send(pattern(3000))
            let request = try await server.receive()
            #expect(request.bytes == pattern(3000))
            #expect(request.sender.description == client.localAddress.description)
            try await server.send([42], to: request.sender)
            #expect(try await client.receive().bytes == [42])

            server.close()
            #expect(access(path, F_OK) != 0, "the socket file outlived its socket")
            await expectIOError(.errno(ENOENT)) { _ = try await network.connectDatagram(to: address) }
            // The client's peer is gone (its descriptor with it): the next
            // datagram is refused.
            await expectIOError(.errno(ECONNREFUSED)) { try await client.send([1]) }
        }
    }

    @Test func closeEndsAWaitingReceiveRefusesWhatComesAfterAndFreesThePort() async throws {
        try await withNetwork { network in
            let socket = try network.bindDatagram(try loopback())
            let waiting = Task { try await socket.receive() }
            try await untilAReceiveIsPending(network)
            socket.close()
            await expectClosed { _ = try await waiting.value }
            await expectClosed { _ = try await socket.receive() }
            await expectClosed { try await socket.send([1], to: socket.localAddress) }
            socket.close()  // twice is fine
            // The port is free while `socket` is still referenced: its
            // descriptor went with the last call.
            let again = try network.bindDatagram(socket.localAddress)
            #expect(again.localAddress.port == socket.localAddress.port)
            // Closed with no call in flight, the port is free at once.
            again.close()
            _ = try network.bindDatagram(socket.localAddress)
        }
    }

    @Test func deadlinesCancellationAndShutdownEndAWaitingReceive() async throws {
        let network = try Network()
        let socket = try network.bindDatagram(try loopback())
        await expectIOError(.timedOut) { _ = try await socket.receive(deadline: .now + .milliseconds(50)) }

        let cancelled = Task { try await socket.receive() }
        try await untilAReceiveIsPending(network)
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { _ = try await cancelled.value }

        // Still usable after both.
        try await socket.send([5], to: socket.localAddress)
        #expect(try await socket.receive().bytes == [5])

        let waiting = Task { try await socket.receive() }
        try await untilAReceiveIsPending(network)
        await network.shutdown()
        await expectIOError(.shutdown) { _ = try await waiting.value }
        await expectIOError(.shutdown) { _ = try network.bindDatagram(try loopback()) }
        await expectIOError(.shutdown) { _ = try await network.connectDatagram(to: socket.localAddress) }
    }

    @Test func broadcastNeedsItsOption() async throws {
        try await withNetwork { network in
            let listener = try network.bindDatagram(try loopback("0.0.0.0"))
            let broadcast = try SocketAddress(host: "127.255.255.255", port: listener.localAddress.port)
            let plain = try network.bindDatagram(try loopback())
            await expectIOError(.errno(EACCES)) { try await plain.send([1], to: broadcast) }
            let allowed = try network.bindDatagram(try loopback(), options: DatagramOptions(broadcast: true))
            try await allowed.send([2], to: broadcast)
            let datagram = try await listener.receive(deadline: .now + .seconds(60))
            #expect(datagram.bytes == [2])
            #expect(datagram.sender.description == allowed.localAddress.description)
        }
    }

    @Test func reusePortLetsSocketsShareAPortAndOneOfThemGetsEachDatagram() async throws {
        try await withNetwork { network in
            let shared = DatagramOptions(reusePort: true)
            let first = try network.bindDatagram(try loopback(), options: shared)
            await expectIOError(.errno(EADDRINUSE)) { _ = try network.bindDatagram(first.localAddress) }
            let second = try network.bindDatagram(first.localAddress, options: shared)
            #expect(second.localAddress.port == first.localAddress.port)
            let client = try await network.connectDatagram(to: first.localAddress)
            try await client.send([3])
            let received = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for socket in [first, second] {
                    group.addTask { try await socket.receive().bytes }
                }
                let bytes = try #require(try await group.next())
                group.cancelAll()
                return bytes
            }
            #expect(received == [3])
        }
    }

    @Test func bufferSizesAreAskedForAndReadBack() async throws {
        try await withNetwork { network in
            // The kernel doubles what it is asked for (its bookkeeping).
            let small = try network.bindDatagram(
                try loopback(), options: DatagramOptions(receiveBufferSize: 4096, sendBufferSize: 8192))
            #expect(try small.receiveBufferSize == 8192)
            #expect(try small.sendBufferSize == 16384)
            let plain = try network.bindDatagram(try loopback())
            let large = try network.bindDatagram(try loopback(), options: DatagramOptions(receiveBufferSize: 1 << 20))
            #expect(try large.receiveBufferSize > plain.receiveBufferSize)
            for size in [0, -1, Int(Int32.max) + 1] {
                await expectIOError(.invalidArgument("a buffer size must be in 1...2147483647, got \(size)")) {
                    _ = try network.bindDatagram(try loopback(), options: DatagramOptions(receiveBufferSize: size))
                }
            }
            small.close()
            await expectIOError(.invalidArgument("the socket is closed")) { _ = try small.receiveBufferSize }
        }
    }

    @Test func aBatchFansOutToManyPeersInOneCall() async throws {
        try await withNetwork { network in
            let sender = try network.bindDatagram(try loopback())
            let peers = try (0..<16).map { _ in try network.bindDatagram(try loopback()) }
            let batch = peers.enumerated().map { index, peer in
                OutgoingDatagram(IOBuffer(bytes: pattern(10 + index, seed: index)), to: peer.localAddress)
            }
            let outcomes = try await sender.send(batch: batch)
            #expect(outcomes.count == peers.count)
            #expect(outcomes.allSatisfy { (try? $0.get()) != nil }, "\(outcomes)")
            for (index, peer) in peers.enumerated() {
                let datagram = try await peer.receive()
                #expect(datagram.bytes == pattern(10 + index, seed: index))
                #expect(datagram.sender.description == sender.localAddress.description)
            }
            // An element's failure is its own, labelled with the socket.
            let mixed = try await sender.send(batch: [
                OutgoingDatagram(IOBuffer(bytes: [UInt8](repeating: 1, count: 70_000)), to: peers[0].localAddress),
                OutgoingDatagram(IOBuffer(bytes: [9]), to: peers[0].localAddress),
            ])
            guard case .failure(let error as IOError) = mixed[0] else {
                Issue.record("a datagram of 70,000 bytes: \(mixed[0])")
                return
            }
            #expect(error.errno == EMSGSIZE)
            #expect(error.context?.hasPrefix("\(sender.localAddress):") == true, "\(error)")
            #expect((try? mixed[1].get()) != nil)
            #expect(try await peers[0].receive().bytes == [9])
            sender.close()
            await expectClosed { _ = try await sender.send(batch: batch) }
        }
    }

    @Test func onAGroupASocketUsesOneOfItsLoops() async throws {
        let loops = try LoopGroup(count: 2)
        let network = try Network(loops: loops)
        let a = try network.bindDatagram(try loopback())
        let b = try network.bindDatagram(try loopback())
        #expect(a.sendLoop.executor === a.receiveLoop.executor)
        #expect(a.receiveLoop.executor !== b.receiveLoop.executor)
        try await a.send([1], to: b.localAddress)
        #expect(try await b.receive().bytes == [1])
        // A task on the socket's executor stages its calls on the loop
        // directly, with no trip through the channel.
        #expect(b.executor === b.receiveLoop.executor)
        let before = b.receiveLoop.statistics.directSubmissions
        let echoed = Task(executorPreference: b.executor) {
            for _ in 0..<10 {
                let datagram = try await b.receive()
                try await b.send(datagram.bytes, to: datagram.sender)
            }
        }
        for round in 0..<10 {
            try await a.send([UInt8(round)], to: b.localAddress)
            #expect(try await a.receive().bytes == [UInt8(round)])
        }
        try await echoed.value
        try await until("the loop publishes its statistics") {
            b.receiveLoop.statistics.directSubmissions >= before + 20
        }
        a.close()
        b.close()
        await loops.shutdown()
    }

    /// Eight senders at once to one Unix domain socket, whose queue holds
    /// only a few datagrams: senders wait in the ring for room, and every
    /// datagram arrives once, each sender's in its order.
    @Test func manySendersToOneUnixDomainSocketLoseNothing() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let senders = 8
        let each = underThreadSanitizer ? 50 : 300
        try await withNetwork { network in
            let server = try network.bindDatagram(try SocketAddress(unixDomainSocketPath: "\(directory)/many.sock"))
            defer { server.close() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for sender in 0..<senders {
                    group.addTask {
                        let client = try await network.connectDatagram(to: server.localAddress)
                        for sequence in 0..<each {
                            try await client.send([UInt8(sender), UInt8(sequence >> 8), UInt8(sequence & 0xff)]
                                                      + pattern(sequence % 200))
                        }
                    }
                }
                var next = [Int](repeating: 0, count: senders)
                for _ in 0..<(senders * each) {
                    let bytes = try await server.receive().bytes
                    try #require(bytes.count >= 3, "an empty datagram arrived in place of one of 3 or more bytes")
                    let sender = Int(bytes[0])
                    let sequence = Int(bytes[1]) << 8 | Int(bytes[2])
                    #expect(sequence == next[sender], "sender \(sender) out of order")
                    #expect(Array(bytes.dropFirst(3)) == pattern(sequence % 200))
                    next[sender] = sequence + 1
                }
                try await group.waitForAll()
                #expect(next == [Int](repeating: each, count: senders))
            }
        }
    }

    /// Sixteen UDP clients ping-ponging with one server task at once, each
    /// with one datagram outstanding (so loopback has room for all).
    @Test func manyClientsPingPongWithOneServer() async throws {
        let clients = 16
        let rounds = underThreadSanitizer ? 20 : 200
        try await withNetwork { network in
            let server = try network.bindDatagram(try loopback())
            let serving = Task {
                while true {
                    let datagram = try await server.receive()
                    try await server.send(datagram.bytes, to: datagram.sender)
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<clients {
                    group.addTask {
                        let socket = try await network.connectDatagram(to: server.localAddress)
                        for round in 0..<rounds {
                            let message = [UInt8(client)] + pattern(1 + round % 100, seed: round)
                            try await socket.send(message)
                            #expect(try await socket.receive(deadline: .now + hangGuard).bytes == message)
                        }
                    }
                }
                try await group.waitForAll()
            }
            server.close()
            await expectClosed { try await serving.value }
        }
    }
}
