// The echo workloads' client sockets: blocking, connected to 127.0.0.1.
import CURing
import Glibc

enum LoopbackSocket {
    /// A blocking socket of `type` (stream or datagram) connected to
    /// 127.0.0.1:`port`, with the options `configure` sets first; closed
    /// again if anything fails.
    static func connect(type: Int32, port: UInt16, configure: (Int32) -> Void = { _ in }) throws -> Int32 {
        let fd = socket(AF_INET, type | CURING_SOCK_CLOEXEC, 0)
        guard fd >= 0 else {
            let error = errno
            throw BenchError(error == EMFILE
                ? "socket failed: out of file descriptors (EMFILE); each echo client needs one, and a connection two: raise `ulimit -n`"
                : "socket failed: errno \(error)")
        }
        configure(fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(INADDR_LOOPBACK).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let error = errno
            close(fd)
            throw BenchError("connect to 127.0.0.1:\(port) failed: errno \(error)")
        }
        return fd
    }
}
