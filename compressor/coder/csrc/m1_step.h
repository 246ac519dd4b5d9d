/* M1's exact integer step on the CPU, between its weight GEMMs (which torch runs: on int8-valued
 * operands a float32 GEMM is exact whatever its order).
 *
 * compressor/models/m1/integer.py defines the arithmetic with torch operations.  Each function
 * here does, per element, the same correctly rounded IEEE operations in the same order, so the
 * CDFs are bit-identical to the torch path's.  Clamping to integer bounds before rounding instead
 * of after gives the same value, because rounding is monotonic.  Build without FMA contraction
 * and without fast-math (setup.py's flags).
 *
 * Shapes: `rows` positions of width d.  The residual stream is int32, activations (every GEMM's
 * input) int8, and GEMM accumulators int32.  An int32 accumulator converts to the float32 that the
 * float GEMM of the torch path gives, because both are exact below 2^24 (K <= 1040).  A KV cache
 * layer is int8 [slots, n_head, capacity, head_dim].
 *
 * The functions trust their arguments.  The bindings (py_m1.c) check every shape and index
 * first, and m1_attend_check checks the cache indices. */
#ifndef EQINFO_M1_STEP_H
#define EQINFO_M1_STEP_H

#include <stddef.h>
#include <stdint.h>

enum { M1_ACT_MAX = 127, M1_RES_MAX = 32767, M1_MAX_WIDTH = 32768 /* d_model at most */ };

/* y = clamp(round((d r - s1) / sqrt(d s2 - s1^2 + d^2 eps) * g + h), +-127) in float64, from the
 * exact int64 sums s1 = sum r, s2 = sum r^2 of each row. */
void m1_layernorm(const int32_t *r, size_t rows, size_t d, const double *g, const double *h, double eps, int8_t *out);

/* out = clamp(round((acc + bias) * m), lo, hi), per output channel, in float32 (lo, hi within +-127). */
void m1_requant(const int32_t *acc, size_t rows, size_t n, const float *bias, const float *m, float lo, float hi,
                int8_t *out);

/* r = clamp(r + clamp(round((acc + bias) * m), +-32767), +-32767): a block's output added to the residual stream. */
void m1_residual(int32_t *r, const int32_t *acc, size_t rows, size_t d, const float *bias, const float *m);

typedef struct {
    size_t n_head, head_dim;
    size_t slots, capacity; /* the cache layer's first and third dimensions */
    float score;            /* one q.k unit in exp-table steps */
    const float *slopes;    /* [n_head]: ALiBi, table steps per position of distance */
    float v_to_att;         /* value units -> attention output units */
    const int32_t *lut;     /* exp table: lut[s] = round(2^15 exp(-s / 32)) */
    size_t lut_size;
} m1_attention;

/* RC_OK, or RC_ERR_SLOT with *at the first row whose slot is outside 0..slots-1 or whose position
 * is outside 0..capacity-1. */
int m1_attend_check(const m1_attention *a, size_t rows, const int64_t *slot, const int64_t *pos, size_t *at);

/* Row i's key and value (qkv[i] = q | k | v, each n_head * head_dim wide) stored at its slot and
 * position, as int8. */
void m1_cache_put(const m1_attention *a, const int8_t *qkv, size_t rows, const int64_t *slot, const int64_t *pos,
                  int8_t *k, int8_t *v);

/* Row i's query attends to the keys at positions 0..pos[i] of its slot, with ALiBi and the
 * exp-table softmax.  The weighted sum of the values is exact (int64), then divided in float64.
 * out[i] is [n_head * head_dim].  RC_OK or RC_ERR_NOMEM. */
int m1_attend(const m1_attention *a, const int8_t *qkv, size_t rows, const int64_t *slot, const int64_t *pos,
              const int8_t *k, const int8_t *v, int8_t *out);

/* The head's accumulators -> int32 CDFs [rows, n + 1] of total 2^precision, every symbol >= 1.
 * logits = round((acc + bias) * m) (exp-table steps), weights lut[min(max - logit, lut_size - 1)],
 * freq = 1 + floor(weight * (2^P - n) / sum), and the remainder goes to the first most probable
 * symbol.  RC_OK, RC_ERR_NOMEM, or RC_ERR_PROBS with *at the first row without a finite maximum
 * logit.  The table's entries must lie in 0..2^15 with lut[0] >= 1 (so the sum is positive). */
int m1_cdfs(const int32_t *acc, size_t rows, size_t n, const float *bias, const float *m, const int32_t *lut,
            size_t lut_size, int precision, int32_t *cdf, size_t *at);

#endif
