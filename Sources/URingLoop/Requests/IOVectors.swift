// An owned iovec array over a list of buffers, advanced in place as bytes
// are transferred, so a short write or send resumes exactly where it stopped.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import URing

/// iovecs with a cursor. Owns its memory; the buffers are kept alive by
/// `buffers` for as long as the kernel may read them.
final class IOVectors {
    let buffers: [IOBuffer]
    let vectors: UnsafeMutablePointer<iovec>
    private(set) var first = 0
    private(set) var remainingBytes: Int
    let totalBytes: Int

    init(_ buffers: [IOBuffer]) {
        self.buffers = buffers
        vectors = .allocate(capacity: max(buffers.count, 1))
        var total = 0
        for (index, buffer) in buffers.enumerated() {
            vectors[index] = iovec(iov_base: buffer.base, iov_len: buffer.count)
            total += buffer.count
        }
        remainingBytes = total
        totalBytes = total
        // Skip empty buffers up front so the cursor always names bytes.
        while first < buffers.count && vectors[first].iov_len == 0 { first += 1 }
    }

    deinit { vectors.deallocate() }

    var remainingCount: Int { buffers.count - first }
    var current: UnsafeMutablePointer<iovec> { vectors + first }

    /// Accounts one CQE of a transfer that must move every byte: `true` when
    /// all bytes are done, `false` when another SQE is needed, or the error.
    /// A zero result with bytes left means no progress: it fails with
    /// `stalled` instead of spinning.
    func account(_ result: Int32, operation: String, fd: Int32, stalled: Int32) -> Result<Bool, IOError> {
        if result < 0 { return .failure(IOError(operation, errno: result, context: "fd \(fd)")) }
        if result == 0 {
            return .failure(IOError(operation, .errno(stalled), context: "fd \(fd): no progress with \(remainingBytes) bytes left"))
        }
        advance(by: Int(result))
        return .success(remainingBytes == 0)
    }

    /// Marks `bytes` as transferred.
    func advance(by bytes: Int) {
        var left = bytes
        remainingBytes -= bytes
        while left > 0 {
            let length = vectors[first].iov_len
            if left >= length {
                left -= length
                first += 1
            } else {
                vectors[first].iov_base += left
                vectors[first].iov_len -= left
                left = 0
            }
        }
        while first < buffers.count && vectors[first].iov_len == 0 { first += 1 }
    }
}

extension ValueRequest where Value == Void {
    /// Ends or continues an all-bytes transfer after `IOVectors.account`.
    func transferStep(_ accounted: Result<Bool, IOError>) -> CompletionStep {
        switch accounted {
        case .failure(let error):
            fail(error)
        case .success(false):
            return .again
        case .success(true):
            succeed(())
        }
        return .finished
    }
}
