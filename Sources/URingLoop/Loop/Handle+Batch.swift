// Many reads, writes or datagram sends, one wait: a batch handed to the
// loop together and awaited as one.
//
// Each request on its own costs its task a hand-off to the loop and a
// resume back, and the resume (a pool thread woken, or a hop) costs as much
// as a page-cache read itself. A task that needs many blocks at once (a
// multi-get, an index walk, a checkpoint's dirty pages) hands them over
// under one lock with one publish, and is resumed once, when the last
// completes; the kernel gets them in as few `io_uring_enter` calls as the
// ring holds.
import URing

extension Handle {
    /// Reads every element of `batch` (exactly its count at its offset,
    /// continuing after short reads) and returns when all have ended, with
    /// one outcome per element, in order: its buffer (with `count` set) or
    /// its error (`IOError` `.endOfFile`, `.errno`, `.timedOut` past
    /// `deadline`, `.shutdown`). One element's failure does not end the
    /// others. The reads run in any order and at once, so elements should
    /// not share a buffer.
    ///
    /// Regular files and block devices: the reads are not cancelled in
    /// flight (see `read(from:at:into:)`'s `cancellable`), so a task
    /// cancelled after the call still gets every outcome. With `cacheFirst`
    /// each element is first copied from the page cache on this thread, as
    /// `read(from:at:into:)` does, and only what was not cached goes to the
    /// ring: a batch found whole in the cache returns without suspending.
    ///
    /// - Throws: `CancellationError` if the task was cancelled before the
    ///   call; `IOError` `.invalidArgument` for an element whose count does
    ///   not fit its buffer or whose end is past the largest file offset,
    ///   before any element is read (from the cache or through the ring).
    public func read(
        batch: [BatchRead], rwFlags: Int32 = 0, deadline: ContinuousClock.Instant? = nil, cacheFirst: Bool = false
    ) async throws -> [Result<IOBuffer, any Error>] {
        // With the cache first, making an element's request already reads:
        // every element's arguments are checked before the first is made.
        let check: ((BatchRead) throws(IOError) -> Void)? = cacheFirst ? { read throws(IOError) in
            try Handle.check(count: read.count ?? read.buffer.capacity, capacity: read.buffer.capacity, offset: read.offset,
                             operation: "read")
        } : nil
        return try await performBatch(batch, operation: "read", checkingFirst: check) { read throws(IOError) in
            (try readRequest(from: read.fd, at: read.offset, into: read.buffer, count: read.count, rwFlags: rwFlags,
                             deadline: deadline, cancellable: false, cacheFirst: cacheFirst), read.buffer)
        }
    }

    /// Writes every element of `batch` (all its bytes at its offset,
    /// continuing after short writes; `rwFlags` takes `RWF_*` such as
    /// `RWF_DSYNC`) and returns when all have ended, with one outcome per
    /// element, in order. One element's failure does not end the others.
    /// The writes run in any order and at once: elements whose ranges
    /// overlap leave those bytes undefined.
    ///
    /// As for reads: regular files and block devices, not cancelled in
    /// flight.
    ///
    /// `thenSync`: once every element has succeeded, `fdatasync` their
    /// descriptor (all elements must share one) before returning, which
    /// makes the batch and every earlier write durable. The loop submits the
    /// sync itself when the last write ends, so the caller makes one trip to
    /// the loop, not two. After any element fails there is no sync.
    ///
    /// - Throws: `CancellationError` if the task was cancelled before the
    ///   call; `IOError` `.invalidArgument` for an element whose end is past
    ///   the largest file offset, or with `thenSync` a batch for more than
    ///   one descriptor, before any write is submitted; the sync's
    ///   `IOError` when only the sync failed.
    public func write(
        batch: [BatchWrite], rwFlags: Int32 = 0, deadline: ContinuousClock.Instant? = nil, thenSync: Bool = false
    ) async throws -> [Result<Void, any Error>] {
        var syncing: Int32?
        if thenSync, let fd = batch.first?.fd {
            guard batch.allSatisfy({ $0.fd == fd }) else {
                throw IOError("write", .invalidArgument("a batch that syncs must write to one descriptor"))
            }
            syncing = fd
        }
        return try await performBatch(batch, operation: "write", syncing: syncing) { write throws(IOError) in
            (try writeRequest(write.buffers, to: write.fd, at: write.offset, rwFlags: rwFlags, deadline: deadline,
                              cancellable: false, thenSync: false), ())
        }
    }

    /// Sends every element of `batch` as one datagram on `fd` (see
    /// `sendDatagram`), all handed to the loop together, and returns when
    /// all have ended, with one outcome per element, in order: a fan-out
    /// (a message to every peer) in one trip instead of one per peer. One
    /// element's failure (`EMSGSIZE`, a refused or unreachable destination)
    /// does not end the others. The datagrams are submitted in order; on a
    /// socket with room they leave in that order. A datagram that waits for
    /// room ends at `deadline` at the latest; cancelling the task after the
    /// call does not end it.
    ///
    /// - Throws: `CancellationError` if the task was cancelled before the call.
    public func sendDatagrams(
        _ batch: [OutgoingDatagram], on fd: Int32, deadline: ContinuousClock.Instant? = nil
    ) async throws -> [Result<Void, any Error>] {
        try await performBatch(batch, operation: "sendmsg") { datagram throws(IOError) in
            (DatagramSendRequest(fd: fd, buffer: datagram.buffer, to: datagram.destination, deadline: deadline), ())
        }
    }

    /// Makes each element's request (nil: nothing to transfer, answered at
    /// once with the second value), hands them over together, and waits
    /// once for all. `checkingFirst`, when given, runs over every element
    /// before any request is made. `syncing`: the descriptor to fdatasync
    /// once every element has succeeded, from the loop thread when the last
    /// one ends (with no request at all, here); its failure is thrown.
    private func performBatch<Element, Value: Sendable>(
        _ batch: [Element], operation: String, checkingFirst check: ((Element) throws(IOError) -> Void)? = nil,
        syncing: Int32? = nil, _ makeRequest: (Element) throws(IOError) -> (ValueRequest<Value>?, Value)
    ) async throws -> [Result<Value, any Error>] {
        if Task.isCancelled { throw CancellationError() }
        if let check {
            for (index, element) in batch.enumerated() {
                do throws(IOError) {
                    try check(element)
                } catch {
                    throw IOError.labelling(error, with: "\(operation) \(index) of the batch of \(batch.count)")
                }
            }
        }
        var results: [Result<Value, any Error>] = []
        var requests: [(index: Int, request: ValueRequest<Value>)] = []
        results.reserveCapacity(batch.count)
        requests.reserveCapacity(batch.count)
        for (index, element) in batch.enumerated() {
            do throws(IOError) {
                let (request, empty) = try makeRequest(element)
                results.append(.success(empty))
                if let request { requests.append((index, request)) }
            } catch {
                throw IOError.labelling(error, with: "\(operation) \(index) of the batch of \(batch.count)")
            }
        }
        guard !requests.isEmpty else {
            if let syncing { try await sync(syncing, dataOnly: true) }
            return results
        }
        let collector = BatchCollector<Value>(count: requests.count)
        let (outcomes, synced) = await withUnsafeContinuation {
            (continuation: UnsafeContinuation<([Result<Value, any Error>], Result<Void, any Error>?), Never>) in
            let sync = syncing.map { syncRequest($0, dataOnly: true, deadline: nil) }
            collector.finish = { [core] outcomes in
                let allSucceeded = outcomes.allSatisfy { if case .success = $0 { true } else { false } }
                guard let sync, allSucceeded else {
                    continuation.resume(returning: (outcomes, nil))
                    return
                }
                // Called by the last write's handler, on the loop thread: the
                // sync is staged there directly, with no trip back first.
                core.submit(sync) { continuation.resume(returning: (outcomes, $0)) }
            }
            for (slot, entry) in requests.enumerated() {
                entry.request.completionHandler = { collector.record($0, at: slot) }
            }
            core.submit(batch: requests.map(\.request))
        }
        for (slot, entry) in requests.enumerated() { results[entry.index] = outcomes[slot] }
        if case .failure(let error)? = synced { throw error }
        return results
    }
}
