#include "equal_info.h"

#include <stdlib.h>

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
    s->grid = malloc(sizeof(u128) * (size_t)(n + 1));
    s->avail = malloc(sizeof(uint64_t) * (size_t)(n + 1));
    s->n = n;
    if (!s->grid || !s->avail) {
        eq_scratch_free(s);
        return RC_ERR_NOMEM;
    }
    return RC_OK;
}

void eq_scratch_free(eq_scratch *s) {
    free(s->grid);
    free(s->avail);
    s->grid = NULL;
    s->avail = NULL;
}

void eq_claims_free(eq_claims *c) {
    free(c->items);
    c->items = NULL;
    c->len = c->cap = 0;
}

static int claims_push(eq_claims *c, u128 q) {
    if (c->len == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        u128 *items = realloc(c->items, cap * sizeof(u128));
        if (!items) return RC_ERR_NOMEM;
        c->items = items;
        c->cap = cap;
    }
    c->items[c->len++] = q;
    return RC_OK;
}

static int claims_has(const eq_claims *c, u128 q) {
    for (size_t i = 0; i < c->len; i++)
        if (c->items[i] == q) return 1;
    return 0;
}

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

/* First grid point at or after start + d*2^e, relative to L. */
static inline u128 first_grid(const eq_interval *iv, uint64_t d) {
    if (iv->e >= 64) return ((u128)d << (iv->e - 64)) + (iv->f != 0);
    u128 t = ((u128)d << iv->e) + iv->f;
    return (t >> 64) + ((uint64_t)t != 0);
}

/* True if every child holds at least `need` grid points whatever the CDF (each child is at
 * least floor(m / 2^P) * 2^e fine units wide). */
static int every_child_holds(const eq_interval *iv, int precision, size_t need) {
    uint64_t w = iv->m >> precision;
    if (iv->e >= 64) {
        int sh = iv->e - 64;
        if (sh >= 64) return w > 0;
        return ((u128)w << sh) >= (u128)need;
    }
    if (iv->e == 0) return need == 0;
    return (w >> (64 - iv->e)) >= need;
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

/* Expected loss of taking one point from a child of frequency f holding k available points,
 * as the fraction num/den: a single point is the child itself (f); one of k points shortens
 * the child's continuation by about 1/k, which measured 0.3 f/k on C4 (best of 0.01..1.5). */
static inline void claim_cost(uint32_t f, uint64_t k, u128 *num, u128 *den) {
    if (k == 1) {
        *num = f;
        *den = 1;
    } else {
        *num = (u128)f * 3;
        *den = (u128)k * 10;
    }
}

/* The node's children: fills s->grid / s->avail when the node is narrow enough to need them
 * (*scanned = 1) and decides the node's claim.  Returns 1 if it claims, 0 if not, or error. */
static int analyse(const eq_params *p, const eq_interval *iv, const eq_claims *cl, const int32_t *cdf,
                   eq_scratch *s, int *scanned, u128 *claim) {
    int n = p->n, P = p->precision;
    if (cdf_row_check(cdf, n, P) >= 0) return RC_ERR_CDF;
    if (every_child_holds(iv, P, cl->len + 1)) {
        *scanned = 0;
        return 0;
    }
    *scanned = 1;
    for (int c = 0; c <= n; c++) s->grid[c] = first_grid(iv, boundary(iv, cdf[c], P));
    for (int c = 0; c < n; c++) {
        u128 g = s->grid[c + 1] - s->grid[c];
        s->avail[c] = g > (u128)UINT64_MAX ? UINT64_MAX : (uint64_t)g;
    }
    for (size_t i = 0; i < cl->len; i++) {
        u128 rel = cl->items[i] - iv->L;
        int lo = 0, hi = n;
        while (hi - lo > 1) {
            int mid = (lo + hi) >> 1;
            if (s->grid[mid] <= rel) lo = mid; else hi = mid;
        }
        if (s->avail[lo] > 0) s->avail[lo]--;
    }
    int need = 0;
    for (int c = 0; c < n; c++) need |= s->avail[c] == 0;
    if (!need) return 0;
    int best = -1;
    u128 best_num = 0, best_den = 1;
    for (int c = 0; c < n; c++) {
        if (!s->avail[c]) continue;
        u128 num, den;
        claim_cost((uint32_t)(cdf[c + 1] - cdf[c]), s->avail[c], &num, &den);
        if (best < 0 || num * best_den < best_num * den) {
            best = c;
            best_num = num;
            best_den = den;
        }
    }
    if (best < 0) return RC_ERR_STREAM; /* a node with no available point: corrupted state */
    u128 q = iv->L + s->grid[best + 1] - 1; /* the child's largest available point */
    while (claims_has(cl, q)) q--;
    s->avail[best]--;
    *claim = q;
    return 1;
}

/* Moves to child c: keeps the claims that fall inside it, adding the node's own. */
static int descend_child(const eq_params *p, eq_interval *iv, eq_claims *cl, const int32_t *cdf, int c,
                         int has_claim, u128 claim) {
    int P = p->precision;
    uint64_t d0 = boundary(iv, cdf[c], P), d1 = boundary(iv, cdf[c + 1], P);
    if (has_claim && claims_push(cl, claim) != RC_OK) return RC_ERR_NOMEM;
    if (cl->len) { /* never at the root, so the child's end fits in 128 bits */
        u128 lo = iv->L + first_grid(iv, d0), hi = iv->L + first_grid(iv, d1);
        size_t keep = 0;
        for (size_t i = 0; i < cl->len; i++)
            if (cl->items[i] >= lo && cl->items[i] < hi) cl->items[keep++] = cl->items[i];
        cl->len = keep;
    }
    interval_descend(iv, d0, d1);
    return RC_OK;
}

/* Smallest available point of child c (the terminal child owns all of its points). */
static u128 first_available(const eq_params *p, const eq_interval *iv, const eq_claims *cl, const int32_t *cdf,
                            int c, int has_claim, u128 claim) {
    u128 q = iv->L + first_grid(iv, boundary(iv, cdf[c], p->precision));
    while (claims_has(cl, q) || (has_claim && q == claim)) q++;
    return q;
}

int64_t eq_encode_window(const eq_params *p, const int32_t *table, const int32_t *rows, const int32_t *symbols,
                         int64_t k, int greedy, eq_scratch *s, eq_claims *claims, u128 *value) {
    int n = p->n, P = p->precision;
    eq_interval iv;
    eq_encode_start(p, &iv, claims);
    for (int64_t j = 0; j < k; j++) {
        const int32_t *cdf = table + (size_t)rows[j] * (size_t)(n + 1);
        int32_t sym = symbols[j];
        if (sym < 0 || sym >= n) return RC_ERR_INTERVAL;
        if (greedy) {
            if (cdf_row_check(cdf, n, P) >= 0) return RC_ERR_CDF;
            uint64_t d0 = boundary(&iv, cdf[sym], P), d1 = boundary(&iv, cdf[sym + 1], P);
            int fits = every_child_holds(&iv, P, 1) || first_grid(&iv, d1) > first_grid(&iv, d0);
            if (!fits) {
                *value = iv.L + first_grid(&iv, 0);
                return j;
            }
            if (sym == p->terminal) {
                *value = iv.L + first_grid(&iv, d0);
                return j + 1;
            }
            interval_descend(&iv, d0, d1);
            continue;
        }
        int step = eq_encode_step(p, &iv, claims, cdf, sym, s, value);
        if (step < 0) return step;
        if (step == EQ_STEP_CLOSED) return j;
        if (step == EQ_STEP_LAST) return j + 1;
    }
    return 0;
}

void eq_encode_start(const eq_params *p, eq_interval *iv, eq_claims *claims) {
    interval_root(p, iv);
    claims->len = 0;
}

int eq_encode_step(const eq_params *p, eq_interval *iv, eq_claims *claims, const int32_t *cdf, int32_t sym,
                   eq_scratch *s, u128 *value) {
    if (sym < 0 || sym >= p->n) return RC_ERR_INTERVAL;
    int scanned = 0;
    u128 claim = 0;
    int has_claim = analyse(p, iv, claims, cdf, s, &scanned, &claim);
    if (has_claim < 0) return has_claim;
    if (scanned && s->avail[sym] == 0) {
        if (!has_claim) return RC_ERR_STREAM; /* unreachable: a child without points forces a claim */
        *value = claim;
        return EQ_STEP_CLOSED;
    }
    if (sym == p->terminal) {
        *value = first_available(p, iv, claims, cdf, sym, has_claim, claim);
        return EQ_STEP_LAST;
    }
    int rc = descend_child(p, iv, claims, cdf, sym, has_claim, claim);
    return rc != RC_OK ? rc : EQ_STEP_CODED;
}

void eq_decoder_start(const eq_params *p, eq_window_decoder *d, u128 value) {
    interval_root(p, &d->iv);
    d->claims.len = 0;
    d->value = value;
    d->active = 1;
}

int eq_decoder_step(const eq_params *p, eq_window_decoder *d, const int32_t *cdf, eq_scratch *s,
                    int32_t *symbol) {
    int n = p->n, P = p->precision;
    if (!d->active) return RC_ERR_STREAM;
    int scanned = 0;
    u128 claim = 0;
    int has_claim = analyse(p, &d->iv, &d->claims, cdf, s, &scanned, &claim);
    if (has_claim < 0) return has_claim;
    if (has_claim && claim == d->value) {
        d->active = 0;
        *symbol = -1;
        return RC_OK;
    }
    u128 rel = d->value - d->iv.L;
    int lo = 0, hi = n;
    while (hi - lo > 1) {
        int mid = (lo + hi) >> 1;
        u128 g = scanned ? s->grid[mid] : first_grid(&d->iv, boundary(&d->iv, cdf[mid], P));
        if (g <= rel) lo = mid; else hi = mid;
    }
    *symbol = lo;
    if (lo == p->terminal) {
        d->active = 0;
        return RC_OK;
    }
    return descend_child(p, &d->iv, &d->claims, cdf, lo, has_claim, claim);
}
