/* Status codes and parameter checks shared by every part of the coder.  The core (plain C, no
 * Python.h) returns these codes plus the index of the element at fault; the bindings (py_*.c)
 * turn them into Python exceptions. */
#ifndef EQINFO_STATUS_H
#define EQINFO_STATUS_H

#include <stddef.h>

enum {
    RC_OK = 0,
    RC_ERR_NOMEM = -1,
    RC_ERR_INTERVAL = -2, /* symbol or cum/freq outside the alphabet / 0 <= cum < cum+freq <= 2^P */
    RC_ERR_STREAM = -3,   /* the bits are not a stream this coder could have written */
    RC_ERR_CDF = -4,      /* a CDF row is not 0, strictly increasing, ..., 2^P */
    RC_ERR_PROBS = -5,    /* probabilities not finite, negative, or all zero */
    RC_ERR_ALPHABET = -6, /* alphabet size outside 2..2^P, or bad precision / window parameters */
    RC_ERR_ROW = -7,      /* a row index outside the CDF table */
    RC_ERR_SLOT = -8,     /* a slot index outside the batch of windows */
    RC_ERR_CLOSED = -9,   /* a slot whose window has ended or was never started */
    RC_ERR_LENGTH = -10,  /* a window's symbol count outside 1..K */
};

enum { RC_MAX_PRECISION = 16 };

/* 2 <= n <= 2^P.  Precision 0 is let through (only n is then refused): an encoder that was never
 * initialised has precision 0, and its arithmetic is still defined. */
static inline int alphabet_ok(size_t n, int precision) {
    return precision >= 0 && precision <= RC_MAX_PRECISION && n >= 2 && n <= ((size_t)1 << precision);
}

/* Vector kernels get AVX-512 (x86-64-v4) and AVX2 clones on x86-64; results are identical (no FMA,
 * fixed order, the same IEEE operations at every vector width).  EQ_NO_CLONES builds for the
 * compiler's target alone (tools/bench_targets.py builds each target so). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EQ_NO_CLONES)
#define EQ_VECTOR_KERNEL __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#define EQ_VECTOR_CLONES 1
#else
#define EQ_VECTOR_KERNEL
#define EQ_VECTOR_CLONES 0
#endif

#endif
