// The static inline shims live in include/CURing.h; this file holds what is
// not inline: the thread-local "current loop" pointer, the Swift runtime's
// hooks, the calls that set a thread's CPUs and nice value, and a spawn
// action the headers hide.
#include "CURing.h"
#include <sys/resource.h>

// initial-exec: a direct %fs-relative access instead of a __tls_get_addr
// call per lookup (this is read on every request and job enqueue).
static __thread void *current_loop __attribute__((tls_model("initial-exec")));

void *curing_current_loop(void) { return current_loop; }

void curing_set_current_loop(void *loop) { current_loop = loop; }

// Weak: a runtime without the hook leaves it NULL instead of failing to link.
// The runtime reads it with plain loads; the compare-and-swap only keeps two
// installers in this process from both believing they won.
extern void *swift_task_enqueueGlobal_hook __attribute__((weak));

int curing_install_global_enqueue_hook(void *hook) {
    if (&swift_task_enqueueGlobal_hook == NULL) return -ENOSYS;
    void *expected = NULL;
    return __atomic_compare_exchange_n(&swift_task_enqueueGlobal_hook, &expected, hook, 0,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 0 : -EEXIST;
}

// The Swift runtime's cancellation-record entry points, the ones the standard
// library's `withTaskCancellationHandler` is built on. They use the Swift
// calling convention: the handler receives its context in the Swift context
// register, and both entry points take plain pointer arguments.
typedef void (*curing_swift_handler)(void *__attribute__((swift_context)) context) __attribute__((swiftcall));
extern __attribute__((swiftcall)) void *swift_task_addCancellationHandler(curing_swift_handler handler, void *context);
extern __attribute__((swiftcall)) void swift_task_removeCancellationHandler(void *record);

static void (*cancellation_callback)(void *);

void curing_set_cancellation_callback(void (*callback)(void *)) {
    __atomic_store_n(&cancellation_callback, callback, __ATOMIC_RELEASE);
}

static __attribute__((swiftcall)) void cancellation_trampoline(void *__attribute__((swift_context)) context) {
    __atomic_load_n(&cancellation_callback, __ATOMIC_ACQUIRE)(context);
}

void *curing_task_add_cancellation(void *context) {
    return swift_task_addCancellationHandler(cancellation_trampoline, context);
}

void curing_task_remove_cancellation(void *record) {
    swift_task_removeCancellationHandler(record);
}

// Affinity through the raw system calls with a fixed 1024-bit mask: glibc's
// CPU_SET macros and wrappers need _GNU_SOURCE, which this module keeps out
// of its headers (see CURing.h).
enum { curing_mask_words = CURING_CPU_LIMIT / (8 * sizeof(unsigned long)) };
static const int curing_word_bits = 8 * sizeof(unsigned long);

int curing_set_thread_affinity(const int32_t *cpus, int32_t count) {
    unsigned long mask[curing_mask_words] = {0};
    for (int32_t i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CURING_CPU_LIMIT) return -EINVAL;
        mask[cpus[i] / curing_word_bits] |= 1UL << (cpus[i] % curing_word_bits);
    }
    long r = syscall(SYS_sched_setaffinity, 0, sizeof mask, mask);
    return r < 0 ? -errno : 0;
}

// With `who` 0, PRIO_PROCESS names the calling thread, not the whole process.
int curing_set_thread_nice(int32_t nice) {
    return setpriority(PRIO_PROCESS, 0, nice) == 0 ? 0 : -errno;
}

int32_t curing_thread_nice(void) {
    // getpriority cannot fail for the calling thread; -1 is a valid value.
    return (int32_t)getpriority(PRIO_PROCESS, 0);
}

int32_t curing_thread_affinity(int32_t *cpus, int32_t capacity) {
    unsigned long mask[curing_mask_words] = {0};
    long r = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
    if (r < 0) return -errno;
    int32_t found = 0;
    for (int32_t cpu = 0; cpu < CURING_CPU_LIMIT && found < capacity; cpu++) {
        if (mask[cpu / curing_word_bits] & (1UL << (cpu % curing_word_bits))) cpus[found++] = cpu;
    }
    return found;
}

// Weak: a C library older than glibc 2.34 leaves it NULL instead of failing
// to link.
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int) __attribute__((weak));

int curing_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    if (posix_spawn_file_actions_addclosefrom_np == NULL) return ENOSYS;
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}
