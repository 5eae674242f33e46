// recv into a buffer at `start`: `exact` keeps receiving until `count` bytes arrived
// (a peer that closes first is `.endOfFile`); otherwise one receive of at
// most `count` bytes, where 0 bytes means the peer closed its side.
import URing

final class ReceiveRequest: ValueRequest<IOBuffer>, @unchecked Sendable {
    let fd: Int32
    let buffer: IOBuffer
    /// Where in the buffer received bytes start.
    let start: Int
    let target: Int
    let exact: Bool
    /// Bytes received so far (some may have come before the first SQE: a
    /// `readyFirst` receive's, on the caller's thread).
    private var done: Int

    init(fd: Int32, buffer: IOBuffer, start: Int, count: Int, exact: Bool, alreadyReceived: Int = 0,
         deadline: ContinuousClock.Instant?) {
        self.fd = fd
        done = alreadyReceived
        self.buffer = buffer
        self.start = start
        self.target = count
        self.exact = exact
        super.init(operation: "recv", deadline: deadline)
    }

    override func makeEntry() -> SubmissionEntry {
        .recv(fd: fd, into: buffer.base + start + done, count: UInt32(min(target - done, IOBuffer.maximumTransfer)))
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 {
            fail(IOError(operation, errno: result, context: "fd \(fd)"))
            return .finished
        }
        done += Int(result)
        if exact && result == 0 && done < target {
            fail(IOError(operation, .endOfFile, context: "fd \(fd): peer closed after \(done) of \(target) bytes"))
            return .finished
        }
        if exact && done < target { return .again }
        buffer.count = start + done
        succeed(buffer)
        return .finished
    }
}
