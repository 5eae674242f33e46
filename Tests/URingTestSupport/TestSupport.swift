// Helpers shared by every test target: typed-error expectations and
// temporary files, sockets and directories that clean up after themselves.
import CURing
import Glibc
import Testing
import URing

/// Whether this test binary runs under ThreadSanitizer (10-50x slower): for
/// tests that scale their work, or the patience of their hang guards.
public let underThreadSanitizer: Bool = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

/// Expects `body` to throw an `IOError` with exactly `reason`.
public func expectIOError(
    _ reason: IOError.Reason, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        try await body()
        Issue.record("expected IOError \(reason), got success", sourceLocation: sourceLocation)
    } catch let error as IOError {
        #expect(error.reason == reason, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected IOError \(reason), got \(error)", sourceLocation: sourceLocation)
    }
}

/// A temporary file, already unlinked, so nothing is left behind.
public func temporaryFile() throws -> Int32 {
    var template = Array("/tmp/uring-test-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    try #require(fd >= 0)
    unlink(template)
    return fd
}

/// A fresh directory under `parent` (the caller removes it).
public func temporaryDirectory(_ prefix: String = "uring-test", in parent: String = "/tmp") throws -> String {
    var template = Array("\(parent)/\(prefix)-XXXXXX".utf8CString)
    _ = try #require(mkdtemp(&template), "cannot create a directory in \(parent)")
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A connected AF_UNIX stream pair (close-on-exec).
public func socketPair() throws -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    try #require(socketpair(AF_UNIX, CURING_SOCK_STREAM | CURING_SOCK_CLOEXEC, 0, &fds) == 0)
    return (fds[0], fds[1])
}

/// The path of the running test binary (built products sit beside it).
public func testBinaryPath() throws -> String {
    var path = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &path, path.count - 1)
    try #require(length > 0)
    return String(decoding: path.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A product built beside the running test binary (an executable target of
/// this package), required to exist.
public func builtExecutable(_ name: String) throws -> String {
    let binary = try testBinaryPath()
    let path = String(binary[..<binary.lastIndex(of: "/")!]) + "/" + name
    try #require(access(path, X_OK) == 0, "\(path) was not built")
    return path
}

/// `PATH` and the sanitizers' settings of this process, for a child that
/// must run under the same rules.
public func inheritedEnvironment() -> [String] {
    let names = ["PATH", "TSAN_OPTIONS", "ASAN_OPTIONS", "LSAN_OPTIONS"]
    return names.compactMap { (name: String) -> String? in
        guard let value = getenv(name) else { return nil }
        return "\(name)=\(String(cString: value))"
    }
}

/// The text a child process left in `path` (its first 64 KiB), or nil if
/// it wrote none.
public func readReport(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 65536)
    let count = read(fd, &buffer, buffer.count)
    return count < 0 ? nil : String(decoding: buffer.prefix(count), as: UTF8.self)
}

/// Runs `arguments[0]` with `arguments` and `environment`, its standard
/// output and error going to the file `output` if given; returns its exit
/// status.
public func spawnAndWait(_ arguments: [String], environment: [String], output: String? = nil) async throws -> Int32 {
    await exitStatus(of: try spawnChild(arguments, environment: environment, output: output))
}

/// Starts `arguments[0]` with `arguments` and `environment`, its standard
/// output and error going to the file `output` if given, its standard
/// input from `input` if given; returns its pid.
public func spawnChild(_ arguments: [String], environment: [String], output: String? = nil, input: Int32? = nil) throws -> pid_t {
    func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] {
        strings.map { strdup($0) } + [nil]
    }
    let argv = cStrings(arguments)
    let envp = cStrings(environment)
    defer {
        for pointer in argv { free(pointer) }
        for pointer in envp { free(pointer) }
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let input { posix_spawn_file_actions_adddup2(&actions, input, 0) }
    if let output {
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    // Only those: not the descriptors this test process holds without
    // close-on-exec (the test runner's, other tests' sockets).
    let closing = curing_spawn_close_from(&actions, 3)
    try #require(closing == 0, "posix_spawn_file_actions_addclosefrom_np failed: \(closing)")
    var pid = pid_t()
    let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
    try #require(spawned == 0, "posix_spawn failed: \(spawned)")
    return pid
}

/// Waits for the child `pid` to end; its exit status, or 128 + the signal
/// that ended it.
///
/// The wait runs on a thread of its own: a child can run for seconds (ten
/// under AddressSanitizer), and two tests blocking the concurrency pool's
/// two threads in `waitpid` stalled every other test of the process that
/// long, long enough for an echo client's 10 s receive timeout to fire.
public func exitStatus(of pid: pid_t) async -> Int32 {
    let status = await withCheckedContinuation { continuation in
        OwnThread.run {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            continuation.resume(returning: status)
        }
    }
    // WIFEXITED / WEXITSTATUS, spelled out (they are C macros).
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// Runs `body` on a new thread of its own and returns its result: for
/// tests about which thread does something (a ring's issuer), and for
/// blocking calls that must not hold a pool thread.
public func onNewThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        OwnThread.run { continuation.resume(returning: body()) }
    }
}

/// Runs a blocking body on a new detached thread (never on the concurrency
/// pool).
private final class OwnThread: @unchecked Sendable {
    // `@unchecked Sendable`: `body` is immutable and runs once, on the new thread.
    private let body: @Sendable () -> Void
    private init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    static func run(_ body: @escaping @Sendable () -> Void) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(OwnThread(body)).toOpaque()
        let created = pthread_create(&thread, nil, { context in
            Unmanaged<OwnThread>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        precondition(created == 0, "pthread_create failed: \(created)")
        pthread_detach(thread)
    }
}

/// Whether the kernel answers a lookup of `path` from its caches
/// (`openat2` with `RESOLVE_CACHED`, which `Handle.open` tries first): it
/// does on local filesystems once the path was looked up, not on kernels
/// before 5.12 or filesystems that revalidate every lookup (NFS). Tests
/// that count ring requests expect the open to take the ring otherwise.
public func kernelAnswersFromCache(_ path: String) -> Bool {
    let fd = curing_open_cached(AT_FDCWD, path, O_RDONLY | O_CLOEXEC)
    if fd >= 0 { close(fd) }
    return fd >= 0
}

/// Where two byte sequences first differ (in either's length when one is
/// a prefix of the other), or nil if they are equal: for messages about
/// transfers too long to print whole.
///
/// Compares page-sized runs with `memcmp` and looks at single bytes only
/// in the run that differs: element by element, megabytes took seconds of
/// a pool thread in debug builds, holding up every other test.
public func firstDifference(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Int? {
    let left = Array(a), right = Array(b)
    let common = min(left.count, right.count)
    let index = left.withUnsafeBufferPointer { left in
        right.withUnsafeBufferPointer { right -> Int? in
            var start = 0
            while start < common {
                let length = min(4096, common - start)
                if memcmp(left.baseAddress! + start, right.baseAddress! + start, length) != 0 {
                    var index = start
                    while left[index] == right[index] { index += 1 }
                    return index
                }
                start += length
            }
            return nil
        }
    }
    if let index { return index }
    return left.count == right.count ? nil : common
}
