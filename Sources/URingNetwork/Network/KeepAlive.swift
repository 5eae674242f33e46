// TCP keepalive: probes that find a peer gone without a word (a host that
// lost power, a NAT that forgot the flow) on a connection nobody sends on.
import URing

/// When and how often an idle TCP connection probes its peer
/// (`SO_KEEPALIVE` with `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
///
/// A connection silent for `idle` sends a probe, then another every
/// `interval` while none is answered; after `probes` unanswered ones the
/// kernel drops it, and a pending receive fails with `.errno(ETIMEDOUT)`.
/// The defaults find a vanished peer within two minutes of silence (the
/// kernel's own, once enabled, take over two hours). The kernel counts in
/// whole seconds: fractions are rounded up.
public struct KeepAlive: Sendable, Hashable {
    /// Silence before the first probe (1 s...32,767 s).
    public var idle: Duration
    /// Time between unanswered probes (1 s...32,767 s).
    public var interval: Duration
    /// Unanswered probes before the connection is dropped (1...127).
    public var probes: Int

    public init(idle: Duration = .seconds(60), interval: Duration = .seconds(10), probes: Int = 6) {
        self.idle = idle
        self.interval = interval
        self.probes = probes
    }

    /// The option values, in the kernel's units, or the first one out of its
    /// range.
    func socketValues() throws(IOError) -> (idle: Int32, interval: Int32, probes: Int32) {
        func seconds(_ name: String, _ duration: Duration) throws(IOError) -> Int32 {
            let (whole, fraction) = duration.components
            let rounded = fraction > 0 ? whole + 1 : whole
            guard rounded >= 1, rounded <= 32_767 else {
                throw IOError("network configuration", .invalidArgument("keepAlive.\(name) must be within 1 s...32767 s, got \(duration)"))
            }
            return Int32(rounded)
        }
        guard (1...127).contains(probes) else {
            throw IOError("network configuration", .invalidArgument("keepAlive.probes must be within 1...127, got \(probes)"))
        }
        return (try seconds("idle", idle), try seconds("interval", interval), Int32(probes))
    }
}
