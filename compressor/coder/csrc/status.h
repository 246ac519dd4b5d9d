/* Status codes shared by every part of the coder; module.c turns them into Python exceptions. */
#ifndef EQINFO_STATUS_H
#define EQINFO_STATUS_H

enum {
    RC_OK = 0,
    RC_ERR_NOMEM = -1,
    RC_ERR_INTERVAL = -2, /* symbol or cum/freq outside the alphabet / 0 <= cum < cum+freq <= 2^P */
    RC_ERR_STREAM = -3,   /* the bits are not a stream this coder could have written */
    RC_ERR_CDF = -4,      /* a CDF row is not 0, strictly increasing, ..., 2^P */
    RC_ERR_PROBS = -5,    /* probabilities not finite, negative, or all zero */
    RC_ERR_ALPHABET = -6, /* alphabet size outside 2..2^P, or bad window parameters */
};

/* Vector kernels get an AVX2 clone on x86-64; results are identical (no FMA, fixed order). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EQ_VECTOR_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define EQ_VECTOR_KERNEL
#endif

#endif
