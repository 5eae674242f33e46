// The one echo client used against every server: C blocking client threads,
// one connection each, one S-byte message outstanding per connection.
import CURing
import Glibc

enum EchoClient {
    static func run(port: UInt16, connections: Int, messageSize: Int, duration: Duration) async throws -> Measurement {
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for _ in 0..<connections {
            sockets.append(try connect(port: port))
        }
        let descriptors = sockets
        return try await ThreadedClosedLoop.run(threads: connections, name: "echo-client", duration: duration) { index in
            let fd = descriptors[index]
            let message = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: messageSize)
            var reply = [UInt8](repeating: 0, count: messageSize)
            return {
                var sent = 0
                while sent < messageSize {
                    let count = message.withUnsafeBytes { send(fd, $0.baseAddress! + sent, messageSize - sent, Int32(MSG_NOSIGNAL)) }
                    guard count > 0 else { throw BenchError("send failed: errno \(errno)") }
                    sent += count
                }
                var received = 0
                while received < messageSize {
                    let count = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, messageSize - received, 0) }
                    guard count > 0 else { throw BenchError(count == 0 ? "the server closed the connection" : "recv failed: errno \(errno)") }
                    received += count
                }
                guard reply == message else { throw BenchError("the server echoed different bytes") }
            }
        }
    }

    /// A blocking TCP connection to 127.0.0.1:`port`, with TCP_NODELAY (as
    /// every server sets on its side).
    static func connect(port: UInt16) throws -> Int32 {
        try LoopbackSocket.connect(type: CURING_SOCK_STREAM, port: port) { fd in
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
    }
}
