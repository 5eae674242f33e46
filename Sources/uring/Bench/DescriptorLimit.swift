// The tool's own descriptor limit: echo at its largest concurrency holds two
// sockets per connection (the client's and the server's) in this process.
import Glibc

enum DescriptorLimit {
    /// Raises the soft RLIMIT_NOFILE to the hard limit, as servers commonly
    /// do at start: many systems default the soft limit to 1024, which 4096
    /// echo connections (about 8200 descriptors) would exhaust with EMFILE.
    /// Best effort: where the limit cannot be read or raised it stays.
    static func raiseToHardLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
