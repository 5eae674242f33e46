// pwrite/pwritev of every byte: a short write continues with the rest, at
// the advanced offset, until all bytes are written or an error stops it.
// With `thenSync`, an fdatasync follows from the loop thread once the last
// byte is written, so a durable write costs its caller one trip to the
// loop, not two.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing

final class WriteRequest: ValueRequest<Void>, @unchecked Sendable {
    let fd: Int32
    let offset: UInt64?
    private var vectors: IOVectors
    let rwFlags: Int32
    private let thenSync: Bool
    /// Every byte is written and the fdatasync is in flight (loop thread).
    private var syncing = false

    init(fd: Int32, offset: UInt64?, vectors: consuming IOVectors, rwFlags: Int32, deadline: ContinuousClock.Instant?,
         cancellable: Bool, thenSync: Bool) {
        self.fd = fd
        self.offset = offset
        self.vectors = vectors
        self.rwFlags = rwFlags
        self.thenSync = thenSync
        super.init(operation: "write", deadline: deadline, cancellable: cancellable)
    }

    override var stepName: String { syncing ? "fdatasync" : operation }

    private var position: UInt64 {
        offset.map { $0 + UInt64(vectors.totalBytes - vectors.remainingBytes) } ?? .max
    }

    override func makeEntry() -> SubmissionEntry {
        if syncing { return .fsync(fd: fd, dataOnly: true) }
        if vectors.remainingCount == 1 {
            let vector = vectors.head
            return .write(fd: fd, from: vector.iov_base!, count: UInt32(min(vector.iov_len, IOBuffer.maximumTransfer)),
                          offset: position, rwFlags: rwFlags)
        }
        return .writev(fd: fd, iovecs: vectors.remaining, iovecCount: UInt32(min(vectors.remainingCount, 1024)),
                       offset: position, rwFlags: rwFlags)
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if syncing {
            if result < 0 { fail(IOError("fdatasync", errno: result, context: "fd \(fd)")) } else { succeed(()) }
            return .finished
        }
        let accounted = vectors.account(result, operation: operation, fd: fd, stalled: EIO)
        if thenSync, case .success(true) = accounted {
            syncing = true
            return .again
        }
        return transferStep(accounted)
    }
}
