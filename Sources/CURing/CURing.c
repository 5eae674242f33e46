// The static inline shims live in include/CURing.h; this file holds the one
// thing that cannot be inline: the thread-local "current loop" pointer.
#include "CURing.h"

static __thread void *current_loop;

void *curing_current_loop(void) { return current_loop; }

void curing_set_current_loop(void *loop) { current_loop = loop; }
