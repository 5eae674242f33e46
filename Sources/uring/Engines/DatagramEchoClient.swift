// The one datagram echo client used against every `udp-echo` server: C
// blocking client threads, each with a UDP socket connected to the server
// and one S-byte datagram outstanding. A datagram lost on the way (the
// server's queue was full) is sent again after a second without an answer.
import CURing
import Glibc

enum DatagramEchoClient {
    static func run(port: UInt16, clients: Int, messageSize: Int, duration: Duration) async throws -> Measurement {
        guard messageSize <= 65_507 else {
            throw BenchError("udp-echo sends one datagram per message: --message-size must be at most 65507, got \(messageSize)")
        }
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for _ in 0..<clients {
            sockets.append(try connect(port: port))
        }
        let descriptors = sockets
        return try await ThreadedClosedLoop.run(threads: clients, name: "udp-client", duration: duration) { index in
            let fd = descriptors[index]
            var sequence: UInt32 = 0
            var message = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: messageSize)
            var reply = [UInt8](repeating: 0, count: messageSize + 1)
            let numbered = messageSize >= 4
            return {
                // A number in each datagram (room permitting), so that a late
                // answer to a resent one is not taken for the next one's.
                sequence &+= 1
                if numbered { withUnsafeBytes(of: sequence.littleEndian) { message.replaceSubrange(0..<4, with: $0) } }
                var resend = true
                while true {
                    if resend, send(fd, message, messageSize, 0) != messageSize { throw BenchError("send failed: errno \(errno)") }
                    let count = recv(fd, &reply, reply.count, 0)
                    if count < 0 && (errno == EAGAIN || errno == EINTR) {
                        resend = errno == EAGAIN  // a second without an answer: lost
                        continue
                    }
                    guard count >= 0 else { throw BenchError("recv failed: errno \(errno)") }
                    if count == messageSize && reply.prefix(count).elementsEqual(message) { return }
                    if numbered && count >= 4 && !reply.prefix(4).elementsEqual(message.prefix(4)) {
                        resend = false  // the answer to an earlier, resent datagram
                        continue
                    }
                    throw BenchError("the server echoed a datagram of \(count) bytes, not the \(messageSize) sent")
                }
            }
        }
    }

    /// A blocking UDP socket connected to 127.0.0.1:`port`, giving up a
    /// receive after a second.
    static func connect(port: UInt16) throws -> Int32 {
        try LoopbackSocket.connect(type: CURING_SOCK_DGRAM, port: port) { fd in
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
    }
}
