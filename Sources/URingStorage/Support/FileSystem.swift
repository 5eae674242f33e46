// The metadata system calls the storage still makes directly: creating its
// root (in a synchronous initialiser), listing directories (io_uring has no
// getdents) and stat. Opening, creating and removing go through the ring
// (`Handle.open`, `makeDirectory`, `removeFile`, `removeDirectory`), whose
// path lookups never block the calling thread.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing
import URing

enum FileSystem {
    /// Creates `path` as a directory; `true` if it was created, `false` if
    /// it already existed as one.
    static func makeDirectory(_ path: String) throws(IOError) -> Bool {
        if mkdir(path, 0o755) == 0 { return true }
        let code = curing_errno()
        guard code == EEXIST else { throw IOError("mkdir", errno: code, context: path) }
        guard isDirectory(path) else { throw IOError("mkdir", errno: ENOTDIR, context: path) }
        return false
    }

    /// Creates `path` and its missing parents.
    static func makeDirectories(_ path: String) throws(IOError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            _ = try makeDirectory(prefix)
            prefix += "/"
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func size(of fd: Int32, context: String) throws(IOError) -> UInt64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw IOError("stat", errno: curing_errno(), context: context) }
        return UInt64(info.st_size)
    }

    /// Turns O_DIRECT on for an open descriptor (EINVAL where the
    /// filesystem cannot do direct I/O).
    static func enableDirectIO(_ fd: Int32, context: String) throws(IOError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | CURING_O_DIRECT) == 0 else {
            throw IOError("open", errno: curing_errno(), context: context)
        }
    }

    /// The entries of a directory (without "." and ".."), with whether each
    /// is a regular file or a directory (not following symlinks).
    static func list(_ path: String) throws(IOError) -> [(name: String, isRegularFile: Bool, isDirectory: Bool)] {
        guard let directory = opendir(path) else {
            let code = curing_errno()
            throw IOError("opendir", code == ENOENT ? .notFound : .errno(code), context: path)
        }
        defer { closedir(directory) }
        var entries: [(String, Bool, Bool)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var type = entry.pointee.d_type
            if type == UInt8(DT_UNKNOWN) {
                // Filesystems that do not say: ask, without following a link.
                var info = stat()
                let mode = lstat(path + "/" + name, &info) == 0 ? info.st_mode & S_IFMT : 0
                type = mode == S_IFREG ? UInt8(DT_REG) : mode == S_IFDIR ? UInt8(DT_DIR) : UInt8(DT_UNKNOWN)
            }
            entries.append((name, type == UInt8(DT_REG), type == UInt8(DT_DIR)))
        }
        return entries
    }
}
