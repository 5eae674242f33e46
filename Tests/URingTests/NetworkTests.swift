// TCP over loopback through the raw ring: socket, bind (plain syscalls),
// accept and connect as SQEs.
import CURing
import Glibc
import Testing
import URingTestSupport
import URing

@Suite struct RingNetworkTests {
    @Test func loopbackAcceptAndConnect() throws {
        let ring = try Ring(entries: 16)
        let streamType = CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC
        let listener = socket(AF_INET, streamType, 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(INADDR_LOOPBACK).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutableBytes(of: &address) { raw in
            let pointer = raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)
            try #require(bind(listener, pointer, length) == 0)
            try #require(getsockname(listener, pointer, &length) == 0)
        }
        try #require(listen(listener, 16) == 0)

        // The client socket itself comes from the ring.
        ring.push(.socket(domain: AF_INET, type: streamType).userData(1))
        let client = try #require(ring.complete(1).first?.result)
        try #require(client >= 0)
        defer { close(client) }

        var peer = sockaddr_in()
        var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        var accepted: Int32 = -1
        try withUnsafeMutableBytes(of: &peer) { peerRaw in
            try withUnsafeBytes(of: &address) { serverRaw in
                ring.push(.accept(fd: listener, address: peerRaw.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                                  length: &peerLength, flags: CURING_SOCK_CLOEXEC).userData(2))
                ring.push(.connect(fd: client, address: serverRaw.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                                   length: socklen_t(MemoryLayout<sockaddr_in>.size)).userData(3))
                let done = try ring.complete(2)
                accepted = done.first { $0.userData == 2 }?.result ?? -1
                #expect(done.first { $0.userData == 3 }?.result == 0)
            }
        }
        try #require(accepted >= 0)
        defer { close(accepted) }
        #expect(peer.sin_family == sa_family_t(AF_INET))
        #expect(peer.sin_addr.s_addr == UInt32(INADDR_LOOPBACK).bigEndian)

        // Data flows, then shutdown is seen as end of stream.
        var buffer = [UInt8](repeating: 0, count: 8)
        try buffer.withUnsafeMutableBytes { target in
            ring.push(.recv(fd: accepted, into: target.baseAddress!, count: 8).userData(4))
            ring.push(.shutdown(fd: client, how: Int32(SHUT_WR)).userData(5))
            let done = try ring.complete(2)
            #expect(done.first { $0.userData == 4 }?.result == 0)
            #expect(done.first { $0.userData == 5 }?.result == 0)
        }
    }
}
