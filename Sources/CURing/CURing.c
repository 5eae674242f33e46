// The static inline shims live in include/CURing.h; this file holds the one
// thing that cannot be inline: the thread-local "current loop" pointer.
#include "CURing.h"

// initial-exec: a direct %fs-relative access instead of a __tls_get_addr
// call per lookup (this is read on every request and job enqueue).
static __thread void *current_loop __attribute__((tls_model("initial-exec")));

void *curing_current_loop(void) { return current_loop; }

void curing_set_current_loop(void *loop) { current_loop = loop; }
