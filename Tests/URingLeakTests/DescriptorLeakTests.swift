// Thousands of loops, connections, datagram sockets and blobs opened,
// renamed and closed, and connections cut short by cancels, deadlines and
// shutdowns: the process must end with exactly the descriptors it started with.
//
// Counting the process's descriptors is only meaningful when nothing else
// runs in it, and `swift test` runs suites in parallel. So the parent test
// re-runs this test binary as a child process with only the workload
// selected; the child does the work and records its descriptor counts, and
// the parent checks them. (Run alone in the normal suite, the workload still
// checks that every operation succeeds.)
import CURing
import Glibc
import Testing
import URing
import URingLoop
import URingNetwork
import URingStorage
import URingTestSupport

/// Opens and closes loops (and files through one), connections and blobs.
private func churn(loops: Int, connections: Int, blobs: Int, root: String) async throws {
    var small = LoopConfiguration()
    small.size = 8
    for _ in 0..<loops {
        let handle = try IOLoop.start(small)
        try await handle.nop()
        await handle.shutdown()
    }
    // Opens through the ring, eight at a time, the rest cancelled as soon as
    // one is done, at whatever point that catches them: each descriptor the
    // kernel opens reaches its task.
    let handle = try IOLoop.start(small)
    for _ in 0..<loops {
        await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let fd = try await handle.open(root + "/opened-\(index)", flags: O_RDWR | O_CREAT)
                    #expect(close(fd) == 0)
                }
            }
            _ = try? await group.next()
            group.cancelAll()
            while let result = await group.nextResult() {
                if case .failure(let error) = result, !(error is CancellationError) { Issue.record("\(error)") }
            }
        }
    }
    for index in 0..<8 { unlink(root + "/opened-\(index)") }
    await handle.shutdown()
    let network = try Network()
    let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
    for _ in 0..<connections {
        async let accepted = listener.accept()
        let (sink, stream) = try await network.dial(listener.localAddress)
        let (_, serverSink, serverStream) = try await accepted
        try await sink.send([1, 2, 3])
        _ = try await serverStream.receive(exactly: 3)
        sink.close()
        serverSink.close()
        _ = (stream, serverStream)
    }
    // Failed dials close their sockets: refused, and out of time.
    let address = listener.localAddress
    listener.close()
    for _ in 0..<connections / 10 {
        do {
            _ = try await network.dial(address)
            Issue.record("a dial to a closed listener succeeded")
        } catch let error as IOError where error.errno == ECONNREFUSED {}
        do {
            _ = try await network.dial(address, deadline: .now - .seconds(1))
            Issue.record("a dial past its deadline succeeded")
        } catch let error as IOError where error.reason == .timedOut {}
    }
    await network.shutdown()
    // Datagram sockets closed with a receive in flight or just released,
    // failed binds and connects (which must close the socket they made),
    // and one waiting when its network shuts down.
    let datagrams = try Network()
    for round in 0..<connections / 10 {
        let server = try datagrams.bindDatagram(try SocketAddress(host: "127.0.0.1", port: 0))
        let client = try await datagrams.connectDatagram(to: server.localAddress)
        try await client.send([1])
        _ = try await server.receive()
        do throws(IOError) {
            _ = try datagrams.bindDatagram(server.localAddress)
            Issue.record("a port was bound twice")
        } catch {
            #expect(error.errno == EADDRINUSE, "\(error)")
        }
        do {
            _ = try await datagrams.connectDatagram(to: try SocketAddress(unixDomainSocketPath: root + "/no-such.sock"))
            Issue.record("a missing path was connected")
        } catch let error as IOError where error.errno == ENOENT {}
        if round % 2 == 0 {
            let waiting = Task { try await server.receive() }
            try await Task.sleep(for: .microseconds(Int.random(in: 0...1000)))
            server.close()
            _ = await waiting.result
        }
    }
    let waiting = try datagrams.bindDatagram(try SocketAddress(host: "127.0.0.1", port: 0))
    let pending = Task { try await waiting.receive() }
    try await Task.sleep(for: .milliseconds(1))
    await datagrams.shutdown()
    _ = await pending.result
    // Connections a listener accepted ahead and nobody took: closed with
    // the listener (even rounds), or by its release after the network's
    // shutdown ended its armed accepts (odd rounds); the listening socket
    // is closed either way.
    for round in 0..<max(connections / 100, 2) {
        let network = try Network()
        let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
        async let accepted = listener.accept()
        var clients: [Sink] = []
        for _ in 0..<20 { clients.append(try await network.dial(listener.localAddress).sink) }
        try await accepted.sink.close()
        if round % 2 == 0 { listener.close() }
        await network.shutdown()
        for client in clients { client.close() }
    }
    // Connections cut short at every stage: dials out of time mid-handshake,
    // clients cancelled mid-conversation, handlers mid-echo, accepts armed
    // ahead, all in flight when the network shuts down.
    var generator = SeededGenerator(seed: 0x1EA4)
    for _ in 0..<max(connections / 100, 2) {
        let network = try Network()
        let listener = try network.bind(try SocketAddress(host: "127.0.0.1", port: 0))
        let server = Task {
            try await listener.serve { _, sink, stream in
                while true {
                    let bytes = try await stream.receive(upTo: 64)
                    if bytes.isEmpty { return }
                    try await sink.send(bytes)
                }
            }
        }
        let address = listener.localAddress
        let clients = (0..<16).map { index in
            let deadline: Duration? = index % 4 == 0 ? .microseconds(Int.random(in: -100...300, using: &generator)) : nil
            let exchanges = Int.random(in: 1...10, using: &generator)
            let client = Task {
                let (sink, stream) = try await network.dial(address, deadline: deadline.map { .now + $0 })
                for _ in 0..<exchanges {
                    try await sink.send([1, 2, 3])
                    _ = try await stream.receive(exactly: 3)
                }
                sink.close()
            }
            if Bool.random(using: &generator) {
                let after = Duration.microseconds(Int.random(in: 0...2000, using: &generator))
                Task {
                    try? await Task.sleep(for: after)
                    client.cancel()
                }
            }
            return client
        }
        try await Task.sleep(for: .microseconds(Int.random(in: 0...5000, using: &generator)))
        await network.shutdown()
        for client in clients { _ = await client.result }
        listener.close()
        _ = await server.result
    }
    let storage = try Storage(directory: root)
    for index in 0..<blobs {
        let name = [UInt8(truncatingIfNeeded: index), UInt8(truncatingIfNeeded: index >> 8)]
        let (blob, _, _) = try await storage.open(partition: "leak", name: name)
        try await blob.write([7], at: 0)
        switch index % 4 {
        case 0, 2:
            try await storage.remove(partition: "leak", name: name)
        case 1:
            // A rename opens the blob to sync it: closed on success and
            // when the blob is missing.
            try await storage.rename(partition: "leak", from: name, to: name + [0xFF])
            do {
                try await storage.rename(partition: "leak", from: name, to: [0])
                Issue.record("a missing blob renamed")
            } catch let error as IOError where error.reason == .notFound {}
        default:
            // ...and when the task is cancelled part way.
            let rename = Task { try await storage.rename(partition: "leak", from: name, to: name + [0xFE]) }
            try await Task.sleep(for: .microseconds(Int.random(in: 0...300)))
            rename.cancel()
            _ = await rename.result
        }
    }
    try await storage.remove(partition: "leak")
    await storage.shutdown()
}

/// The process's open descriptors, but for timerfds: the library makes none
/// (deadlines live on the loop's timing wheel), while the dispatch runtime
/// makes one per class of timer the first time a `Task.sleep` needs it,
/// which the warm-up cannot be sure to cover: a sleep whose deadline has
/// passed by the time it is armed (as on a loaded machine) arms nothing.
private func libraryKindsOfDescriptors() -> [String] {
    openDescriptors().filter { !$0.hasSuffix("anon_inode:[timerfd]") }
}

@Suite struct DescriptorLeakTests {
    static let childVariable = "URING_LEAK_CHILD_REPORT"

    /// The workload. In the child process it also writes the descriptor
    /// counts before and after to the report file the parent named.
    @Test func churnLoopsConnectionsAndBlobs() async throws {
        let root = try temporaryDirectory("uring-leak")
        defer { rmdir(root) }
        // Warm up once, so lazily created process-wide descriptors (the
        // dispatch runtime's, for instance) exist in the baseline.
        try await churn(loops: 2, connections: 2, blobs: 2, root: root)
        let before = libraryKindsOfDescriptors()
        try await churn(loops: 300, connections: 1000, blobs: 2000, root: root)
        let after = libraryKindsOfDescriptors()
        #expect(!before.isEmpty && !after.isEmpty)
        if let report = getenv(DescriptorLeakTests.childVariable) {
            let added = Set(after).subtracting(before).sorted().joined(separator: " ")
            let text = "before=\(before.count) after=\(after.count)\nnew: \(added)\n"
            let fd = open(report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            try #require(fd >= 0)
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
    }

    @Test func descriptorCountReturnsToWhereItStarted() async throws {
        let executable = try testBinaryPath()
        let report = "/tmp/uring-leak-report-\(getpid())"
        defer { unlink(report) }
        let arguments = [executable, "--testing-library", "swift-testing",
                         "--filter", "DescriptorLeakTests/churnLoopsConnectionsAndBlobs"]
        let environment = ["\(DescriptorLeakTests.childVariable)=\(report)"] + inheritedEnvironment()
        let status = try await spawnAndWait(arguments, environment: environment)
        #expect(status == 0, "the child workload failed (exit status \(status))")
        let text = try #require(readReport(report), "the child wrote no report: did the filter select the workload?")
        let numbers = (text.split(separator: "\n").first ?? "").split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        try #require(numbers.count == 2, "unreadable report: \(text)")
        #expect(numbers[0] == numbers[1], "descriptors before and after the churn: \(text)")
    }
}
