#include "quantize.h"

#include <string.h>

#include "status.h"

#define LANES 16

typedef struct {
    float pre;   /* 2^64 for rows whose sum is so small that the scale would overflow float32 */
    float scale;
    uint32_t budget;
    int argmax;
} row_stats;

/* GCC vector types of VW lanes, a block being LANES / VW of them.  A select inside a loop over
 * plain arrays does not vectorise; these do, where VW lanes fill a register: GCC splits a wider
 * type poorly.  The x86-64 clones and AVX2 builds get 8 (one AVX2 register, half an AVX-512 one;
 * the SSE2 clone, for CPUs older than AVX2, splits it), other targets 4 (SSE2, NEON). */
#if EQ_VECTOR_CLONES || defined(__AVX2__)
#define VW 8
#else
#define VW 4
#endif
enum { SUBS = LANES / VW };
typedef float vfloat __attribute__((vector_size(4 * VW)));
typedef uint32_t vuint __attribute__((vector_size(4 * VW)));
typedef int32_t vint __attribute__((vector_size(4 * VW)));

/* GCC 12 and clang both have __builtin_shufflevector. */
#define SHUFFLE(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)

/* The sum of *v's lanes, by halving (a loop over the lanes goes through memory). */
static inline __attribute__((always_inline)) uint32_t lanes_sum(const vuint *v) {
#if VW == 8
    vuint t = *v + SHUFFLE(*v, 4, 5, 6, 7, 0, 1, 2, 3);
    t += SHUFFLE(t, 2, 3, 0, 1, 6, 7, 4, 5);
    t += SHUFFLE(t, 1, 0, 3, 2, 5, 4, 7, 6);
#else
    vuint t = *v + SHUFFLE(*v, 2, 3, 0, 1);
    t += SHUFFLE(t, 1, 0, 3, 2);
#endif
    return t[0];
}

/* Validity, fixed-order sum and first argmax in one pass.  Non-negative finite floats order like
 * their bit patterns, and every bad value (negative, inf, nan) has a pattern >= 0x7f800000.  Each
 * lane keeps the block of its own first maximum; the row's first argmax is the least element
 * among the lanes that hold the row's maximum. */
EQ_VECTOR_KERNEL
static int stats(const float *p, int n, int precision, row_stats *st) {
    if (n < 2 || n > (1 << precision)) return RC_ERR_ALPHABET;
    vfloat sum[SUBS] = {{0}};
    vuint mx[SUBS] = {{0}}, at[SUBS] = {{0}};
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int h = 0; h < SUBS; h++) {
            vfloat v;
            vuint bits;
            memcpy(&v, p + i + h * VW, sizeof v);
            memcpy(&bits, &v, sizeof bits);
            sum[h] += v;
            vuint gt = (vuint)(bits > mx[h]);
            mx[h] = (bits & gt) | (mx[h] & ~gt);
            at[h] = (((vuint){0} + (uint32_t)i) & gt) | (at[h] & ~gt);
        }
    }
    float lane[LANES];
    uint32_t lmx[LANES], lat[LANES];
    memcpy(lane, sum, sizeof lane);
    memcpy(lmx, mx, sizeof lmx);
    memcpy(lat, at, sizeof lat);
    for (int j = 0; i < n; i++, j++) {
        uint32_t bits;
        memcpy(&bits, p + i, 4);
        lane[j] += p[i];
        if (bits > lmx[j]) {
            lmx[j] = bits;
            lat[j] = (uint32_t)(i - j);
        }
    }
    uint32_t maxbits = 0, argmax = (uint32_t)n;
    for (int j = 0; j < LANES; j++) maxbits = lmx[j] > maxbits ? lmx[j] : maxbits;
    if (maxbits >= 0x7f800000u) return RC_ERR_PROBS;
    for (int j = 0; j < LANES; j++) argmax = lmx[j] == maxbits && lat[j] + j < argmax ? lat[j] + j : argmax;
    double half[LANES / 2];
    for (int j = 0; j < LANES / 2; j++) half[j] = (double)lane[2 * j] + (double)lane[2 * j + 1];
    double total = ((half[0] + half[1]) + (half[2] + half[3])) + ((half[4] + half[5]) + (half[6] + half[7]));
    if (!(total > 0.0)) return RC_ERR_PROBS;
    st->budget = ((uint32_t)1 << precision) - (uint32_t)n;
    st->pre = total < 0x1p-64 ? 0x1p64f : 1.0f;
    st->scale = (float)((double)st->budget / (total * (double)st->pre));
    st->argmax = (int)argmax;
    return RC_OK;
}

static inline uint32_t extra(float p, const row_stats *st) {
    float x = (p * st->pre) * st->scale; /* both products exact-rounded float32: deterministic */
    uint32_t e = (uint32_t)(int32_t)x;
    return e < st->budget ? e : st->budget;
}

/* extra() of the VW symbols from p on, at once (into *e: a vector return value would change
 * the ABI between the clones). */
static inline __attribute__((always_inline)) void extras_of(const float *p, const row_stats *st, vuint *e) {
    vfloat v;
    memcpy(&v, p, sizeof v);
    vuint x = (vuint)__builtin_convertvector((v * st->pre) * st->scale, vint);
    vuint budget = (vuint){0} + st->budget;
    vuint small = (vuint)(x < budget);
    *e = (x & small) | (budget & ~small);
}

/* Sum of the extras of all symbols and of those below s, in one pass whose trip count does not
 * depend on s (a tail of s % LANES scalar steps costs a mispredicted branch a symbol). */
EQ_VECTOR_KERNEL
static void extras_sum(const float *p, int n, int s, const row_stats *st, uint32_t *used, uint32_t *below) {
    vuint lanes;
    for (int j = 0; j < VW; j++) lanes[j] = (uint32_t)j;
    vuint all = {0}, low = {0};
    int i = 0;
    for (; i + VW <= n; i += VW) {
        vuint e;
        extras_of(p + i, st, &e);
        all += e;
        low += e & (vuint)(lanes + (uint32_t)i < (uint32_t)s);
    }
    uint32_t a = lanes_sum(&all), b = lanes_sum(&low);
    for (; i < n; i++) {
        uint32_t e = extra(p[i], st);
        a += e;
        b += i < s ? e : 0;
    }
    *used = a;
    *below = b;
}

EQ_VECTOR_KERNEL
static uint32_t extras_write(const float *p, int n, const row_stats *st, int32_t *out) {
    uint32_t u = 0;
    for (int i = 0; i < n; i++) {
        uint32_t e = extra(p[i], st);
        out[i] = (int32_t)e;
        u += e;
    }
    return u;
}

int quantize_row(const float *p, int n, int precision, int32_t *cdf) {
    row_stats st;
    int rc = stats(p, n, precision, &st);
    if (rc != RC_OK) return rc;
    uint32_t used = extras_write(p, n, &st, cdf + 1);
    /* Sum of floors <= budget: the float errors add up to far less than one count. */
    if (used > st.budget) return RC_ERR_PROBS;
    cdf[1 + st.argmax] += (int32_t)(st.budget - used);
    cdf[0] = 0;
    int32_t acc = 0;
    for (int i = 1; i <= n; i++) {
        acc += 1 + cdf[i];
        cdf[i] = acc;
    }
    return RC_OK;
}

int quantize_interval(const float *p, int n, int precision, int s, uint32_t *cum, uint32_t *freq) {
    if (s < 0 || s >= n) return RC_ERR_INTERVAL;
    row_stats st;
    int rc = stats(p, n, precision, &st);
    if (rc != RC_OK) return rc;
    uint32_t used, below;
    extras_sum(p, n, s, &st, &used, &below);
    if (used > st.budget) return RC_ERR_PROBS;
    uint32_t rem = st.budget - used;
    *cum = (uint32_t)s + below + (st.argmax < s ? rem : 0);
    *freq = 1 + extra(p[s], &st) + (st.argmax == s ? rem : 0);
    return RC_OK;
}

/* Extras of every symbol into e[], and the sum of each block of 16 symbols' frequencies
 * (1 + extra) into blocks[]; returns the sum of all extras. */
EQ_VECTOR_KERNEL
static uint32_t extras_blocks(const float *p, int n, const row_stats *st, uint32_t *e, uint32_t *blocks) {
    uint32_t u = 0;
    int i = 0, b = 0;
    for (; i + LANES <= n; i += LANES, b++) {
        vuint sums = {0};
        for (int h = 0; h < SUBS; h++) {
            vuint x;
            extras_of(p + i + h * VW, st, &x);
            memcpy(e + i + h * VW, &x, sizeof x);
            sums += x;
        }
        uint32_t bs = lanes_sum(&sums);
        blocks[b] = bs + LANES;
        u += bs;
    }
    uint32_t bs = 0;
    for (; i < n; i++) {
        uint32_t x = extra(p[i], st);
        e[i] = x;
        bs += x;
    }
    blocks[b] = bs + (uint32_t)(n % 16);
    return u + bs;
}

int quantize_search(const float *p, int n, int precision, uint32_t q, uint32_t *scratch, int *sym, uint32_t *cum,
                    uint32_t *freq) {
    row_stats st;
    int rc = stats(p, n, precision, &st);
    if (rc != RC_OK) return rc;
    uint32_t *e = scratch, *blocks = scratch + n;
    uint32_t used = extras_blocks(p, n, &st, e, blocks);
    if (used > st.budget) return RC_ERR_PROBS;
    uint32_t rem = st.budget - used;
    e[st.argmax] += rem;
    blocks[st.argmax / 16] += rem;
    uint32_t acc = 0;
    int b = 0, nblocks = (n + 15) / 16;
    while (b < nblocks - 1 && acc + blocks[b] <= q) acc += blocks[b++];
    int i = b * 16, end = i + 16 < n ? i + 16 : n;
    while (i < end - 1 && acc + 1 + e[i] <= q) acc += 1 + e[i++];
    if (q < acc || q >= acc + 1 + e[i]) return RC_ERR_STREAM; /* q past 2^P: cannot happen, q < 2^P */
    *sym = i;
    *cum = acc;
    *freq = 1 + e[i];
    return RC_OK;
}

int cdf_row_check(const int32_t *cdf, int n, int precision) {
    if (cdf[0] != 0) return 0;
    for (int i = 0; i < n; i++)
        if (cdf[i + 1] <= cdf[i]) return i + 1;
    if (cdf[n] != (1 << precision)) return n;
    return -1;
}

/* Counts the entries <= q while checking monotonicity: one branch-free streaming pass, which
 * beats a binary search when every row is fresh from memory. */
EQ_VECTOR_KERNEL
int cdf_search(const int32_t *cdf, int n, int precision, uint32_t q) {
    int32_t qi = (int32_t)q;
    int count = 0, bad = 0;
    for (int i = 1; i < n; i++) {
        count += cdf[i] <= qi;
        bad |= cdf[i] <= cdf[i - 1];
    }
    bad |= cdf[0] != 0 || cdf[n] != (1 << precision) || cdf[n] <= cdf[n - 1];
    return bad ? -1 : count;
}

/* ---- batches ---- */

int quantize_rows(const float *p, size_t rows, size_t n, int precision, int32_t *cdf, size_t *at) {
    *at = 0;
    if (precision < 0 || precision > RC_MAX_PRECISION) return RC_ERR_ALPHABET;
    if (rows == 0) return RC_OK;
    if (!alphabet_ok(n, precision)) return RC_ERR_ALPHABET; /* what quantize_row says of row 0 */
    for (size_t r = 0; r < rows; r++) {
        int rc = quantize_row(p + r * n, (int)n, precision, cdf + r * (n + 1));
        if (rc != RC_OK) {
            *at = r;
            return rc;
        }
    }
    *at = rows;
    return RC_OK;
}

int cdf_rows_check(const int32_t *cdf, size_t rows, size_t width, int precision, size_t *at, int *entry) {
    *at = 0;
    *entry = -1;
    if (width < 1 || !alphabet_ok(width - 1, precision)) return RC_ERR_ALPHABET;
    for (size_t r = 0; r < rows; r++) {
        int bad = cdf_row_check(cdf + r * width, (int)width - 1, precision);
        if (bad >= 0) {
            *at = r;
            *entry = bad;
            return RC_ERR_CDF;
        }
    }
    *at = rows;
    return RC_OK;
}
