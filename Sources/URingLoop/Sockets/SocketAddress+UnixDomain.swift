// Unix domain socket addresses: a path in the filesystem instead of a host
// and port, for servers and clients on one machine (a database's local
// socket), where loopback TCP would pay for a protocol nobody needs.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing

extension SocketAddress {
    /// The most bytes a path may have: `sun_path` holds 108 with the NUL.
    public static let maximumUnixDomainSocketPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// The Unix domain socket at `path` (relative paths are resolved
    /// against the working directory when bound or dialed).
    ///
    /// - Throws: `IOError` `.invalidArgument` for an empty path, one with a
    ///   NUL byte, or one longer than `maximumUnixDomainSocketPathLength`
    ///   bytes (the kernel's limit: a deep directory needs a shorter,
    ///   relative path).
    public init(unixDomainSocketPath path: String) throws(IOError) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty else {
            throw IOError("address", .invalidArgument("a Unix domain socket path must not be empty"))
        }
        guard !bytes.contains(0) else {
            throw IOError("address", .invalidArgument("a Unix domain socket path must not contain a NUL byte"))
        }
        guard bytes.count <= Self.maximumUnixDomainSocketPathLength else {
            throw IOError("address", .invalidArgument(
                "a Unix domain socket path holds at most \(Self.maximumUnixDomainSocketPathLength) bytes, "
                    + "'\(path)' has \(bytes.count)"))
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_un.self) }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        self.init(storage: storage, length: socklen_t(pathOffset + bytes.count + 1))
    }

    /// The path of a Unix domain socket address; nil for other families
    /// and for an unnamed socket (a peer that dialed without binding).
    public var unixDomainSocketPath: String? {
        guard family == AF_UNIX else { return nil }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let available = max(0, min(Int(length), MemoryLayout<sockaddr_un>.size) - pathOffset)
        return withUnsafeBytes(of: storage) { raw in
            let path = raw[pathOffset..<pathOffset + available].prefix { $0 != 0 }
            return path.isEmpty ? nil : String(decoding: path, as: UTF8.self)
        }
    }

    /// The name of a Linux abstract Unix domain socket address (a
    /// `sun_path` starting with a NUL byte: no file, the name alone, as the
    /// kernel gives a datagram socket it binds on its own), with bytes that
    /// are not printable as `\xNN`; nil for any other address.
    var abstractUnixDomainName: String? {
        guard family == AF_UNIX else { return nil }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let end = min(Int(length), MemoryLayout<sockaddr_un>.size)
        guard end > pathOffset else { return nil }
        return withUnsafeBytes(of: storage) { raw in
            guard raw[pathOffset] == 0 else { return nil }
            return raw[(pathOffset + 1)..<end].map { byte in
                (0x21...0x7e).contains(byte) ? String(UnicodeScalar(byte)) : (byte < 16 ? "\\x0" : "\\x") + String(byte, radix: 16)
            }.joined()
        }
    }
}
