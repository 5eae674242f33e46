// The order in which a dial by name tries a host's addresses.
import URingLoop

extension SocketAddress {
    /// `addresses` reordered so that the two families alternate, starting
    /// with `family` (by default the first address's), each family keeping
    /// its own order (RFC 8305, section 4): when one family is broken on
    /// this host, a dial loses one attempt's delay to it, not one per
    /// address of it.
    static func attemptOrder(_ addresses: [SocketAddress], startingWith family: Int32? = nil) -> [SocketAddress] {
        guard let first = family ?? addresses.first?.family else { return [] }
        var preferred = addresses.filter { $0.family == first }[...]
        var other = addresses.filter { $0.family != first }[...]
        var ordered: [SocketAddress] = []
        ordered.reserveCapacity(addresses.count)
        while !preferred.isEmpty || !other.isEmpty {
            if let next = preferred.popFirst() { ordered.append(next) }
            if let next = other.popFirst() { ordered.append(next) }
        }
        return ordered
    }
}
