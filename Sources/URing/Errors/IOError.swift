// The one error type of swift-uring: what was being done, and why it failed.
//
// Every layer throws `IOError`, so a caller matches on `reason` whatever the
// layer: an errno from the kernel, or one of the runtime's own outcomes
// (timeout, end of file, shutdown...). Descriptions are written for people:
// the failure of io_uring_setup says what to check, not just the errno.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An I/O failure: the operation, the reason, and optional context (a path,
/// a partition, a peer) that helps a reader find the culprit.
public struct IOError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why an operation failed.
    public enum Reason: Sendable, Hashable {
        /// The kernel returned this errno.
        case errno(Int32)
        /// The operation's deadline passed before it completed.
        case timedOut
        /// A read reached the end of the file or stream before `count` bytes.
        case endOfFile
        /// The loop is shutting down (or is gone) and takes no new work.
        case shutdown
        /// Shutdown gave up on the operation before the kernel finished it.
        case abandoned
        /// The caller passed a value the operation cannot accept.
        case invalidArgument(String)
        /// Something that should exist does not (a blob, a partition).
        case notFound
        /// Stored data is not in the expected format (bad magic, unknown header).
        case corrupt(String)
        /// Stored data has a version outside the range the caller accepts.
        case unsupportedVersion(found: UInt16, accepted: ClosedRange<UInt16>)
    }

    /// The operation that failed, e.g. `"read"` or `"io_uring_setup"`.
    public var operation: String
    /// Why it failed.
    public var reason: Reason
    /// Extra context for humans: a path, a partition, an address.
    public var context: String?

    public init(_ operation: String, _ reason: Reason, context: String? = nil) {
        self.operation = operation
        self.reason = reason
        self.context = context
    }

    /// An error from a negative kernel result (`-errno`) or a positive errno.
    public init(_ operation: String, errno code: Int32, context: String? = nil) {
        self.init(operation, .errno(code < 0 ? -code : code), context: context)
    }

    /// `error` with `label` (a blob, a peer) put in front of its context, if
    /// it is an IOError; any other error unchanged. Each layer adds what it
    /// knows as the error passes through it.
    public static func labelling(_ error: any Error, with label: String) -> any Error {
        guard var error = error as? IOError else { return error }
        error.context = error.context.map { "\(label): \($0)" } ?? label
        return error
    }

    /// The errno, when the kernel gave one.
    public var errno: Int32? {
        if case .errno(let code) = reason { return code }
        return nil
    }

    public var description: String {
        var text = "\(operation) failed: "
        switch reason {
        case .errno(let code):
            text += "\(IOError.errnoName(code)) (\(String(cString: strerror(code))))"
            if operation == "io_uring_setup", let advice = IOError.setupAdvice(code) {
                text += ". " + advice
            }
        case .timedOut: text += "timed out"
        case .endOfFile: text += "unexpected end of file"
        case .shutdown: text += "the loop is shut down"
        case .abandoned: text += "abandoned by shutdown before the kernel completed it"
        case .invalidArgument(let why): text += "invalid argument: \(why)"
        case .notFound: text += "not found"
        case .corrupt(let why): text += "corrupt: \(why)"
        case .unsupportedVersion(let found, let accepted):
            text += "version \(found) is outside the accepted \(accepted.lowerBound)...\(accepted.upperBound)"
        }
        if let context { text += " [\(context)]" }
        return text
    }

    /// What a person can do when the ring cannot be created.
    static func setupAdvice(_ code: Int32) -> String? {
        switch code {
        case ENOSYS:
            return "This kernel has no io_uring (it needs Linux 5.1 or later, 6.1+ recommended, built with CONFIG_IO_URING). Check with `uname -r`."
        case EPERM:
            return "io_uring is forbidden here: either the sysctl kernel.io_uring_disabled is set (check `sysctl kernel.io_uring_disabled`; 0 allows it, 1 allows only the io_uring_group, 2 disables it) or a seccomp profile (e.g. a container runtime's default) blocks io_uring_setup (check `grep Seccomp /proc/self/status`)."
        case ENOMEM:
            return "The kernel could not allocate the ring: on kernels before 5.12 rings count against the locked-memory limit (check `ulimit -l` and raise it, or use a smaller ring)."
        case EINVAL:
            return "The kernel rejected the ring parameters: a flag this kernel does not support (SINGLE_ISSUER needs 6.0, DEFER_TASKRUN 6.1), or too many entries."
        default:
            return nil
        }
    }

    /// The symbolic name of common errnos, for messages and test output.
    static func errnoName(_ code: Int32) -> String {
        switch code {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case EINTR: return "EINTR"
        case EIO: return "EIO"
        case EBADF: return "EBADF"
        case EAGAIN: return "EAGAIN"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case ENOTDIR: return "ENOTDIR"
        case EISDIR: return "EISDIR"
        case EINVAL: return "EINVAL"
        case EMFILE: return "EMFILE"
        case EFBIG: return "EFBIG"
        case ENOSPC: return "ENOSPC"
        case EPIPE: return "EPIPE"
        case ENOSYS: return "ENOSYS"
        case ETIME: return "ETIME"
        case ETIMEDOUT: return "ETIMEDOUT"
        case ECANCELED: return "ECANCELED"
        case ECONNREFUSED: return "ECONNREFUSED"
        case ECONNRESET: return "ECONNRESET"
        case ENOTCONN: return "ENOTCONN"
        case EALREADY: return "EALREADY"
        case EOPNOTSUPP: return "EOPNOTSUPP"
        case EADDRINUSE: return "EADDRINUSE"
        case ENOTSOCK: return "ENOTSOCK"
        case ENOTEMPTY: return "ENOTEMPTY"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case ELOOP: return "ELOOP"
        case EROFS: return "EROFS"
        case EXDEV: return "EXDEV"
        case EDQUOT: return "EDQUOT"
        case EMSGSIZE: return "EMSGSIZE"
        case EDESTADDRREQ: return "EDESTADDRREQ"
        case EAFNOSUPPORT: return "EAFNOSUPPORT"
        default: return "errno \(code)"
        }
    }
}
