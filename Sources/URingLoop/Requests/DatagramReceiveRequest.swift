// recvmsg of one datagram into a buffer, with its sender's address. MSG_TRUNC
// makes the kernel report a datagram's full length even when the buffer held
// only its start, so one that did not fit is an error naming both sizes
// instead of a silently shortened message.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing

final class DatagramReceiveRequest: ValueRequest<SocketAddress>, @unchecked Sendable {
    let fd: Int32
    /// Kept alive while the kernel writes into it.
    private let buffer: IOBuffer
    private var header: DatagramHeader

    init(fd: Int32, buffer: IOBuffer, deadline: ContinuousClock.Instant?) {
        self.fd = fd
        self.buffer = buffer
        header = DatagramHeader(base: buffer.base, count: buffer.capacity, address: nil, forReceive: true)
        super.init(operation: "recvmsg", deadline: deadline)
    }

    override func makeEntry() -> SubmissionEntry {
        .recvmsg(fd: fd, message: header.message(resettingForReceive: true), flags: Int32(MSG_TRUNC))
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        switch header.receivedLength(result, capacity: buffer.capacity, fd: fd, operation: operation) {
        case .failure(let error):
            fail(error)
        case .success(let length):
            buffer.count = length
            succeed(header.sender)
        }
        return .finished
    }
}
