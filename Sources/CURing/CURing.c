// Everything in CURing is `static inline` in include/CURing.h; this file
// only gives SwiftPM a C translation unit to build the module from.
#include "CURing.h"
