// Socket creation and options: plain system calls, done once per socket.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing
import URingLoop

enum SocketOptions {
    /// A new stream socket of `address`'s family (TCP for IPv4 and IPv6),
    /// close-on-exec.
    static func makeStreamSocket(for address: SocketAddress) throws(IOError) -> Int32 {
        let fd = socket(address.family, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0)
        guard fd >= 0 else { throw IOError("socket", errno: curing_errno(), context: "\(address)") }
        return fd
    }

    /// A new datagram socket of `address`'s family (UDP for IPv4 and
    /// IPv6), close-on-exec.
    static func makeDatagramSocket(for address: SocketAddress) throws(IOError) -> Int32 {
        let fd = socket(address.family, CURING_SOCK_DGRAM | CURING_SOCK_CLOEXEC, 0)
        guard fd >= 0 else { throw IOError("socket", errno: curing_errno(), context: "\(address)") }
        return fd
    }

    /// Sets a datagram socket's options, before it binds or connects.
    static func apply(_ options: DatagramOptions, to fd: Int32, address: SocketAddress) throws(IOError) {
        do throws(IOError) {
            if options.broadcast { try set(fd, level: SOL_SOCKET, name: SO_BROADCAST, value: 1, label: "SO_BROADCAST") }
            if options.reusePort { try set(fd, level: SOL_SOCKET, name: SO_REUSEPORT, value: 1, label: "SO_REUSEPORT") }
            for (size, name, label) in [(options.receiveBufferSize, SO_RCVBUF, "SO_RCVBUF"),
                                        (options.sendBufferSize, SO_SNDBUF, "SO_SNDBUF")] {
                guard let size else { continue }
                guard size > 0 && size <= Int(Int32.max) else {
                    throw IOError("setsockopt(\(label))", .invalidArgument("a buffer size must be in 1...\(Int32.max), got \(size)"))
                }
                try set(fd, level: SOL_SOCKET, name: name, value: Int32(size), label: label)
            }
        } catch {
            var labelled = error
            labelled.context = labelled.context.map { "\(address): \($0)" } ?? "\(address)"
            throw labelled
        }
    }

    /// An integer option's value, as the kernel reports it.
    static func get(_ fd: Int32, level: Int32, name: Int32, label: String) throws(IOError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, level, name, &value, &length) == 0 else {
            throw IOError("getsockopt(\(label))", errno: curing_errno())
        }
        return value
    }

    /// Binds `fd` to `address`.
    static func bind(_ fd: Int32, to address: SocketAddress) throws(IOError) {
        var storage = address.storage
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, address.length) }
        }
        guard bound == 0 else { throw IOError("bind", errno: curing_errno(), context: "\(address)") }
    }

    static func set(_ fd: Int32, level: Int32, name: Int32, value: Int32, label: String) throws(IOError) {
        var value = value
        guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw IOError("setsockopt(\(label))", errno: curing_errno())
        }
    }

    /// Applies the configured per-connection options to a socket of
    /// `family` (`TCP_NODELAY` and keepalive only where there is TCP).
    static func configure(_ fd: Int32, family: Int32, _ configuration: NetworkConfiguration) throws(IOError) {
        if configuration.noDelay && family != AF_UNIX {
            try set(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1, label: "TCP_NODELAY")
        }
        if let keepAlive = configuration.keepAlive, family != AF_UNIX {
            // Validated with the configuration: the values are in range.
            let (idle, interval, probes) = try keepAlive.socketValues()
            try set(fd, level: SOL_SOCKET, name: SO_KEEPALIVE, value: 1, label: "SO_KEEPALIVE")
            try set(fd, level: Int32(IPPROTO_TCP), name: TCP_KEEPIDLE, value: idle, label: "TCP_KEEPIDLE")
            try set(fd, level: Int32(IPPROTO_TCP), name: TCP_KEEPINTVL, value: interval, label: "TCP_KEEPINTVL")
            try set(fd, level: Int32(IPPROTO_TCP), name: TCP_KEEPCNT, value: probes, label: "TCP_KEEPCNT")
        }
        if configuration.zeroLinger {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            guard setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size)) == 0 else {
                throw IOError("setsockopt(SO_LINGER)", errno: curing_errno())
            }
        }
    }

    /// The address a socket is bound to.
    static func localAddress(of fd: Int32) throws(IOError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { throw IOError("getsockname", errno: curing_errno()) }
        return SocketAddress(storage: storage, length: length)
    }
}
