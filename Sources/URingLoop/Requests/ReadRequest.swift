// pread of an exact byte count: short reads continue at the next offset until
// the count is met; end of file before that is `.endOfFile`. A read whose
// start was already copied from the page cache on the caller's thread
// (`Handle.read`'s `cacheFirst`) begins where that copy ended.
import URing

final class ReadRequest: ValueRequest<IOBuffer>, @unchecked Sendable {
    let fd: Int32
    /// File offset, or `nil` for the current position (pipes, sockets).
    let offset: UInt64?
    let buffer: IOBuffer
    let target: Int
    let rwFlags: Int32
    private var done = 0

    init(fd: Int32, offset: UInt64?, buffer: IOBuffer, count: Int, alreadyRead: Int = 0, rwFlags: Int32,
         deadline: ContinuousClock.Instant?, cancellable: Bool) {
        self.fd = fd
        self.done = alreadyRead
        self.offset = offset
        self.buffer = buffer
        self.target = count
        self.rwFlags = rwFlags
        super.init(operation: "read", deadline: deadline, cancellable: cancellable)
    }

    override func makeEntry() -> SubmissionEntry {
        .read(fd: fd, into: buffer.base + done, count: UInt32(min(target - done, IOBuffer.maximumTransfer)),
              offset: offset.map { $0 + UInt64(done) } ?? .max, rwFlags: rwFlags)
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 {
            fail(IOError(operation, errno: result, context: "fd \(fd)"))
            return .finished
        }
        if result == 0 {
            fail(IOError(operation, .endOfFile, context: "fd \(fd): \(done) of \(target) bytes"))
            return .finished
        }
        done += Int(result)
        guard done == target else { return .again }
        buffer.count = target
        succeed(buffer)
        return .finished
    }
}
