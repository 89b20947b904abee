/* guard.c - the per-thread recursion guard (see guard.h). */
#include "guard.h"

__thread int twp_busy __attribute__((tls_model("initial-exec")));
