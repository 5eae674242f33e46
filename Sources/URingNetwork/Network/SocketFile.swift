// The file a Unix domain listener's bind created, and its removal.
//
// The kernel leaves the socket file behind when the socket closes, and a
// later bind to the path fails with EADDRINUSE until someone removes it. A
// listener removes its own when it closes, but only while the path still
// names the file its bind made (same device and inode): if the file was
// removed and another server bound the path meanwhile, that server's socket
// stays.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct SocketFile: Sendable {
    let path: String
    private let device: UInt64
    private let inode: UInt64

    /// The file at `path` right after a bind created it; nil if it cannot
    /// be examined (then it is left alone).
    init?(boundAt path: String) {
        guard let identity = Self.identity(of: path) else { return nil }
        self.path = path
        (device, inode) = identity
    }

    /// Removes the file if the path still names it.
    func remove() {
        guard let identity = Self.identity(of: path), identity == (device, inode) else { return }
        unlink(path)
    }

    private static func identity(of path: String) -> (UInt64, UInt64)? {
        var status = stat()
        guard lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFSOCK else { return nil }
        return (UInt64(status.st_dev), UInt64(status.st_ino))
    }
}
