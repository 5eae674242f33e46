// A growable FIFO over a power-of-two array: O(1) push and pop at either end
// without the shifting that `Array.removeFirst` costs. Internal to the loop.

/// A double-ended FIFO with amortised O(1) operations.
struct RingBuffer<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int = 16) {
        var size = 1
        while size < max(capacity, 1) { size <<= 1 }
        storage = Array(repeating: nil, count: size)
    }

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) & (storage.count - 1)] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()
        head = (head + 1) & (storage.count - 1)
        count -= 1
        return element
    }

    var first: Element? { count > 0 ? storage[head] : nil }

    /// Removes every element, in order, handing each to `body`.
    mutating func removeAll(_ body: (Element) -> Void) {
        while let element = popFirst() { body(element) }
    }

    private mutating func grow() {
        var larger = [Element?](repeating: nil, count: storage.count * 2)
        for index in 0..<count {
            larger[index] = storage[(head + index) & (storage.count - 1)].take()
        }
        storage = larger
        head = 0
    }
}
