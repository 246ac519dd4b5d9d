/* Equal-Info Windows with an exact, complete window code.
 *
 * A window is b bits: one of the 2^b values V.  Walking down the coding tree (a window's
 * content so far), each node owns a set of values, and each value ends in exactly one
 * content.  Two regimes:
 *
 * Wide nodes, while every child's interval holds a grid point: arithmetic coding.  The node is
 * the interval [start, start + m*2^e) in fine units of 2^-64 values; its children split it at
 * start + floor(m * cdf[c] / 2^P) * 2^e, and a child owns the values inside its interval.
 *
 * Narrow nodes, from the first node where some child's interval could miss every value: the
 * node's values are a run of N integers lo .. lo+N-1, and the node splits them itself.
 *   1. Largest remainders: child c gets floor(N f_c / 2^P) values, and the N - sum left over go
 *      one each to the children with the largest remainders (ties: the smaller symbol).
 *   2. If some children got none (their probability mass is q), the window must be able to end
 *      here.  The node keeps its own value (the last, lo+N-1) and splits the other N-1 by rule 1
 *      when ending here is worth a value: when no ancestor keeps one, or when N * q * D >= 1/2,
 *      D = symbols since the deepest ancestor that keeps one.  Otherwise a text whose next
 *      symbol has no value ends the window at that ancestor, D symbols earlier.
 *   Why rule 2: a child's first value is worth its probability times one symbol (the symbol it
 *   lets into the window), and largest remainders give it one about when its share N p_c of the
 *   node's values reaches one half.  The node's own value is worth q * D symbols (the symbols it
 *   saves from going back to the ancestor), so it is rounded the same way, at N q D >= 1/2.
 *   The lazy rule (own value whenever a child has none) lost about one value per narrow node:
 *   1/N of the window's remaining capacity even at a node whose next symbol is nearly certain.
 *
 * Decoder at a narrow node: if V is the node's own value the window ends there; otherwise it
 * descends into the child whose values hold V (the terminal child, EOS, ends the window).
 * Encoder: include the next symbol while its child owns a value; when it owns none, the window
 * ends at the deepest node on the path that keeps its own value.
 *
 * Every V decodes to exactly one content: at a narrow node each value is the node's own or lies
 * in one child, and the descent ends, since a child holds fewer values than its node unless the
 * node keeps no value and hands all N to one child, which happens only while N q D < 1/2 and so
 * at most 2^(P-1) times in a row (D grows by one each time, q >= 2^-P).  The root's children each
 * hold >= 2^(b-P) values, so any b >= P codes at least one symbol per window.
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

/* A window being coded or decoded: the path's current node and the deepest node keeping a value. */
typedef struct {
    eq_interval iv;    /* wide node */
    u128 lo;           /* narrow node: its values are lo .. lo + count - 1 */
    uint64_t count;    /* 0 while the node is wide */
    int64_t depth;     /* symbols in the window so far */
    int64_t anchor;    /* depth of the deepest node keeping its own value, -1 if none */
    u128 anchor_value; /* that node's own value */
} eq_window;

/* Per-node work space, sized for the alphabet. */
typedef struct {
    uint64_t *count; /* values per child of a narrow node */
    uint32_t *rem;   /* remainders of the largest-remainder split */
    int n;
} eq_scratch;

/* One slot of a batch of windows coded in lockstep: its window, whether that is open, and (when
 * decoding) the b-bit value being decoded. */
typedef struct {
    eq_window w;
    u128 value;
    int active;
} eq_lane;

int eq_params_check(const eq_params *p);
int eq_scratch_init(eq_scratch *s, int n);
void eq_scratch_free(eq_scratch *s);

/* Encodes the window starting at symbols[0]; symbol j is coded with the CDF table[rows[j]]
 * (its distribution given symbols[0..j)).  Returns the number of symbols in the window (>= 1), 0 if
 * all k fit and the window could go on, or an RC_ERR_* code.  greedy=1 measures the
 * paper's ambiguous rule (every child whose interval holds a value goes on; value = the node's
 * first value). */
int64_t eq_encode_window(const eq_params *p, const int32_t *table, const int32_t *rows, const int32_t *symbols,
                         int64_t k, int greedy, eq_scratch *s, u128 *value);

/* The same rule one symbol at a time (exact rule only), for encoders that learn each CDF only
 * after the previous symbol is placed. */
enum { EQ_STEP_CODED = 0, EQ_STEP_CLOSED = 1, EQ_STEP_LAST = 2 };
void eq_encode_start(const eq_params *p, eq_window *w);
/* Codes sym with `cdf` (its distribution given the window so far): EQ_STEP_CODED (the window goes
 * on), EQ_STEP_CLOSED (the window ended before sym: it holds *length <= depth symbols, and the
 * symbols after them, sym included, start the next window), EQ_STEP_LAST (sym was the terminal
 * and ended the window), or an RC_ERR_* code.  *value and *length are set unless CODED. */
int eq_encode_step(const eq_params *p, eq_window *w, const int32_t *cdf, int32_t sym, eq_scratch *s, u128 *value,
                   int64_t *length);

void eq_decoder_start(const eq_params *p, eq_lane *d, u128 value);
/* One step: *symbol gets the next symbol of the window, or -1 when the window has ended. */
int eq_decoder_step(const eq_params *p, eq_lane *d, const int32_t *cdf, eq_scratch *s, int32_t *symbol);

/* ---- batches: the loops the bindings run with the GIL released ----
 * Windows travel as b/8 big-endian bytes, so these want b % 8 == 0 (eq_window_params_check).  Every
 * index is checked before anything is coded; on error *at is the element at fault: the entry of
 * rows (flattened), slots or lengths, or the window / slot whose coding failed (slots before it
 * are done). */

enum { EQ_MAX_BATCH = 1 << 24 };

/* eq_params_check, and b a whole number of bytes. */
int eq_window_params_check(const eq_params *p);

/* RC_ERR_ROW unless 0 <= rows[i] < table_rows for every i < count. */
int eq_rows_check(const int32_t *rows, size_t count, size_t table_rows, size_t *at);

static inline void eq_value_to_bytes(u128 v, uint8_t *out, int nbytes) {
    for (int i = nbytes - 1; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline u128 eq_value_from_bytes(const uint8_t *in, int nbytes) {
    u128 v = 0;
    for (int i = 0; i < nbytes; i++) v = (v << 8) | in[i];
    return v;
}

/* One window per batch row i: symbols[i*k + j] coded with table[rows[i*k + j]] (rows of n + 1),
 * lengths[i] in 1..k of them offered; consumed[i] and values[i*(b/8) ..] as eq_encode_window. */
int eq_encode_windows_batch(const eq_params *p, const int32_t *table, size_t table_rows, const int32_t *rows,
                            const int32_t *symbols, const int32_t *lengths, size_t batch, size_t k, int greedy,
                            int32_t *consumed, uint8_t *values, size_t *at);

/* A batch of windows, one per slot, that a model feeds a step at a time; the same state serves an
 * encoder (eq_lanes_encode_*) and a decoder (eq_lanes_decode_*). */
typedef struct {
    eq_params p;
    eq_lane *lane; /* batch slots, NULL until eq_lanes_init */
    size_t batch;
    eq_scratch scratch;
} eq_lanes;

/* 1 <= batch <= EQ_MAX_BATCH and eq_window_params_check, or RC_ERR_ALPHABET; RC_ERR_NOMEM.  On
 * error *l is left empty (lane NULL), so eq_lanes_free is always safe. */
int eq_lanes_init(eq_lanes *l, const eq_params *p, size_t batch);
void eq_lanes_free(eq_lanes *l);

/* RC_ERR_SLOT unless 0 <= slots[i] < batch for every i < count. */
int eq_lanes_slots_check(const eq_lanes *l, const int32_t *slots, size_t count, size_t *at);

/* Opens a fresh window in each slot. */
int eq_lanes_encode_start(eq_lanes *l, const int32_t *slots, size_t count, size_t *at);
/* Codes symbols[i] in slot slots[i] with table[rows[i]] (rows of n + 1 entries): status[i] gets the
 * eq_encode_step result; when a window ends its slot closes, values[i*(b/8) ..] gets its bits and
 * lengths[i] its symbol count.  Checks slots, then rows, then that every slot is open. */
int eq_lanes_encode_step(eq_lanes *l, const int32_t *slots, size_t count, const int32_t *table, size_t table_rows,
                         const int32_t *rows, const int32_t *symbols, int32_t *status, uint8_t *values,
                         int32_t *lengths, size_t *at);

/* Starts decoding slots[i] from the b/8 big-endian bytes values[i*(b/8) ..]. */
int eq_lanes_decode_start(eq_lanes *l, const int32_t *slots, size_t count, const uint8_t *values, size_t *at);
/* out[i] gets the next symbol of slot slots[i]'s window, decoded with table[rows[i]], or -1 when
 * the window ended before it.  Checks slots, then rows, then that every slot is open. */
int eq_lanes_decode_step(eq_lanes *l, const int32_t *slots, size_t count, const int32_t *table, size_t table_rows,
                         const int32_t *rows, int32_t *out, size_t *at);

#endif
