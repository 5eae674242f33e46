// Numeric socket addresses: what `SocketAddress(host:port:)` takes, what it
// refuses, and that `host` and `description` write it back.
import Glibc
import Testing
import URing
import URingLoop

@Suite struct SocketAddressTests {
    @Test func numericHostsRoundTrip() throws {
        let cases: [(String, String, String)] = [
            ("127.0.0.1", "127.0.0.1", "127.0.0.1:80"),
            ("::1", "::1", "[::1]:80"),
            ("[::1]", "::1", "[::1]:80"),
            ("2001:db8::7", "2001:db8::7", "[2001:db8::7]:80"),
        ]
        for (text, host, description) in cases {
            let address = try SocketAddress(host: text, port: 80)
            #expect(address.host == host, "\(text)")
            #expect(address.description == description, "\(text)")
            #expect(address.port == 80)
            #expect(try SocketAddress(host: address.host, port: 80).host == host, "\(text) does not read back")
        }
    }

    /// A link-local address keeps the interface it names, by name or index,
    /// and writes it back as the index.
    @Test func linkLocalAddressesKeepTheirInterface() throws {
        let loopback = if_nametoindex("lo")
        try #require(loopback != 0, "this host has no interface named lo")
        let byName = try SocketAddress(host: "fe80::1%lo", port: 5)
        let byIndex = try SocketAddress(host: "fe80::1%\(loopback)", port: 5)
        #expect(byName.host == "fe80::1%\(loopback)")
        #expect(byName.description == "[fe80::1%\(loopback)]:5")
        #expect(byName.sameBytes(as: byIndex))
        #expect(!byName.sameBytes(as: try SocketAddress(host: "fe80::1", port: 5)))
        withUnsafeBytes(of: byName.storage) { raw in
            #expect(raw.load(as: sockaddr_in6.self).sin6_scope_id == loopback)
        }
    }

    @Test func anythingElseIsRefused() {
        for text in ["", "localhost", "1.2.3", "127.0.0.256", "[127.0.0.1]", "[::1", "::1]", "fe80::1%", "fe80::1%0",
                     "fe80::1%no-such-if0", "::g"] {
            do {
                let address = try SocketAddress(host: text, port: 1)
                Issue.record("\(text.debugDescription) parsed as \(address)")
            } catch {
                guard case .invalidArgument = error.reason else {
                    Issue.record("\(text.debugDescription): \(error)")
                    continue
                }
            }
        }
    }
}
