// Datagram sockets on a network's loops: UDP over IPv4 or IPv6, and Unix
// domain datagram sockets.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing
import URingLoop

extension Network {
    /// A datagram socket bound to `address`, taking datagrams from anyone:
    /// UDP on an IPv4 or IPv6 address (port 0 picks a free port), or a Unix
    /// domain datagram socket at a path, where the kernel creates a socket
    /// file that `close()` removes.
    ///
    /// - Throws: `IOError` `.shutdown` once the network (or its group) is
    ///   shut down; `.errno(EADDRINUSE)` for a port or path already taken
    ///   (a stale socket file of a process that did not close its socket:
    ///   remove it first if nothing uses it, or for UDP, `reusePort` on
    ///   every socket sharing it); `.invalidArgument` for a buffer size
    ///   that is not positive or above `Int32.max`.
    public func bindDatagram(_ address: SocketAddress, options: DatagramOptions = DatagramOptions()) throws(IOError)
        -> DatagramSocket {
        guard !isShutDown else { throw IOError("bind", .shutdown, context: "\(address)") }
        let fd = try SocketOptions.makeDatagramSocket(for: address)
        var socketFile: SocketFile?
        do throws(IOError) {
            try SocketOptions.apply(options, to: fd, address: address)
            try SocketOptions.bind(fd, to: address)
            socketFile = address.unixDomainSocketPath.flatMap(SocketFile.init(boundAt:))
            return datagramSocket(fd: fd, localAddress: try SocketOptions.localAddress(of: fd), peer: nil,
                                  socketFile: socketFile)
        } catch {
            Glibc.close(fd)
            socketFile?.remove()
            throw error
        }
    }

    /// A datagram socket connected to `address`: it sends there without
    /// naming it and takes datagrams from there only, and a UDP peer whose
    /// port is closed shows up as `ECONNREFUSED` on a later call. The local
    /// end gets a free port, or for a Unix domain socket a name of the
    /// kernel's choosing (an abstract one, with no file), so replies reach it.
    ///
    /// - Throws: `IOError` `.shutdown` once the network is shut down; for a
    ///   Unix domain path, `.errno(ENOENT)` when no socket file is there and
    ///   `.errno(ECONNREFUSED)` when nothing is bound to it; `.invalidArgument`
    ///   for a buffer size that is not positive or above `Int32.max`.
    public func connectDatagram(to address: SocketAddress, options: DatagramOptions = DatagramOptions()) async throws
        -> DatagramSocket {
        guard !isShutDown else { throw IOError("connect", .shutdown, context: "\(address)") }
        let fd = try SocketOptions.makeDatagramSocket(for: address)
        do {
            try SocketOptions.apply(options, to: fd, address: address)
            if address.family == AF_UNIX {
                // Autobind: an address of the family alone asks the kernel
                // for an abstract name, without which no reply could come back.
                var unnamed = sockaddr_storage()
                unnamed.ss_family = sa_family_t(AF_UNIX)
                try SocketOptions.bind(fd, to: SocketAddress(storage: unnamed,
                                                             length: socklen_t(MemoryLayout<sa_family_t>.size)))
            }
            try await receiveLoop.connect(fd, to: address, deadline: configuration.connectTimeout.map { .now + $0 })
            return datagramSocket(fd: fd, localAddress: try SocketOptions.localAddress(of: fd), peer: address,
                                  socketFile: nil)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// A datagram socket connected to `host` by name: its addresses are
    /// looked up (`SocketAddress.resolve`, in the order the resolver
    /// prefers) and the first one a socket can be connected to is taken.
    /// Connecting a datagram socket sends nothing, so unlike a TCP dial
    /// nothing answers: an address is skipped only when the kernel refuses
    /// it at once (no route to its network, a family this host lacks).
    /// A numeric host is parsed, with no lookup. `deadline` bounds the lookup.
    ///
    /// - Throws: the lookup's `IOError` (`.notFound`, `.errno(EAGAIN)` for a
    ///   resolver that did not answer), `.timedOut`, or the last address's
    ///   failure, naming the host and how many addresses were tried.
    public func connectDatagram(host: String, port: UInt16, options: DatagramOptions = DatagramOptions(),
                                deadline: ContinuousClock.Instant? = nil) async throws -> DatagramSocket {
        try await connectDatagram(host: host, port: port, options: options, deadline: deadline,
                                  lookup: SocketAddress.systemLookup)
    }

    /// `connectDatagram(host:port:)` with the lookup chosen (this package's tests).
    package func connectDatagram(
        host: String, port: UInt16, options: DatagramOptions, deadline: ContinuousClock.Instant?,
        lookup: @escaping @Sendable (String) -> Result<[SocketAddress], IOError>
    ) async throws -> DatagramSocket {
        let addresses = try await SocketAddress.resolve(host: host, port: port, deadline: deadline, lookup: lookup)
        var lastError: any Error = IOError("connect", .notFound, context: host)
        for address in addresses {
            do {
                return try await connectDatagram(to: address, options: options)
            } catch let error as IOError where error.errno != nil {
                lastError = error
            }
        }
        throw IOError.labelling(lastError, with: "\(host) port \(port), \(addresses.count) address(es) tried")
    }

    private func datagramSocket(fd: Int32, localAddress: SocketAddress, peer: SocketAddress?,
                                socketFile: SocketFile?) -> DatagramSocket {
        let loop = group?.next()
        return DatagramSocket(fd: fd, localAddress: localAddress, peer: peer, sendLoop: loop ?? sendLoop,
                              receiveLoop: loop ?? receiveLoop, sendTimeout: configuration.readWriteTimeout,
                              readyFirst: configuration.readyFirst, socketFile: socketFile,
                              receiveBuffers: datagramReceiveBuffers)
    }
}
