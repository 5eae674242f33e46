// The order in which a dial by name tries a host's addresses.
import URingLoop

extension SocketAddress {
    /// `addresses` reordered so that the two families alternate, starting
    /// with the first address's, each family keeping its own order (RFC
    /// 8305, section 4): when one family is broken on this host, a dial
    /// loses one attempt's delay to it, not one per address of it.
    static func attemptOrder(_ addresses: [SocketAddress]) -> [SocketAddress] {
        guard let first = addresses.first else { return [] }
        var preferred = addresses.filter { $0.family == first.family }[...]
        var other = addresses.filter { $0.family != first.family }[...]
        var ordered: [SocketAddress] = []
        ordered.reserveCapacity(addresses.count)
        while !preferred.isEmpty || !other.isEmpty {
            if let next = preferred.popFirst() { ordered.append(next) }
            if let next = other.popFirst() { ordered.append(next) }
        }
        return ordered
    }
}
