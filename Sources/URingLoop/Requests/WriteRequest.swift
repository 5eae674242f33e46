// pwrite/pwritev of every byte: a short write continues with the rest, at
// the advanced offset, until all bytes are written or an error stops it.
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

    init(fd: Int32, offset: UInt64?, vectors: consuming IOVectors, rwFlags: Int32, deadline: ContinuousClock.Instant?,
         cancellable: Bool) {
        self.fd = fd
        self.offset = offset
        self.vectors = vectors
        self.rwFlags = rwFlags
        super.init(operation: "write", deadline: deadline, cancellable: cancellable)
    }

    private var position: UInt64 {
        offset.map { $0 + UInt64(vectors.totalBytes - vectors.remainingBytes) } ?? .max
    }

    override func makeEntry() -> SubmissionEntry {
        if vectors.remainingCount == 1 {
            let vector = vectors.head
            return .write(fd: fd, from: vector.iov_base!, count: UInt32(min(vector.iov_len, IOBuffer.maximumTransfer)),
                          offset: position, rwFlags: rwFlags)
        }
        return .writev(fd: fd, iovecs: vectors.remaining, iovecCount: UInt32(min(vectors.remainingCount, 1024)),
                       offset: position, rwFlags: rwFlags)
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        transferStep(vectors.account(result, operation: operation, fd: fd, stalled: EIO))
    }
}
