// Many reads or writes of one blob, one wait (`Handle.read(batch:)`,
// `Handle.write(batch:)`): for a caller that needs many blocks at once, a
// multi-get, an index walk or a checkpoint's dirty pages, where one task
// resumed once beats one resume per block.
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
        var outcomes = try await loop.read(batch: reads, rwFlags: flags, deadline: deadline,
                                           cacheFirst: readsCacheFirst(options))
        try await retryRejected(&outcomes, of: reads, flags: flags) { try await loop.read(batch: $0, rwFlags: $1, deadline: deadline) }
        return try outcomes.enumerated().map { index, outcome in
            do {
                return try outcome.get()
            } catch {
                throw labelled(IOError.labelling(error, with: "read \(index) of the batch of \(batch.count)"))
            }
        }
    }

    /// Writes each element's buffers, back to back, at its logical offset,
    /// all at once, and returns once every write has ended. With
    /// `.writeThenSync` one `fdatasync` follows the whole batch (submitted
    /// by the loop when the last write ends: one trip to the loop), so the
    /// batch is durable on return for the cost of one sync; with
    /// `.dataSync` each write is (`RWF_DSYNC`). On a direct blob each
    /// offset, buffer length and buffer address must be a multiple of 4096.
    /// The writes run together, in any order: overlapping elements leave
    /// the bytes they share undefined.
    ///
    /// - Throws: an element's `IOError` (its context says which), as for
    ///   `read(batch:)`: `.invalidArgument` before any I/O; otherwise the
    ///   first failure in batch order once all the writes have ended (the
    ///   others went to the file, not necessarily synced); the sync's
    ///   failure once all succeeded.
    public func write(
        batch: [(offset: UInt64, buffers: [IOBuffer])], options: WriteOptions = .buffered,
        deadline: ContinuousClock.Instant? = nil
    ) async throws {
        var loop: Handle?
        var flags: Int32 = 0
        var writes: [BatchWrite] = []
        writes.reserveCapacity(batch.count)
        for (index, element) in batch.enumerated() {
            do throws(IOError) {
                let target = try writeTarget(element.buffers, at: element.offset, options: options)
                (loop, flags) = (target.0, target.3)
                writes.append(BatchWrite(element.buffers, to: target.1, at: target.2))
            } catch {
                throw IOError.labelling(error, with: "write \(index) of the batch of \(batch.count)")
            }
        }
        guard let loop else { return }
        // With `.writeThenSync` the loop syncs once every write succeeded,
        // in the same trip (after a retry of rejected elements, that one).
        let thenSync = options.durability == .writeThenSync
        var outcomes: [Result<Void, any Error>]
        do {
            outcomes = try await loop.write(batch: writes, rwFlags: flags, deadline: deadline, thenSync: thenSync)
            try await retryRejected(&outcomes, of: writes, flags: flags) {
                try await loop.write(batch: $0, rwFlags: $1, deadline: deadline, thenSync: thenSync)
            }
        } catch {
            throw labelled(error)
        }
        for (index, outcome) in outcomes.enumerated() {
            if case .failure(let error) = outcome {
                throw labelled(IOError.labelling(error, with: "write \(index) of the batch of \(batch.count)"))
            }
        }
    }

    /// Runs again, through `again`, the elements whose transfer the kernel
    /// or filesystem rejected for RWF_DONTCACHE (which it does before moving
    /// a byte), without the flag, and puts their new outcomes in place.
    private func retryRejected<Element, Value>(
        _ outcomes: inout [Result<Value, any Error>], of elements: [Element], flags: Int32,
        _ again: ([Element], Int32) async throws -> [Result<Value, any Error>]
    ) async throws {
        let rejected = outcomes.indices.compactMap { index -> (Int, Int32)? in
            guard case .failure(let error) = outcomes[index], let retry = retryFlags(afterRejecting: error, of: flags) else { return nil }
            return (index, retry)
        }
        guard let retry = rejected.first?.1 else { return }
        let outcomesAgain = try await again(rejected.map { elements[$0.0] }, retry)
        for (slot, (index, _)) in rejected.enumerated() { outcomes[index] = outcomesAgain[slot] }
    }
}
