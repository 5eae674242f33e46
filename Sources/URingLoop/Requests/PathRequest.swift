// A metadata operation on a path: openat, mkdirat, unlinkat, renameat. The
// kernel resolves the path itself (inline when the dentry cache has it, on
// an io-wq worker when the lookup must read the disk), so the calling
// thread never blocks on a cold directory. The request owns NUL-terminated
// copies of its paths, which the kernel reads until the completion.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing

final class PathRequest: ValueRequest<Int32>, @unchecked Sendable {
    enum Kind {
        case open(flags: Int32, mode: UInt32)
        case makeDirectory(mode: UInt32)
        case remove(flags: Int32)
        /// To `newPath`, relative to `newDirectory`.
        case rename(newPath: String, newDirectory: Int32, flags: UInt32)
    }

    private let kind: Kind
    private let directory: Int32
    /// The path as the caller gave it (a rename: both, with an arrow), for errors.
    private let path: String
    /// The kernel's copy source: allocated here, freed in `deinit`, after
    /// the request's only completion.
    private let cPath: UnsafeMutablePointer<CChar>
    /// A rename's new path, owned the same way.
    private let cNewPath: UnsafeMutablePointer<CChar>?

    /// Not cancellable once submitted, and without a deadline (which would
    /// cancel it): an open the kernel finishes anyway must reach its
    /// caller, or its descriptor would leak. Fails with
    /// `.invalidArgument` for a path with a NUL byte inside, which the
    /// kernel would silently cut short.
    init(_ operation: String, kind: Kind, path: String, directory: Int32) throws(IOError) {
        var newPath: String?
        if case .rename(let target, _, _) = kind { newPath = target }
        for candidate in [path, newPath].compactMap(\.self) where candidate.utf8.contains(0) {
            throw IOError(operation, .invalidArgument("the path contains a NUL byte"), context: candidate)
        }
        guard let copy = strdup(path) else { throw IOError(operation, .errno(ENOMEM), context: path) }
        var newCopy: UnsafeMutablePointer<CChar>?
        if let newPath {
            newCopy = strdup(newPath)
            guard newCopy != nil else {
                free(copy)
                throw IOError(operation, .errno(ENOMEM), context: newPath)
            }
        }
        self.kind = kind
        self.directory = directory
        self.path = newPath.map { "\(path) -> \($0)" } ?? path
        cPath = copy
        cNewPath = newCopy
        super.init(operation: operation, deadline: nil, cancellable: false)
    }

    deinit {
        free(cPath)
        free(cNewPath)
    }

    override func makeEntry() -> SubmissionEntry {
        switch kind {
        case .open(let flags, let mode): .openat(directory: directory, path: cPath, flags: flags, mode: mode)
        case .makeDirectory(let mode): .mkdirat(directory: directory, path: cPath, mode: mode)
        case .remove(let flags): .unlinkat(directory: directory, path: cPath, flags: flags)
        case .rename(_, let newDirectory, let flags):
            .renameat(directory: directory, path: cPath, newDirectory: newDirectory, newPath: cNewPath!, flags: flags)
        }
    }

    /// What an open's lookup from the kernel's caches gave.
    enum CachedOpen {
        case opened(Int32)
        /// The kernel's definitive answer (a cached negative entry is as
        /// good as a lookup on disk: ENOENT).
        case failed(IOError)
        /// The lookup would have waited for the disk, or the kernel lacks
        /// `RESOLVE_CACHED`.
        case needsTheRing
    }

    /// Tries this open on the calling thread, from the caches only (see
    /// `Handle.open`); an open request whose flags neither create nor
    /// truncate.
    func openFromCache() -> CachedOpen {
        guard case .open(let flags, _) = kind else { preconditionFailure("\(operation) is not an open") }
        let result = curing_open_cached(directory, cPath, flags)
        if result >= 0 { return .opened(result) }
        switch -result {
        case EAGAIN, EINVAL, ENOSYS, EPERM: return .needsTheRing  // EPERM: a seccomp filter refusing openat2
        default: return .failed(IOError(operation, errno: result, context: path))
        }
    }

    override func onCompletion(_ result: Int32) -> CompletionStep {
        if result < 0 { fail(IOError(operation, errno: result, context: path)) } else { succeed(result) }
        return .finished
    }

    /// Every error names the path, the loop's own refusals too.
    override func error(for reason: CancelReason) -> any Error {
        IOError.labelling(super.error(for: reason), with: path)
    }

    /// An open that completed after its caller was answered would leave its
    /// descriptor open for nobody.
    override func discardLateResult(_ result: Int32) {
        if case .open = kind, result >= 0 { close(result) }
    }
}
