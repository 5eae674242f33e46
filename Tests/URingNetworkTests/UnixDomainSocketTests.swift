// Unix domain sockets: addresses, bind/accept/dial through the ring, the
// socket file's life, and the errors of a path with nothing (or nobody) there.
import CURing
import Glibc
import Testing
import URing
import URingLoop
@testable import URingNetwork
import URingTestSupport

@Suite struct UnixDomainSocketTests {
    @Test func anAddressIsItsPath() throws {
        let address = try SocketAddress(unixDomainSocketPath: "/run/db/.s.PGSQL.5432")
        #expect(address.family == AF_UNIX)
        #expect(address.unixDomainSocketPath == "/run/db/.s.PGSQL.5432")
        #expect(address.host == "/run/db/.s.PGSQL.5432")
        #expect(address.port == 0)
        #expect(address.description == "unix:/run/db/.s.PGSQL.5432")
        #expect(try SocketAddress(host: "127.0.0.1", port: 1).unixDomainSocketPath == nil)
        let longest = String(repeating: "x", count: SocketAddress.maximumUnixDomainSocketPathLength)
        #expect(try SocketAddress(unixDomainSocketPath: longest).unixDomainSocketPath == longest)
    }

    /// Linux's abstract names (a NUL byte first, no file), as the kernel
    /// gives a datagram socket it binds on its own: no path, and written
    /// `unix:@name`, bytes that are not printable escaped.
    @Test func anAbstractNameIsNoPathAndIsWrittenWithAnAt() {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let name: [UInt8] = [0] + Array("b43ff".utf8) + [0x01]
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_un.self) }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let abstract = SocketAddress(storage: storage, length: socklen_t(pathOffset + name.count))
        #expect(abstract.unixDomainSocketPath == nil)
        #expect(abstract.description == "unix:@b43ff\\x01")
        // An unnamed one (the family alone) stays unnamed.
        #expect(SocketAddress(storage: storage, length: socklen_t(pathOffset)).description == "unix:(unnamed)")
    }

    @Test func pathsTheKernelCannotTakeAreRefused() {
        let tooLong = String(repeating: "x", count: SocketAddress.maximumUnixDomainSocketPathLength + 1)
        #expect(throws: IOError("address", .invalidArgument(
            "a Unix domain socket path holds at most 107 bytes, '\(tooLong)' has 108"))) {
            _ = try SocketAddress(unixDomainSocketPath: tooLong)
        }
        #expect(throws: IOError("address", .invalidArgument("a Unix domain socket path must not be empty"))) {
            _ = try SocketAddress(unixDomainSocketPath: "")
        }
        #expect(throws: IOError("address", .invalidArgument("a Unix domain socket path must not contain a NUL byte"))) {
            _ = try SocketAddress(unixDomainSocketPath: "/tmp/a\0b")
        }
    }

    @Test func bindAcceptDialAndTransfersPastTheSocketBuffersBothWays() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let path = "\(directory)/server.sock"
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(unixDomainSocketPath: path))
            defer { listener.close() }
            #expect(listener.localAddress.unixDomainSocketPath == path)
            async let accepted = listener.accept()
            let client = try await network.dial(try SocketAddress(unixDomainSocketPath: path))
            let server = try await accepted
            // The client never bound: the server sees an unnamed peer.
            #expect(server.peer.family == AF_UNIX)
            #expect(server.peer.description == "unix:(unnamed)")
            #expect(try client.sink.localAddress.description == "unix:(unnamed)")
            #expect(try server.stream.localAddress.unixDomainSocketPath == path)
            #expect(client.sink.peer.unixDomainSocketPath == path)

            // Past the socket buffers (about 200 KiB) and the stream's own
            // 16 KiB, so sends go out in pieces and receives bypass the
            // buffer; NetworkTests moves several MiB over TCP through the same
            // Sink and Stream, and a sanitizer pays for every byte compared.
            let up = pattern(1 << 20, seed: 11)
            let down = pattern(768 << 10, seed: 13)
            async let sentUp: Void = client.sink.send(up)
            async let sentDown: Void = server.sink.send(down)
            let received = try await server.stream.receive(exactly: up.count)
            let back = try await client.stream.receive(exactly: down.count)
            try await sentUp
            try await sentDown
            #expect(received == up)
            #expect(back == down)
        }
    }

    @Test func manyConnectionsEchoThroughOneServer() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let address = try SocketAddress(unixDomainSocketPath: "\(directory)/echo.sock")
        try await withNetwork { network in
            let listener = try network.bind(address)
            defer { listener.close() }
            let server = echoServer(listener, connections: 50)
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for index in 0..<50 {
                    clients.addTask {
                        let (sink, stream) = try await network.dial(address)
                        let message = pattern(3000 + index, seed: index)
                        try await sink.send(message)
                        #expect(try await stream.receive(exactly: message.count) == message)
                        sink.close()
                    }
                }
                try await clients.waitForAll()
            }
            try await server.value
        }
    }

    @Test func closingTheListenerRemovesItsSocketFile() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let path = "\(directory)/server.sock"
        try await withNetwork { network in
            let listener = try network.bind(try SocketAddress(unixDomainSocketPath: path))
            #expect(access(path, F_OK) == 0)
            listener.close()
            #expect(access(path, F_OK) != 0 && errno == ENOENT)
            await expectIOError(.errno(ENOENT)) {
                _ = try await network.dial(try SocketAddress(unixDomainSocketPath: path))
            }
            // The path is free again for the next server.
            let next = try network.bind(try SocketAddress(unixDomainSocketPath: path))
            next.close()
        }
    }

    /// A listener whose file was removed and bound again by another server
    /// leaves the other server's file alone when it closes.
    @Test func aListenerDoesNotRemoveASocketFileThatReplacedItsOwn() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let path = "\(directory)/server.sock"
        try await withNetwork { network in
            let address = try SocketAddress(unixDomainSocketPath: path)
            let old = try network.bind(address)
            unlink(path)
            let new = try network.bind(address)
            old.close()
            #expect(access(path, F_OK) == 0, "the new server's socket file is gone")
            async let accepted = new.accept()
            let client = try await network.dial(address)
            let server = try await accepted
            try await client.sink.send([5])
            #expect(try await server.stream.receive(exactly: 1) == [5])
            new.close()
            #expect(access(path, F_OK) != 0)
        }
    }

    @Test func bindingWhereAFileExistsIsRefusedAndLeavesIt() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let path = "\(directory)/taken"
        let file = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        try #require(file >= 0)
        close(file)
        defer { unlink(path) }
        try await withNetwork { network in
            #expect(throws: IOError("bind", .errno(EADDRINUSE), context: "unix:\(path)")) {
                _ = try network.bind(try SocketAddress(unixDomainSocketPath: path))
            }
            #expect(access(path, F_OK) == 0)
        }
    }

    /// A socket file with no server behind it (bound, never listening: what
    /// a crashed server leaves) refuses; a dial where no file is says so.
    @Test func dialingAPathWithNobodyThereFailsClearly() async throws {
        let directory = try temporaryDirectory()
        defer { rmdir(directory) }
        let stale = "\(directory)/stale.sock"
        let fd = socket(AF_UNIX, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0)
        try #require(fd >= 0)
        defer { close(fd); unlink(stale) }
        var storage = try SocketAddress(unixDomainSocketPath: stale)
        let length = storage.length
        let bound = withUnsafePointer(to: &storage.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        try #require(bound == 0)
        try await withNetwork { network in
            let refused = await #expect(throws: IOError.self) { _ = try await network.dial(storage) }
            #expect(refused?.errno == ECONNREFUSED, "\(String(describing: refused))")
            let missing = await #expect(throws: IOError.self) {
                _ = try await network.dial(try SocketAddress(unixDomainSocketPath: "\(directory)/none.sock"))
            }
            #expect(missing?.errno == ENOENT, "\(String(describing: missing))")
        }
    }
}
