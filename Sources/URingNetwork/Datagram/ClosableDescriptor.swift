// A descriptor that calls borrow while they use it, and that `close` retires
// at once and releases as soon as no call holds it.
//
// Why not close in `close()` itself: a call already past its check may still
// submit a request naming the descriptor's number, and once the number is
// closed the kernel may hand it to a file opened meanwhile; the request would
// then act on that file. Why not wait for `deinit`: a caller that keeps a
// reference would keep the port (or whatever the socket holds) bound long
// after closing it.
//
// State, one atomic word: bit 0 closed, bit 1 released, the rest the number
// of holders (in units of 4): calls, and `close` itself while it shuts the
// socket down. The descriptor is closed by whoever moves the word from
// "closed, no holders" to "released": the last holder to let go after the
// close. A borrow is refused once bit 0 is set, so holders only ever drain
// after a close, and the descriptor is never used after it is released.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

final class ClosableDescriptor: Sendable {
    private static let closedBit = 1
    private static let releasedBit = 2
    private static let holder = 4

    /// Valid for as long as a borrow holds it.
    let fd: Int32
    private let state = Atomic<Int>(0)

    init(_ fd: Int32) { self.fd = fd }

    deinit {
        // No holders can remain: each borrow keeps this object alive.
        if state.load(ordering: .acquiring) & Self.releasedBit == 0 { Glibc.close(fd) }
    }

    /// Whether `close()` was called.
    var isClosed: Bool { state.load(ordering: .relaxed) & Self.closedBit != 0 }

    /// Runs `body` with the descriptor held open, or returns nil without
    /// running it once `close()` was called.
    func borrow<T>(_ body: (Int32) async throws -> T) async rethrows -> T? {
        guard hold() else { return nil }
        defer { letGo() }
        return try await body(fd)
    }

    /// `borrow` for a body that does not suspend (a `getsockopt`).
    func borrowNow<T, E: Error>(_ body: (Int32) throws(E) -> T) throws(E) -> T? {
        guard hold() else { return nil }
        defer { letGo() }
        return try body(fd)
    }

    /// Counts one more holder, unless closed.
    private func hold() -> Bool {
        var current = state.load(ordering: .relaxed)
        while true {
            guard current & Self.closedBit == 0 else { return false }
            let (exchanged, found) = state.compareExchange(
                expected: current, desired: current + Self.holder, ordering: .acquiring)
            if exchanged { return true }
            current = found
        }
    }

    /// Counts one holder fewer; the last after a close releases.
    private func letGo() {
        if state.subtract(Self.holder, ordering: .acquiringAndReleasing).newValue == Self.closedBit { release() }
    }

    /// Retires the descriptor: later borrows are refused, and it is closed
    /// now if no call holds it, else when the last one returns. `beforeRelease`
    /// runs first, once, with the descriptor still open: `close` holds it
    /// meanwhile, like a call (to shut a socket down, so that calls waiting
    /// on it end). Returns false if it was already closed.
    @discardableResult
    func close(_ beforeRelease: (Int32) -> Void) -> Bool {
        var current = state.load(ordering: .relaxed)
        while true {
            guard current & Self.closedBit == 0 else { return false }
            let (exchanged, found) = state.compareExchange(
                expected: current, desired: (current | Self.closedBit) + Self.holder, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = found
        }
        beforeRelease(fd)
        letGo()
        return true
    }

    /// Closes the descriptor if the word still says "closed, no holders";
    /// the compare-exchange makes that happen once.
    private func release() {
        if state.compareExchange(expected: Self.closedBit, desired: Self.closedBit | Self.releasedBit,
                                 ordering: .acquiringAndReleasing).exchanged {
            Glibc.close(fd)
        }
    }
}
