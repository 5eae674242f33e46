// The buffers of one all-bytes transfer, with a cursor advanced in place as
// bytes move, so a short write or send resumes exactly where it stopped.
//
// Stored inline in its request (noncopyable, so the iovec memory has one
// owner). One buffer, the common case, needs no iovec array at all: its
// single vector lives in the struct and the request submits a plain
// send/write. Only several buffers allocate the array that sendmsg/writev
// read.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing

struct IOVectors: ~Copyable {
    /// Keeps the memory alive for as long as the kernel may read it.
    private enum Owner {
        case one(IOBuffer)
        case many([IOBuffer])
    }

    private let owner: Owner
    /// Vectors of a multi-buffer transfer; nil with a single buffer.
    private let array: UnsafeMutablePointer<iovec>?
    /// The vector of a single-buffer transfer.
    private var single: iovec
    private let count: Int
    private(set) var first = 0
    private(set) var remainingBytes: Int
    let totalBytes: Int

    init(_ buffer: IOBuffer) {
        owner = .one(buffer)
        array = nil
        single = iovec(iov_base: buffer.base, iov_len: buffer.count)
        count = 1
        remainingBytes = buffer.count
        totalBytes = buffer.count
        if buffer.count == 0 { first = 1 }
    }

    init(_ buffers: [IOBuffer]) {
        if buffers.count == 1 {
            self.init(buffers[0])
        } else {
            self.init(several: buffers)
        }
    }

    private init(several buffers: [IOBuffer]) {
        var total = 0
        for buffer in buffers { total += buffer.count }
        remainingBytes = total
        totalBytes = total
        count = buffers.count
        owner = .many(buffers)
        single = iovec()
        let array = UnsafeMutablePointer<iovec>.allocate(capacity: max(buffers.count, 1))
        for (index, buffer) in buffers.enumerated() {
            array[index] = iovec(iov_base: buffer.base, iov_len: buffer.count)
        }
        self.array = array
        // Skip empty buffers up front so the cursor always names bytes.
        while first < count && array[first].iov_len == 0 { first += 1 }
    }

    deinit { array?.deallocate() }

    var remainingCount: Int { count - first }

    /// The first vector with bytes left (when `remainingCount > 0`).
    var head: iovec { array.map { $0[first] } ?? single }

    /// The remaining vectors, for sendmsg/writev: only when more than one
    /// is left (so only for a multi-buffer transfer).
    var remaining: UnsafeMutablePointer<iovec> {
        precondition(remainingCount > 1, "IOVectors.remaining is for vectored transfers")
        return array! + first
    }

    /// Sends on `fd`, on this thread and without waiting, as much of what
    /// is left as the socket has room for (see `curing_send_ready`),
    /// advancing the cursor past it. Returns 0 once nothing is left or the
    /// socket is full (`EAGAIN`, or an interrupted call), else the send's
    /// -errno: what is sent stays sent either way.
    mutating func sendReady(on fd: Int32) -> Int32 {
        while remainingBytes > 0 {
            let result: Int
            if array == nil {
                result = curing_send_ready(fd, &single, 1)
            } else {
                result = curing_send_ready(fd, array! + first, min(remainingCount, 1024))
            }
            // Full (or interrupted): the ring sends the rest when there is room.
            if result == -Int(EAGAIN) || result == -Int(EINTR) || result == 0 { return 0 }
            if result < 0 { return Int32(result) }
            advance(by: result)
        }
        return 0
    }

    /// Accounts one CQE of a transfer that must move every byte: `true` when
    /// all bytes are done, `false` when another SQE is needed, or the error.
    /// A zero result with bytes left means no progress: it fails with
    /// `stalled` instead of spinning.
    mutating func account(_ result: Int32, operation: String, fd: Int32, stalled: Int32) -> Result<Bool, IOError> {
        if result < 0 { return .failure(IOError(operation, errno: result, context: "fd \(fd)")) }
        if result == 0 {
            return .failure(IOError(operation, .errno(stalled), context: "fd \(fd): no progress with \(remainingBytes) bytes left"))
        }
        advance(by: Int(result))
        return .success(remainingBytes == 0)
    }

    /// Marks `bytes` as transferred.
    mutating func advance(by bytes: Int) {
        remainingBytes -= bytes
        guard let array else {
            single.iov_base = single.iov_base.map { $0 + bytes }
            single.iov_len -= bytes
            if single.iov_len == 0 { first = 1 }
            return
        }
        var left = bytes
        while left > 0 {
            let length = array[first].iov_len
            if left >= length {
                left -= length
                first += 1
            } else {
                array[first].iov_base += left
                array[first].iov_len -= left
                left = 0
            }
        }
        while first < count && array[first].iov_len == 0 { first += 1 }
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
