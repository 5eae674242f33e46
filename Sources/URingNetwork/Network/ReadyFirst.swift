// Which calls on a network's sockets first try the socket on the calling
// task's thread (`NetworkConfiguration.readyFirst`).

/// The directions in which a socket call first asks the socket itself,
/// without waiting, before it goes through the ring.
public struct ReadyFirst: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// Sends: what the socket has room for leaves at once.
    public static let sends = ReadyFirst(rawValue: 1)
    /// Receives: what the socket already holds is taken at once.
    public static let receives = ReadyFirst(rawValue: 2)
    /// Both.
    public static let all: ReadyFirst = [.sends, .receives]
}
