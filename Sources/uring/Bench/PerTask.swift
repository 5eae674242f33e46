// State with one slot per benchmark task (or thread): each task touches only
// its own slot, so the slots need no lock.

/// `@unchecked Sendable`: slot `i` is only ever accessed by task or thread
/// `i` (the benchmark loops guarantee it), so no two threads share a slot.
final class PerTask<State>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<State>
    private let count: Int

    init(_ count: Int, _ make: (Int) -> State) {
        self.count = count
        slots = .allocate(capacity: count)
        for index in 0..<count { (slots + index).initialize(to: make(index)) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    func with<T>(_ index: Int, _ body: (inout State) throws -> T) rethrows -> T {
        try body(&slots[index])
    }
}
