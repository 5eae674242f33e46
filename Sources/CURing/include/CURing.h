// CURing: the io_uring kernel ABI for Swift, with no liburing.
//
// What lives here and why it is C:
// - The structs and constants of <linux/io_uring.h>.
// - Raw system-call shims (io_uring_setup/enter/register): glibc has no
//   wrappers, and Swift cannot call the variadic syscall(2).
// - Acquire loads and release stores on the ring indexes shared with the
//   kernel. Swift's `Atomic` must own its storage and cannot be laid over
//   memory the kernel mapped for us, so the ordered accesses are done with
//   the compiler's __atomic builtins in `static inline` functions, which the
//   Swift compiler inlines: no call, no overhead over liburing.
#ifndef CURING_H
#define CURING_H


#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/futex.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <linux/time_types.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// Constants newer than the build machine's headers (Linux 6.1).
// The running kernel may know them; the probe tells at run time.
// ---------------------------------------------------------------------------
#ifndef IORING_SETUP_NO_MMAP
#define IORING_SETUP_NO_MMAP (1U << 14)
#endif
#ifndef IORING_SETUP_REGISTERED_FD_ONLY
#define IORING_SETUP_REGISTERED_FD_ONLY (1U << 15)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif
#ifndef IORING_FEAT_RW_ATTR
#define IORING_FEAT_RW_ATTR (1U << 16)
#endif
#ifndef IORING_FEAT_NO_IOWAIT
#define IORING_FEAT_NO_IOWAIT (1U << 17)
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif
// Opcodes after IORING_OP_SENDMSG_ZC (the last one in 6.1's header).
#define CURING_OP_READ_MULTISHOT 49
#define CURING_OP_WAITID 50
#define CURING_OP_FUTEX_WAIT 51
#define CURING_OP_FUTEX_WAKE 52
#define CURING_OP_FUTEX_WAITV 53
#define CURING_OP_FIXED_FD_INSTALL 54
#define CURING_OP_FTRUNCATE 55
#define CURING_OP_BIND 56
#define CURING_OP_LISTEN 57
// Per-I/O flags for preadv2/pwritev2 and the READ/WRITE opcodes.
#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080
#endif

// ---------------------------------------------------------------------------
// System calls. Each returns the kernel's result: >= 0 on success, -errno on
// failure (the libc errno is not used, so the shims are thread-safe to read).
// ---------------------------------------------------------------------------
static inline int curing_setup(unsigned entries, struct io_uring_params *params) {
    long r = syscall(__NR_io_uring_setup, entries, params);
    return r < 0 ? -errno : (int)r;
}

static inline int curing_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
    long r = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, (size_t)0);
    return r < 0 ? -errno : (int)r;
}

/// io_uring_enter with IORING_ENTER_EXT_ARG: `arg` points to a
/// struct io_uring_getevents_arg (signal mask and timeout).
static inline int curing_enter_ext(int fd, unsigned to_submit, unsigned min_complete, unsigned flags,
                                   struct io_uring_getevents_arg *arg) {
    long r = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags | IORING_ENTER_EXT_ARG,
                     arg, sizeof(*arg));
    return r < 0 ? -errno : (int)r;
}

static inline int curing_register(int fd, unsigned opcode, const void *arg, unsigned count) {
    long r = syscall(__NR_io_uring_register, fd, opcode, arg, count);
    return r < 0 ? -errno : (int)r;
}

static inline int curing_errno(void) { return errno; }

/// Blocks the calling thread while the 32-bit word at `word` still holds
/// `expected` (FUTEX_WAIT, process-private), for at most `timeout`
/// nanoseconds when it is not negative. 0 once woken (or spuriously),
/// -EAGAIN when the word already differs, -ETIMEDOUT, -EINTR.
static inline int curing_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout) {
    struct timespec limit = { .tv_sec = timeout / 1000000000, .tv_nsec = timeout % 1000000000 };
    long r = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout < 0 ? NULL : &limit, NULL, 0);
    return r < 0 ? -errno : 0;
}

/// Wakes at most `count` threads blocked in `curing_futex_wait` on `word`.
/// The number woken, or -errno.
static inline int curing_futex_wake(uint32_t *word, int count) {
    long r = syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
    return r < 0 ? -errno : (int)r;
}

/// The loop whose thread this is (NULL on other threads). Thread-local
/// storage lives in CURing.c: Swift has no thread-local variables of its own.
void *curing_current_loop(void);
void curing_set_current_loop(void *loop);

/// Sets the Swift runtime's global-enqueue hook (`swift_task_enqueueGlobal_hook`,
/// which the runtime consults for every job bound for its global executor)
/// to `hook`, only if no hook is set yet. Returns 0, -EEXIST if another hook
/// is set, or -ENOSYS if this runtime has no such hook.
int curing_install_global_enqueue_hook(void *hook);

/// Task cancellation records without an async frame (see URingLoop's
/// `TaskCancellationRecord.swift` for why). `curing_task_add_cancellation`
/// installs a record on the current Swift task whose handler calls the
/// callback set by `curing_set_cancellation_callback` with `context`; if the
/// task is already cancelled it does so before returning. The record must be
/// removed by the same task with `curing_task_remove_cancellation`. A task
/// already cancelled gets its handler run at once and, in current runtimes,
/// NULL instead of a record: there is nothing to remove then.
void curing_set_cancellation_callback(void (*callback)(void *context));
void *curing_task_add_cancellation(void *context);
void curing_task_remove_cancellation(void *record);

/// CPU numbers the affinity shims accept: 0 ..< CURING_CPU_LIMIT (glibc's
/// CPU_SETSIZE; larger machines need a dynamically sized mask).
#define CURING_CPU_LIMIT 1024

/// Restricts the calling thread to `cpus`: 0 or -errno (EINVAL when no CPU
/// of the set is online and allowed to this process).
int curing_set_thread_affinity(const int32_t *cpus, int32_t count);

/// Writes the CPUs the calling thread may run on, ascending, into `cpus`
/// (at most `capacity`): how many, or -errno.
int32_t curing_thread_affinity(int32_t *cpus, int32_t capacity);

/// Sets the calling thread's nice value (Linux keeps one per thread): 0 or
/// -errno (EACCES or EPERM when lowering it is not allowed).
int curing_set_thread_nice(int32_t nice);

/// The calling thread's nice value.
int32_t curing_thread_nice(void);

/// Adds to `actions` the closing of every descriptor >= `lowest` in the
/// child (glibc 2.34+'s posix_spawn_file_actions_addclosefrom_np, declared
/// only under _GNU_SOURCE): a child then holds only what it was given, not
/// whatever the parent had open without close-on-exec. 0, or an errno
/// (ENOSYS where the C library lacks it).
int curing_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

/// Names the calling thread (first 15 bytes), as seen in top and gdb.
static inline void curing_set_thread_name(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

/// `openat2` that only completes if the path resolves from the kernel's
/// caches (RESOLVE_CACHED, Linux 5.12+) and the open itself need not wait:
/// never blocks the calling thread. Returns the descriptor or -errno:
/// -EAGAIN when the lookup would have had to wait (or the flags imply
/// creating or truncating), -EINVAL or -ENOSYS on kernels without it.
/// `flags` must not contain O_CREAT or O_TMPFILE.
///
/// The open runs with O_NONBLOCK, as io_uring's own inline attempt does: a
/// FIFO then opens without waiting for its other end (read-only at once;
/// write-only fails with ENXIO while it has no reader), and a device does
/// not wait for its carrier. Unless `flags` asked for it, O_NONBLOCK is
/// cleared again from the open file (F_SETFL, which keeps every other
/// status flag `flags` set); if that fails the descriptor is closed and
/// -EAGAIN returned, so the caller takes its other path. An O_PATH open
/// opens no file, so it never waits, and openat2 refuses it any flag
/// besides O_CLOEXEC, O_DIRECTORY and O_NOFOLLOW: it runs as given.
static inline int curing_open_cached(int directory, const char *path, int flags) {
    int added = (flags & (O_NONBLOCK | __O_PATH)) ? 0 : O_NONBLOCK;
    struct open_how how = { .flags = (uint64_t)(unsigned)(flags | added), .mode = 0, .resolve = RESOLVE_CACHED };
    long result = syscall(SYS_openat2, directory, path, &how, sizeof how);
    if (result < 0) return -errno;
    int fd = (int)result;
    if (added && fcntl(fd, F_SETFL, flags & (O_APPEND | __O_DIRECT | __O_NOATIME)) < 0) {
        close(fd);
        return -EAGAIN;
    }
    return fd;
}

/// One read of what the page cache already holds: preadv2 with RWF_NOWAIT
/// (plus `flags`) into `count` bytes at `buffer`, at `offset`. The kernel
/// copies the cached part of the range and returns rather than wait for
/// the device: -EAGAIN when the first page is not cached, a short count
/// when a later one is not (or the file ends there). Bytes read, or -errno.
/// Not for O_DIRECT descriptors, where a synchronous read waits for the
/// device whatever the flag says.
static inline long curing_read_cached(int fd, void *buffer, size_t count, uint64_t offset, int flags) {
    struct iovec vector = { .iov_base = buffer, .iov_len = count };
    // preadv2 takes the offset as two longs; on 64-bit the low one is all of it.
    long result = syscall(SYS_preadv2, fd, &vector, 1, (long)offset, (long)(offset >> 32), flags | RWF_NOWAIT);
    return result < 0 ? -errno : result;
}

/// One receive of what a socket already holds: recv with MSG_DONTWAIT into
/// `count` bytes at `buffer`, so the call returns rather than wait for a
/// peer: -EAGAIN when nothing is queued. Bytes received (0: the peer closed
/// its side), or -errno. io_uring's own first attempt at a receive is this
/// same nonblocking call, made on the loop's thread.
static inline long curing_receive_ready(int fd, void *buffer, size_t count) {
    long result = recv(fd, buffer, count, MSG_DONTWAIT);
    return result < 0 ? -errno : result;
}

/// One send of as much as a socket has room for: sendmsg with MSG_DONTWAIT
/// (never waiting for room: -EAGAIN when there is none) and MSG_NOSIGNAL
/// (a vanished peer is EPIPE, not SIGPIPE) of `count` vectors. Bytes sent,
/// or -errno.
static inline long curing_send_ready(int fd, const struct iovec *vectors, size_t count) {
    struct msghdr message = { .msg_iov = (struct iovec *)vectors, .msg_iovlen = count };
    long result = sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    return result < 0 ? -errno : result;
}

/// One recvmsg of a datagram the socket already holds: `flags` plus
/// MSG_DONTWAIT (-EAGAIN when nothing is queued). Bytes, or -errno.
static inline long curing_recvmsg_ready(int fd, struct msghdr *message, int flags) {
    long result = recvmsg(fd, message, flags | MSG_DONTWAIT);
    return result < 0 ? -errno : result;
}

/// One sendmsg of a datagram if the socket has room now: MSG_DONTWAIT
/// (-EAGAIN when it has none) and MSG_NOSIGNAL. Bytes, or -errno.
static inline long curing_sendmsg_ready(int fd, const struct msghdr *message) {
    long result = sendmsg(fd, message, MSG_DONTWAIT | MSG_NOSIGNAL);
    return result < 0 ? -errno : result;
}

/// pipe2(fds, O_CLOEXEC), which glibc declares only under _GNU_SOURCE:
/// both ends close-on-exec from the start, so a child another thread
/// spawns meanwhile inherits neither. 0, or -errno.
static inline int curing_pipe_cloexec(int fds[2]) {
    return syscall(SYS_pipe2, fds, O_CLOEXEC) < 0 ? -errno : 0;
}

/// Blocks SIGPIPE for the calling thread. The kernel answers a write to a
/// pipe or socket whose reader is gone with EPIPE *and* a SIGPIPE sent to
/// the writing thread, whose default action ends the process; blocked, the
/// signal stays pending on that thread and the EPIPE is all that remains.
static inline int curing_block_sigpipe(void) {
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    return pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);
}

/// Flags that Swift's Glibc module hides behind _GNU_SOURCE or imports as
/// enums. (Defining _GNU_SOURCE here would make this module's view of the
/// libc headers disagree with SwiftGlibc's; glibc's __O_* spellings are
/// always visible.)
static const int CURING_O_PATH = __O_PATH;
static const int CURING_O_DIRECT = __O_DIRECT;
static const int CURING_O_TMPFILE = __O_TMPFILE;  // with O_DIRECTORY's bit, as O_TMPFILE
static const unsigned CURING_RENAME_NOREPLACE = 1;  // renameat2(2), <linux/fs.h>
static const int CURING_SOCK_STREAM = SOCK_STREAM;
static const int CURING_SOCK_DGRAM = SOCK_DGRAM;
static const int CURING_SOCK_CLOEXEC = SOCK_CLOEXEC;
static const int CURING_SOCK_NONBLOCK = SOCK_NONBLOCK;

// ---------------------------------------------------------------------------
// Ordered access to ring memory shared with the kernel.
// ---------------------------------------------------------------------------
static inline uint32_t curing_load_acquire(const uint32_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline uint32_t curing_load_relaxed(const uint32_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void curing_store_release(uint32_t *p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
/// A full fence: needed with SQPOLL between publishing the SQ tail and
/// reading IORING_SQ_NEED_WAKEUP (the kernel's side has the matching barrier).
static inline void curing_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

#endif
