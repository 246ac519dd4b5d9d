#include "equal_info.h"

#include <stdlib.h>
#include <string.h>

#include "quantize.h"
#include "status.h"

int eq_params_check(const eq_params *p) {
    if (p->precision < 1 || p->precision > 16) return RC_ERR_ALPHABET;
    if (p->n < 2 || p->n > (1 << p->precision)) return RC_ERR_ALPHABET;
    if (p->bits < p->precision || p->bits > EQ_MAX_BITS) return RC_ERR_ALPHABET;
    if (p->terminal < -1 || p->terminal >= p->n) return RC_ERR_ALPHABET;
    return RC_OK;
}

int eq_scratch_init(eq_scratch *s, int n) {
    s->count = malloc(sizeof(uint64_t) * (size_t)n);
    s->rem = malloc(sizeof(uint32_t) * (size_t)n);
    s->n = n;
    if (!s->count || !s->rem) {
        eq_scratch_free(s);
        return RC_ERR_NOMEM;
    }
    return RC_OK;
}

void eq_scratch_free(eq_scratch *s) {
    free(s->count);
    free(s->rem);
    s->count = NULL;
    s->rem = NULL;
}

/* ---- wide nodes: an interval of fine units ---- */

static void interval_root(const eq_params *p, eq_interval *iv) {
    iv->L = 0;
    iv->f = 0;
    iv->m = (uint64_t)1 << 63;
    iv->e = p->bits + 1;
}

/* Offset of a child boundary, in units of 2^e fine units. */
static inline uint64_t boundary(const eq_interval *iv, int32_t c, int precision) {
    return (uint64_t)(((u128)iv->m * (uint32_t)c) >> precision);
}

/* First value at or after start + d*2^e, relative to L. */
static inline u128 first_grid(const eq_interval *iv, uint64_t d) {
    if (iv->e >= 64) return ((u128)d << (iv->e - 64)) + (iv->f != 0);
    u128 t = ((u128)d << iv->e) + iv->f;
    return (t >> 64) + ((uint64_t)t != 0);
}

/* True if every child's interval holds a value whatever the CDF (each child is at least
 * floor(m / 2^P) * 2^e fine units wide). */
static int every_child_holds(const eq_interval *iv, int precision) {
    uint64_t w = iv->m >> precision;
    if (iv->e >= 64) return w > 0;
    if (iv->e == 0) return 0;
    return (w >> (64 - iv->e)) >= 1;
}

static void interval_descend(eq_interval *iv, uint64_t d0, uint64_t d1) {
    if (iv->e >= 64) {
        iv->L += (u128)d0 << (iv->e - 64);
    } else {
        u128 t = ((u128)d0 << iv->e) + iv->f;
        iv->f = (uint64_t)t;
        iv->L += t >> 64;
    }
    uint64_t m = d1 - d0;
    int sh = m ? __builtin_clzll(m) : 0;
    if (sh > iv->e) sh = iv->e;
    iv->m = m << sh;
    iv->e -= sh;
}

/* ---- narrow nodes: a run of values split by largest remainders ---- */

/* s->count[c] = child c's share of `total` values: floor(total f_c / 2^P), plus one for each of
 * the (total - sum of floors) children with the largest remainders, the smaller symbol first on
 * ties.  Returns the summed frequency of the children left with none. */
static uint32_t split(const int32_t *cdf, int n, int P, uint64_t total, eq_scratch *s) {
    uint32_t mask = ((uint32_t)1 << P) - 1;
    uint64_t used = 0;
    for (int c = 0; c < n; c++) {
        uint64_t q = total * (uint64_t)(uint32_t)(cdf[c + 1] - cdf[c]);
        s->count[c] = q >> P;
        s->rem[c] = (uint32_t)q & mask;
        used += q >> P;
    }
    uint64_t left = total - used; /* < n: the remainders sum to less than one value per child */
    if (left) {
        /* The left-th largest remainder t, by a histogram of its high byte, then its low byte. */
        uint32_t hist[256], above = 0, t_hi = 0, t = 0;
        memset(hist, 0, sizeof hist);
        for (int c = 0; c < n; c++) hist[s->rem[c] >> 8]++;
        for (int h = 255; h >= 0; h--) {
            if (above + hist[h] >= left) {
                t_hi = (uint32_t)h;
                break;
            }
            above += hist[h];
        }
        memset(hist, 0, sizeof hist);
        for (int c = 0; c < n; c++)
            if (s->rem[c] >> 8 == t_hi) hist[s->rem[c] & 255]++;
        for (int l = 255; l >= 0; l--) {
            if (above + hist[l] >= left) {
                t = (t_hi << 8) | (uint32_t)l;
                break;
            }
            above += hist[l];
        }
        uint64_t ties = left - above; /* children with remainder t that get one */
        for (int c = 0; c < n; c++) {
            if (s->rem[c] > t) {
                s->count[c]++;
            } else if (s->rem[c] == t && ties) {
                s->count[c]++;
                ties--;
            }
        }
    }
    uint32_t empty = 0;
    for (int c = 0; c < n; c++)
        if (!s->count[c]) empty += (uint32_t)(cdf[c + 1] - cdf[c]);
    return empty;
}

/* Splits a narrow node's values among its children (s->count) and says whether the node keeps
 * its own value, the last one (see equal_info.h).  Returns 1 if it keeps it, 0 if not. */
static int split_node(const eq_params *p, const eq_window *w, const int32_t *cdf, eq_scratch *s) {
    uint32_t empty = split(cdf, p->n, p->precision, w->count, s);
    if (!empty) return 0;
    if (w->anchor >= 0) {
        /* N q D >= 1/2 with q = empty / 2^P, in integers */
        u128 worth = (u128)2 * w->count * empty * (uint64_t)(w->depth - w->anchor);
        if (worth < ((u128)1 << p->precision)) return 0;
    }
    split(cdf, p->n, p->precision, w->count - 1, s);
    return 1;
}

/* ---- the window rule ---- */

void eq_encode_start(const eq_params *p, eq_window *w) {
    interval_root(p, &w->iv);
    w->lo = 0;
    w->count = 0;
    w->depth = 0;
    w->anchor = -1;
    w->anchor_value = 0;
}

/* Makes a wide node narrow once some child's interval could miss every value. */
static void narrow_if_needed(const eq_params *p, eq_window *w) {
    if (w->count || every_child_holds(&w->iv, p->precision)) return;
    u128 first = first_grid(&w->iv, 0);
    w->lo = w->iv.L + first;
    w->count = (uint64_t)(first_grid(&w->iv, w->iv.m) - first); /* <= 2^P + 1 values */
}

int eq_encode_step(const eq_params *p, eq_window *w, const int32_t *cdf, int32_t sym, eq_scratch *s, u128 *value,
                   int64_t *length) {
    int P = p->precision;
    if (sym < 0 || sym >= p->n) return RC_ERR_INTERVAL;
    if (cdf_row_check(cdf, p->n, P) >= 0) return RC_ERR_CDF;
    narrow_if_needed(p, w);
    if (!w->count) {
        uint64_t d0 = boundary(&w->iv, cdf[sym], P), d1 = boundary(&w->iv, cdf[sym + 1], P);
        if (sym == p->terminal) {
            *value = w->iv.L + first_grid(&w->iv, d0);
            *length = w->depth + 1;
            return EQ_STEP_LAST;
        }
        interval_descend(&w->iv, d0, d1);
        w->depth++;
        return EQ_STEP_CODED;
    }
    int own = split_node(p, w, cdf, s);
    u128 own_value = w->lo + w->count - 1;
    if (!s->count[sym]) {
        if (own) {
            *value = own_value;
            *length = w->depth;
        } else {
            *value = w->anchor_value;
            *length = w->anchor;
        }
        return EQ_STEP_CLOSED;
    }
    uint64_t before = 0;
    for (int c = 0; c < sym; c++) before += s->count[c];
    if (sym == p->terminal) {
        *value = w->lo + before;
        *length = w->depth + 1;
        return EQ_STEP_LAST;
    }
    if (own) {
        w->anchor = w->depth;
        w->anchor_value = own_value;
    }
    w->lo += before;
    w->count = s->count[sym];
    w->depth++;
    return EQ_STEP_CODED;
}

/* The paper's greedy rule on one wide-node interval (never narrowed): a symbol goes in while
 * its child's interval holds a value. */
static int64_t greedy_window(const eq_params *p, const int32_t *table, const int32_t *rows, const int32_t *symbols,
                             int64_t k, u128 *value) {
    int n = p->n, P = p->precision;
    eq_interval iv;
    interval_root(p, &iv);
    for (int64_t j = 0; j < k; j++) {
        const int32_t *cdf = table + (size_t)rows[j] * (size_t)(n + 1);
        int32_t sym = symbols[j];
        if (sym < 0 || sym >= n) return RC_ERR_INTERVAL;
        if (cdf_row_check(cdf, n, P) >= 0) return RC_ERR_CDF;
        uint64_t d0 = boundary(&iv, cdf[sym], P), d1 = boundary(&iv, cdf[sym + 1], P);
        int fits = every_child_holds(&iv, P) || first_grid(&iv, d1) > first_grid(&iv, d0);
        if (!fits) {
            *value = iv.L + first_grid(&iv, 0);
            return j;
        }
        if (sym == p->terminal) {
            *value = iv.L + first_grid(&iv, d0);
            return j + 1;
        }
        interval_descend(&iv, d0, d1);
    }
    return 0;
}

int64_t eq_encode_window(const eq_params *p, const int32_t *table, const int32_t *rows, const int32_t *symbols,
                         int64_t k, int greedy, eq_scratch *s, u128 *value) {
    if (greedy) return greedy_window(p, table, rows, symbols, k, value);
    eq_window w;
    eq_encode_start(p, &w);
    for (int64_t j = 0; j < k; j++) {
        int64_t length = 0;
        const int32_t *cdf = table + (size_t)rows[j] * (size_t)(p->n + 1);
        int step = eq_encode_step(p, &w, cdf, symbols[j], s, value, &length);
        if (step < 0) return step;
        if (step != EQ_STEP_CODED) return length;
    }
    return 0;
}

void eq_decoder_start(const eq_params *p, eq_lane *d, u128 value) {
    eq_encode_start(p, &d->w);
    d->value = value;
    d->active = 1;
}

int eq_decoder_step(const eq_params *p, eq_lane *d, const int32_t *cdf, eq_scratch *s, int32_t *symbol) {
    int n = p->n, P = p->precision;
    eq_window *w = &d->w;
    if (!d->active) return RC_ERR_STREAM;
    if (cdf_row_check(cdf, n, P) >= 0) return RC_ERR_CDF;
    narrow_if_needed(p, w);
    int sym;
    if (!w->count) {
        u128 rel = d->value - w->iv.L;
        int lo = 0, hi = n;
        while (hi - lo > 1) {
            int mid = (lo + hi) >> 1;
            if (first_grid(&w->iv, boundary(&w->iv, cdf[mid], P)) <= rel) lo = mid; else hi = mid;
        }
        sym = lo;
        if (sym != p->terminal)
            interval_descend(&w->iv, boundary(&w->iv, cdf[sym], P), boundary(&w->iv, cdf[sym + 1], P));
    } else {
        int own = split_node(p, w, cdf, s);
        uint64_t rel = (uint64_t)(d->value - w->lo); /* < count: the value lies in this node */
        if (own && rel == w->count - 1) {
            d->active = 0;
            *symbol = -1;
            return RC_OK;
        }
        uint64_t before = 0;
        sym = 0;
        while (sym < n && before + s->count[sym] <= rel) before += s->count[sym++];
        if (sym >= n) return RC_ERR_STREAM; /* unreachable: the children hold every value but the node's own */
        if (own) w->anchor = w->depth;
        w->lo += before;
        w->count = s->count[sym];
    }
    *symbol = sym;
    w->depth++;
    if (sym == p->terminal) d->active = 0;
    return RC_OK;
}

/* ---- batches ---- */

int eq_window_params_check(const eq_params *p) {
    if (eq_params_check(p) != RC_OK || p->bits % 8) return RC_ERR_ALPHABET;
    return RC_OK;
}

/* Index arrays are int32 (what the bindings take); every entry is checked before any is used. */
static int indices_below(const int32_t *idx, size_t count, size_t limit, size_t *at) {
    for (size_t i = 0; i < count; i++) {
        if (idx[i] < 0 || (size_t)idx[i] >= limit) {
            *at = i;
            return 0;
        }
    }
    return 1;
}

int eq_rows_check(const int32_t *rows, size_t count, size_t table_rows, size_t *at) {
    return indices_below(rows, count, table_rows, at) ? RC_OK : RC_ERR_ROW;
}

int eq_encode_windows_batch(const eq_params *p, const int32_t *table, size_t table_rows, const int32_t *rows,
                            const int32_t *symbols, const int32_t *lengths, size_t batch, size_t k, int greedy,
                            int32_t *consumed, uint8_t *values, size_t *at) {
    *at = 0;
    if (eq_window_params_check(p) != RC_OK) return RC_ERR_ALPHABET;
    if (batch && k > SIZE_MAX / batch) return RC_ERR_LENGTH; /* batch * k rows could not even be addressed */
    if (eq_rows_check(rows, batch * k, table_rows, at) != RC_OK) return RC_ERR_ROW;
    for (size_t i = 0; i < batch; i++) {
        if (lengths[i] < 1 || (size_t)lengths[i] > k) {
            *at = i;
            return RC_ERR_LENGTH;
        }
    }
    eq_scratch scratch;
    if (eq_scratch_init(&scratch, p->n) != RC_OK) return RC_ERR_NOMEM;
    int nb = p->bits / 8, rc = RC_OK;
    size_t i = 0;
    for (; i < batch; i++) {
        u128 value = 0;
        int64_t got = eq_encode_window(p, table, rows + i * k, symbols + i * k, lengths[i], greedy, &scratch, &value);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        consumed[i] = (int32_t)got; /* <= lengths[i] */
        eq_value_to_bytes(value, values + i * (size_t)nb, nb);
    }
    eq_scratch_free(&scratch);
    *at = i;
    return rc;
}

int eq_lanes_init(eq_lanes *l, const eq_params *p, size_t batch) {
    l->lane = NULL;
    l->batch = 0;
    l->scratch.count = NULL;
    l->scratch.rem = NULL;
    if (batch < 1 || batch > EQ_MAX_BATCH || eq_window_params_check(p) != RC_OK) return RC_ERR_ALPHABET;
    l->p = *p;
    eq_lane *lane = calloc(batch, sizeof(eq_lane)); /* every slot starts closed */
    if (!lane) return RC_ERR_NOMEM;
    if (eq_scratch_init(&l->scratch, p->n) != RC_OK) {
        free(lane);
        return RC_ERR_NOMEM;
    }
    l->lane = lane;
    l->batch = batch;
    return RC_OK;
}

void eq_lanes_free(eq_lanes *l) {
    if (!l->lane) return;
    free(l->lane);
    eq_scratch_free(&l->scratch);
    l->lane = NULL;
    l->batch = 0;
}

int eq_lanes_slots_check(const eq_lanes *l, const int32_t *slots, size_t count, size_t *at) {
    return indices_below(slots, count, l->batch, at) ? RC_OK : RC_ERR_SLOT;
}

/* What a step checks before it codes anything: slots, then rows, then open windows. */
static int step_check(const eq_lanes *l, const int32_t *slots, size_t count, size_t table_rows, const int32_t *rows,
                      size_t *at) {
    *at = 0;
    if (!l->lane) return RC_ERR_SLOT;
    if (eq_lanes_slots_check(l, slots, count, at) != RC_OK) return RC_ERR_SLOT;
    if (eq_rows_check(rows, count, table_rows, at) != RC_OK) return RC_ERR_ROW;
    for (size_t j = 0; j < count; j++) {
        if (!l->lane[slots[j]].active) {
            *at = j;
            return RC_ERR_CLOSED;
        }
    }
    return RC_OK;
}

int eq_lanes_encode_start(eq_lanes *l, const int32_t *slots, size_t count, size_t *at) {
    *at = 0;
    if (!l->lane || eq_lanes_slots_check(l, slots, count, at) != RC_OK) return RC_ERR_SLOT;
    for (size_t i = 0; i < count; i++) {
        eq_lane *w = &l->lane[slots[i]];
        eq_encode_start(&l->p, &w->w);
        w->active = 1;
    }
    *at = count;
    return RC_OK;
}

/* A slot named twice in one step is checked open once: if its window ends at the first, the
 * second goes on from the state it ended in (as the window would have gone on). */
int eq_lanes_encode_step(eq_lanes *l, const int32_t *slots, size_t count, const int32_t *table, size_t table_rows,
                         const int32_t *rows, const int32_t *symbols, int32_t *status, uint8_t *values,
                         int32_t *lengths, size_t *at) {
    int rc = step_check(l, slots, count, table_rows, rows, at);
    if (rc != RC_OK) return rc;
    size_t width = (size_t)l->p.n + 1;
    int nb = l->p.bits / 8;
    size_t i = 0;
    for (; i < count; i++) {
        eq_lane *w = &l->lane[slots[i]];
        u128 value = 0;
        int64_t length = 0;
        rc = eq_encode_step(&l->p, &w->w, table + (size_t)rows[i] * width, symbols[i], &l->scratch, &value, &length);
        if (rc < 0) break;
        status[i] = rc;
        if (rc != EQ_STEP_CODED) {
            w->active = 0;
            eq_value_to_bytes(value, values + i * (size_t)nb, nb);
            lengths[i] = length > INT32_MAX ? INT32_MAX : (int32_t)length;
        }
        rc = RC_OK;
    }
    *at = i;
    return rc;
}

int eq_lanes_decode_start(eq_lanes *l, const int32_t *slots, size_t count, const uint8_t *values, size_t *at) {
    *at = 0;
    if (!l->lane || eq_lanes_slots_check(l, slots, count, at) != RC_OK) return RC_ERR_SLOT;
    int nb = l->p.bits / 8;
    for (size_t i = 0; i < count; i++)
        eq_decoder_start(&l->p, &l->lane[slots[i]], eq_value_from_bytes(values + i * (size_t)nb, nb));
    *at = count;
    return RC_OK;
}

/* A slot named twice in one step whose window ends at the first gets RC_ERR_STREAM at the second. */
int eq_lanes_decode_step(eq_lanes *l, const int32_t *slots, size_t count, const int32_t *table, size_t table_rows,
                         const int32_t *rows, int32_t *out, size_t *at) {
    int rc = step_check(l, slots, count, table_rows, rows, at);
    if (rc != RC_OK) return rc;
    size_t width = (size_t)l->p.n + 1, i = 0;
    for (; i < count; i++) {
        rc = eq_decoder_step(&l->p, &l->lane[slots[i]], table + (size_t)rows[i] * width, &l->scratch, &out[i]);
        if (rc != RC_OK) break;
    }
    *at = i;
    return rc;
}
