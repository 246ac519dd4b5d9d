/* Equal-Info Windows with an exact, complete window code.
 *
 * A window is b bits: one of the 2^b grid points V of [0, 2^b).  A node of the coding tree
 * (a window's content so far) has an interval [start, start + m*2^e) in fine units of 2^-64
 * grid points; its children split it at start + floor(m * cdf[c] / 2^P) * 2^e.  A grid point
 * is *available* at a node if no ancestor claimed it.
 *
 * Claim rule (lazy): a node claims one available point only when some child has none; it
 * takes it from the child where a point is worth least (claim_cost in equal_info.c), the
 * largest available point there.
 * The terminal child (EOS) owns all its available points.  Decoder at node x: if V is x's
 * claim the window is x; otherwise descend into the child holding V (EOS ends the window).
 * Encoder: include the next symbol while its child still has an available point.
 *
 * Every V decodes to exactly one content, and the root never claims, so any b >= P makes
 * progress (each root child holds >= 2^(b-P) grid points).
 */
#ifndef EQINFO_EQUAL_INFO_H
#define EQINFO_EQUAL_INFO_H

#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 u128;

enum { EQ_MAX_BITS = 128 };

typedef struct {
    int bits;      /* b: window size in bits, precision <= b <= 128 */
    int precision; /* P */
    int n;         /* alphabet size, 2 <= n <= 2^P */
    int terminal;  /* symbol that ends a window and its content (EOS), or -1 */
} eq_params;

typedef struct {
    u128 L;     /* start = L * 2^64 + f fine units */
    uint64_t f;
    uint64_t m; /* width = m * 2^e fine units, m >= 2^63 unless e == 0 */
    int e;
} eq_interval;

typedef struct {
    u128 *items; /* grid points claimed by ancestors, all inside the current interval */
    size_t len, cap;
} eq_claims;

/* Per-node work space, sized for the alphabet. */
typedef struct {
    u128 *grid;      /* grid[c]: first grid point of child c, relative to L (c = 0..n) */
    uint64_t *avail; /* available points per child (saturated) */
    int n;
} eq_scratch;

typedef struct {
    eq_interval iv;
    eq_claims claims;
    u128 value;
    int active;
} eq_window_decoder;

int eq_params_check(const eq_params *p);
int eq_scratch_init(eq_scratch *s, int n);
void eq_scratch_free(eq_scratch *s);
void eq_claims_free(eq_claims *c);

/* Encodes the window starting at symbols[0]; symbol j is coded with the CDF table[rows[j]]
 * (its distribution given symbols[0..j)).  Returns the number of symbols in the window (>= 1), 0 if
 * all k fit and the window could go on, or an RC_ERR_* code.  greedy=1 measures the
 * paper's ambiguous rule (no claims; value = the node's first grid point). */
int64_t eq_encode_window(const eq_params *p, const int32_t *table, const int32_t *rows, const int32_t *symbols,
                         int64_t k, int greedy, eq_scratch *s, eq_claims *claims, u128 *value);

/* The same rule one symbol at a time (exact rule only), for encoders that learn each CDF only
 * after the previous symbol is placed.  A window's state is an interval and its claims. */
enum { EQ_STEP_CODED = 0, EQ_STEP_CLOSED = 1, EQ_STEP_LAST = 2 };
void eq_encode_start(const eq_params *p, eq_interval *iv, eq_claims *claims);
/* Codes sym with `cdf` (its distribution given the window so far): EQ_STEP_CODED (the window goes
 * on), EQ_STEP_CLOSED (the window ended before sym, which starts the next one; *value set),
 * EQ_STEP_LAST (sym was the terminal and ended the window; *value set), or an RC_ERR_* code. */
int eq_encode_step(const eq_params *p, eq_interval *iv, eq_claims *claims, const int32_t *cdf, int32_t sym,
                   eq_scratch *s, u128 *value);

void eq_decoder_start(const eq_params *p, eq_window_decoder *d, u128 value);
/* One step: *symbol gets the next symbol of the window, or -1 when the window has ended. */
int eq_decoder_step(const eq_params *p, eq_window_decoder *d, const int32_t *cdf, eq_scratch *s,
                    int32_t *symbol);

#endif
