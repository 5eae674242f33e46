// An IPv4, IPv6 or Unix domain socket address, as the kernel takes it
// (sockaddr_storage), and the text it is written as.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing

/// An IPv4/IPv6 address and port, or the path of a Unix domain socket
/// (`init(unixDomainSocketPath:)`).
public struct SocketAddress: Sendable, CustomStringConvertible {
    /// The raw address.
    public var storage: sockaddr_storage
    /// How many bytes of `storage` are meaningful.
    public var length: socklen_t

    public init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// Parses a numeric IPv4 (`127.0.0.1`) or IPv6 (`::1`, also in brackets
    /// as in a URL, `[::1]`) host. A link-local IPv6 address names its
    /// interface after a `%`, by name or index (`fe80::1%eth0`): without it
    /// the kernel cannot tell which link is meant.
    ///
    /// - Throws: `IOError` with `.invalidArgument` for anything else (a
    ///   name, which `SocketAddress.resolve` looks up), or an interface this
    ///   host does not have.
    public init(host: String, port: UInt16) throws(IOError) {
        var storage = sockaddr_storage()
        var literal = Substring(host)
        let bracketed = literal.hasPrefix("[") && literal.hasSuffix("]")
        if bracketed { literal = literal.dropFirst().dropLast() }
        if literal.contains(":") || bracketed {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            let parts = literal.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
            guard inet_pton(AF_INET6, String(parts[0]), &address.sin6_addr) == 1 else {
                throw IOError("address", .invalidArgument("'\(host)' is not a numeric IPv6 address"))
            }
            if parts.count == 2 {
                let interface = String(parts[1])
                let index = UInt32(interface) ?? if_nametoindex(interface)
                guard index != 0 else {
                    throw IOError("address", .invalidArgument("'\(host)' names no interface of this host ('\(interface)')"))
                }
                address.sin6_scope_id = index
            }
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in6.self) }
            self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, String(literal), &address.sin_addr) == 1 else {
                throw IOError("address", .invalidArgument("'\(host)' is not a numeric IPv4 address"))
            }
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in.self) }
            self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }

    /// `AF_INET`, `AF_INET6` or `AF_UNIX`.
    public var family: Int32 { Int32(storage.ss_family) }

    /// The port, in host byte order (0 for a Unix domain socket).
    public var port: UInt16 {
        guard family != AF_UNIX else { return 0 }
        return withUnsafeBytes(of: storage) { raw in
            family == AF_INET6
                ? UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
                : UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
        }
    }

    /// The numeric host, with `%` and the interface's index for a scoped
    /// (link-local) IPv6 address, as `init(host:port:)` takes it back; for
    /// a Unix domain socket, its path (empty for an unnamed one: a peer
    /// that dialed without binding).
    public var host: String {
        if family == AF_UNIX { return unixDomainSocketPath ?? "" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var scope: UInt32 = 0
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                let full = raw.load(as: sockaddr_in6.self)
                var address = full.sin6_addr
                scope = full.sin6_scope_id
                _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
            } else {
                var address = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
            }
        }
        let numeric = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return scope == 0 ? numeric : "\(numeric)%\(scope)"
    }

    public var description: String {
        switch family {
        case AF_INET6: "[\(host)]:\(port)"
        case AF_UNIX:
            if let name = abstractUnixDomainName { "unix:@\(name)" } else { host.isEmpty ? "unix:(unnamed)" : "unix:\(host)" }
        default: "\(host):\(port)"
        }
    }
}
