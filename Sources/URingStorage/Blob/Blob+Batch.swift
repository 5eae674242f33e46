// Many reads of one blob, one wait (`Handle.read(batch:)`): for a caller
// that needs many blocks at once, a multi-get or an index walk, where one
// task resumed once beats one resume per block.
import URing
import URingLoop

extension Blob {
    /// Reads each buffer's whole capacity at its logical offset, all at once,
    /// and returns the buffers filled, in order, once every read has ended.
    /// On a direct blob each offset, capacity and buffer address must be a
    /// multiple of 4096. The reads run together, so no two may share a buffer.
    ///
    /// Like `read(at:into:)`, the reads run to completion once submitted; a
    /// task cancelled before the call gets `CancellationError`.
    ///
    /// - Throws: an element's `IOError` (its context says which: "read 3 of
    ///   the batch of 8"): `.invalidArgument` before any I/O for one that is
    ///   misaligned on a direct blob or past the largest file; otherwise the
    ///   first failure in batch order, `.endOfFile` for one past the blob's
    ///   end, after all the reads have ended (the other buffers are filled
    ///   nonetheless).
    public func read(
        batch: [(offset: UInt64, buffer: IOBuffer)], options: ReadOptions = .cached, deadline: ContinuousClock.Instant? = nil
    ) async throws -> [IOBuffer] {
        var loop: Handle?
        var flags: Int32 = 0
        var reads: [BatchRead] = []
        reads.reserveCapacity(batch.count)
        for (index, element) in batch.enumerated() {
            do throws(IOError) {
                let target = try readTarget(element.offset, into: element.buffer, count: element.buffer.capacity, options: options)
                (loop, flags) = (target.0, target.3)
                reads.append(BatchRead(from: target.1, at: target.2, into: element.buffer))
            } catch {
                throw IOError.labelling(error, with: "read \(index) of the batch of \(batch.count)")
            }
        }
        guard let loop else { return [] }
        var outcomes = try await loop.read(batch: reads, rwFlags: flags, deadline: deadline)
        // A kernel or filesystem that rejects RWF_DONTCACHE does so before
        // moving a byte: those reads go again without it.
        let rejected = outcomes.indices.compactMap { index -> (Int, Int32)? in
            guard case .failure(let error) = outcomes[index], let retry = retryFlags(afterRejecting: error, of: flags) else { return nil }
            return (index, retry)
        }
        if let retry = rejected.first?.1 {
            let again = try await loop.read(batch: rejected.map { reads[$0.0] }, rwFlags: retry, deadline: deadline)
            for (slot, (index, _)) in rejected.enumerated() { outcomes[index] = again[slot] }
        }
        return try outcomes.enumerated().map { index, outcome in
            do {
                return try outcome.get()
            } catch {
                throw labelled(IOError.labelling(error, with: "read \(index) of the batch of \(batch.count)"))
            }
        }
    }
}
