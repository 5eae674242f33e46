// The open descriptor behind a blob, closed when the last Blob copy is gone.
// In-flight operations keep their Blob (and so this) alive until they end.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

final class BlobFile: Sendable {
    let fd: Int32
    /// "partition/hexname", for error context.
    let label: String

    init(fd: Int32, label: String) {
        self.fd = fd
        self.label = label
    }

    deinit { close(fd) }
}
