// Host names to socket addresses, for dialing a peer by name.
//
// The C library's resolver (`getaddrinfo`: /etc/hosts, DNS, whatever NSS is
// configured) blocks, and io_uring has no operation for it, so a lookup runs
// on one of the process's lookup threads (`LookupThreads`, at most 32, none
// while idle): never on a loop, which other tasks' I/O waits on, nor on the
// cooperative pool, whose few threads every task shares. A numeric host
// needs no lookup and uses no thread.
//
// The caller's wait can end before the lookup does (its deadline passed, its
// task was cancelled); a lookup already running then finishes on its thread
// and its answer is dropped, one still queued is not run. See `HostLookup`
// for who resumes the caller.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing

extension SocketAddress {
    /// The IPv4 and IPv6 addresses `host` has for TCP, each with `port`, in
    /// the order the system's resolver prefers (RFC 6724 on glibc), without
    /// repeats. A numeric host (`127.0.0.1`, `::1`) is parsed, not looked up.
    ///
    /// - Parameter deadline: when to stop waiting for the resolver (nil:
    ///   as long as it takes, which `resolv.conf`'s timeouts bound).
    /// - Throws: `IOError` from operation `"resolve"`: `.notFound` when the
    ///   name has no address, `.errno(EAGAIN)` for a temporary failure (a
    ///   DNS server that did not answer), `.timedOut` past `deadline`,
    ///   `.invalidArgument` for an empty name or one with a NUL byte, or the
    ///   errno of a failure of the system's; `CancellationError` when the
    ///   calling task is cancelled while it waits.
    public static func resolve(host: String, port: UInt16, deadline: ContinuousClock.Instant? = nil) async throws -> [SocketAddress] {
        try await resolve(host: host, port: port, deadline: deadline, lookup: SocketAddress.systemLookup)
    }

    /// `resolve` with the lookup chosen (this package's tests: one that
    /// blocks until they let it go, to race a deadline or a cancel against).
    package static func resolve(
        host: String, port: UInt16, deadline: ContinuousClock.Instant?,
        lookup: @escaping @Sendable (String) -> Result<[SocketAddress], IOError>
    ) async throws -> [SocketAddress] {
        if let numeric = try numericHost(host, port: port) { return [numeric] }
        let addresses = try await HostLookup.run(host: host, deadline: deadline, lookup: lookup)
        // An answer with no address (getaddrinfo's only IPv4/IPv6-less
        // kind) is a name not found: callers count on one address at least.
        guard !addresses.isEmpty else { throw IOError("resolve", .notFound, context: "\(host): no IPv4 or IPv6 address") }
        return addresses.map { $0.withPort(port) }
    }

    /// `host`'s addresses of one `family` (`AF_INET6` or `AF_INET`), each
    /// with `port`; none when the lookup found none of that family. For a
    /// dial that looks up both families side by side (RFC 8305), so one
    /// slow to answer does not hold the other.
    ///
    /// - Throws: as `resolve(host:port:deadline:)`; an answer with no
    ///   address of this family is an empty list here, not `.notFound`.
    package static func resolve(
        host: String, port: UInt16, family: Int32, deadline: ContinuousClock.Instant?,
        lookup: @escaping @Sendable (String, Int32) -> Result<[SocketAddress], IOError>
    ) async throws -> [SocketAddress] {
        let addresses = try await HostLookup.run(host: host, deadline: deadline) { lookup($0, family) }
        return addresses.filter { $0.family == family }.map { $0.withPort(port) }
    }

    /// `host` parsed as a numeric address with `port`, or nil for a name
    /// to look up.
    ///
    /// - Throws: `.invalidArgument` for an empty host or one with a NUL byte.
    package static func numericHost(_ host: String, port: UInt16) throws(IOError) -> SocketAddress? {
        guard !host.isEmpty, !host.utf8.contains(0) else {
            throw IOError("resolve", .invalidArgument("a host name must be non-empty and without NUL bytes"),
                          context: host.debugDescription)
        }
        return try? SocketAddress(host: host, port: port)
    }

    /// This address with another port.
    func withPort(_ port: UInt16) -> SocketAddress {
        var copy = self
        withUnsafeMutableBytes(of: &copy.storage) { raw in
            if family == AF_INET6 {
                raw.storeBytes(of: port.bigEndian, toByteOffset: MemoryLayout<sockaddr_in6>.offset(of: \.sin6_port)!, as: UInt16.self)
            } else {
                raw.storeBytes(of: port.bigEndian, toByteOffset: MemoryLayout<sockaddr_in>.offset(of: \.sin_port)!, as: UInt16.self)
            }
        }
        return copy
    }

    /// Whether both hold the same address, byte for byte (scope ids too).
    package func sameBytes(as other: SocketAddress) -> Bool {
        guard length == other.length else { return false }
        return withUnsafeBytes(of: storage) { mine in
            withUnsafeBytes(of: other.storage) { theirs in mine.prefix(Int(length)).elementsEqual(theirs.prefix(Int(length))) }
        }
    }

    /// `getaddrinfo` for TCP, blocking the calling thread; ports are 0.
    package static func systemLookup(_ host: String) -> Result<[SocketAddress], IOError> {
        systemLookup(host, family: AF_UNSPEC)
    }

    /// `getaddrinfo` for TCP addresses of one family (`AF_INET6`, `AF_INET`)
    /// or of both (`AF_UNSPEC`), blocking the calling thread; ports are 0.
    package static func systemLookup(_ host: String, family: Int32) -> Result<[SocketAddress], IOError> {
        var hints = addrinfo()
        hints.ai_family = family
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // IPv6 answers only where this host has IPv6 configured (and IPv4
        // ones only with IPv4): addresses it could not dial anyway.
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, nil, &hints, &list)
        guard code == 0 else { return .failure(resolutionError(code, errno: errno, host: host)) }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry?.pointee {
            entry = current.ai_next
            guard let address = current.ai_addr, current.ai_family == AF_INET || current.ai_family == AF_INET6,
                  Int(current.ai_addrlen) <= MemoryLayout<sockaddr_storage>.size else { continue }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(current.ai_addrlen))) }
            let found = SocketAddress(storage: storage, length: current.ai_addrlen)
            if !addresses.contains(where: { $0.sameBytes(as: found) }) {
                addresses.append(found)
            }
        }
        return .success(addresses)
    }

    /// What a `getaddrinfo` failure means for a caller.
    package static func resolutionError(_ code: Int32, errno: Int32, host: String) -> IOError {
        let why = String(cString: gai_strerror(code))
        switch code {
        // EAI_NODATA (-5): a name with no address; glibc declares it only
        // for _GNU_SOURCE, so Swift does not see it.
        case EAI_NONAME, -5:
            return IOError("resolve", .notFound, context: "\(host): \(why)")
        case EAI_AGAIN:
            return IOError("resolve", .errno(EAGAIN), context: "\(host): \(why)")
        case EAI_MEMORY:
            return IOError("resolve", .errno(ENOMEM), context: host)
        case EAI_SYSTEM:
            return IOError("resolve", .errno(errno), context: host)
        default:
            // EAI_FAIL and the rest: the resolver failed for good.
            return IOError("resolve", .errno(EIO), context: "\(host): \(why)")
        }
    }
}
