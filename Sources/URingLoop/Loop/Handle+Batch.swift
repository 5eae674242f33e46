// Many reads, one wait: a batch of reads handed to the loop together and
// awaited as one.
//
// Each read on its own costs its task a hand-off to the loop and a resume
// back, and the resume (a pool thread woken, or a hop) costs as much as a
// page-cache read itself. A task that needs many blocks at once (a
// multi-get, an index walk, a compaction's inputs) hands them over under
// one lock with one publish, and is resumed once, when the last completes;
// the kernel gets them in as few `io_uring_enter` calls as the ring holds.
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
    /// cancelled after the call still gets every outcome.
    ///
    /// - Throws: `CancellationError` if the task was cancelled before the
    ///   call; `IOError` `.invalidArgument` for an element whose count does
    ///   not fit its buffer or whose end is past the largest file offset,
    ///   before any read is submitted.
    public func read(
        batch: [BatchRead], rwFlags: Int32 = 0, deadline: ContinuousClock.Instant? = nil
    ) async throws -> [Result<IOBuffer, any Error>] {
        if Task.isCancelled { throw CancellationError() }
        var requests: [(index: Int, request: ValueRequest<IOBuffer>)] = []
        requests.reserveCapacity(batch.count)
        for (index, read) in batch.enumerated() {
            do {
                // nil: nothing to read (count 0), answered below.
                if let request = try readRequest(from: read.fd, at: read.offset, into: read.buffer, count: read.count,
                                                 rwFlags: rwFlags, deadline: deadline, cancellable: false) {
                    requests.append((index, request))
                }
            } catch {
                throw IOError.labelling(error, with: "read \(index) of the batch of \(batch.count)")
            }
        }
        guard !requests.isEmpty else { return batch.map { .success($0.buffer) } }
        let collector = BatchCollector<IOBuffer>(count: requests.count)
        let outcomes = await withUnsafeContinuation { continuation in
            collector.continuation = continuation
            for (slot, entry) in requests.enumerated() {
                entry.request.completionHandler = { collector.record($0, at: slot) }
            }
            core.submit(batch: requests.map(\.request))
        }
        // Elements with nothing to read kept their empty buffer.
        var results = batch.map { Result<IOBuffer, any Error>.success($0.buffer) }
        for (slot, entry) in requests.enumerated() { results[entry.index] = outcomes[slot] }
        return results
    }
}
