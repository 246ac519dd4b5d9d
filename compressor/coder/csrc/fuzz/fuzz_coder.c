/* Fuzz harness for the coder's plain C core (range_coder.c, quantize.c, equal_info.c), without
 * Python: gcc only, no libFuzzer.
 *
 *   fuzz_coder [ITERATIONS [SEED]]     (defaults 200 and 1)
 *
 * Iteration i draws everything from a fixed PRNG seeded with SEED + i, so a failure prints the
 * one-iteration command that repeats it.  Every core entry point gets random and hostile inputs
 * (lengths, indices, CDFs, floats, streams, window values, slots); the harness checks that each
 * returns the status a simple reference predicts, with the index of the element at fault, and
 * where the inputs are valid it checks round trips:
 *   - range coder: symbols encoded with random valid CDFs (in random chunks, as intervals, from
 *     floats) decode back, streams agree bit for bit, and bits after the stream never matter;
 *   - quantize: valid floats always give valid CDFs, and the per-symbol shortcuts agree with them;
 *   - Equal-Info windows: batch-encoded windows decode back with the lane decoder, the lane
 *     encoder closes them identically, and any window value decodes to a content whose
 *     encoding gives that value back whenever it ends the window there.
 * Build it with -fsanitize=address,undefined (make fuzz-c) to turn memory errors into failures.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../equal_info.h"
#include "../quantize.h"
#include "../range_coder.h"
#include "../status.h"

/* ------------------------------------------------------------------------------------ */
/* PRNG, checks, allocation                                                               */

static uint64_t rng_state, iter_seed;
static const char *stage = "start";

static uint64_t next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n) { return n ? (uint32_t)(next() % n) : 0; }
static int range_int(int lo, int hi) { return lo + (int)below((uint32_t)(hi - lo + 1)); }
static int chance(int percent) { return (int)below(100) < percent; }
static int imin(int a, int b) { return a < b ? a : b; }

static void fail(int line, const char *what) {
    fprintf(stderr, "fuzz_coder: %s: check failed at line %d: %s\n  repeat with: fuzz_coder 1 %" PRIu64 "\n", stage,
            line, what, iter_seed);
    abort();
}

#define CHECK(cond)                              \
    do {                                         \
        if (!(cond)) fail(__LINE__, #cond);      \
    } while (0)

/* Exact sizes, so that AddressSanitizer sees a read one past the end. */
static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "fuzz_coder: out of memory\n");
        exit(2);
    }
    return p;
}

/* ------------------------------------------------------------------------------------ */
/* Random inputs and reference checks                                                     */

static float float_from_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint32_t float_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static float unit(void) { return (float)(next() >> 40) * 0x1p-24f; }

/* Values that break naive code: signed zero, denormals, extremes, inf, nan, raw bit patterns. */
static float hostile_float(void) {
    switch (below(10)) {
    case 0: return -0.0f;
    case 1: return float_from_bits(1 + below(0x7fffff)); /* denormal */
    case 2: return 3.4e38f;
    case 3: return float_from_bits(0x7f800000u); /* inf */
    case 4: return float_from_bits(0xff800000u); /* -inf */
    case 5: return float_from_bits(0x7fc00000u | below(0x400000)); /* nan */
    case 6: return -unit();
    case 7: return float_from_bits((uint32_t)next());
    case 8: return 0.0f;
    default: return unit() * 1e-38f;
    }
}

/* A row of n floats; valid rows are finite, non-negative and not all zero. */
static void random_probs(float *p, int n, int hostile) {
    int style = (int)below(7);
    for (int i = 0; i < n; i++) {
        float u = unit();
        switch (style) {
        case 0: p[i] = u; break;
        case 1: p[i] = u * u * u * u * u * u * u * u * u * u * u * u; break; /* peaked */
        case 2: p[i] = 0.0f; break;                                           /* one-hot below */
        case 3: p[i] = float_from_bits(below(0x800000)); break;               /* denormals and zeros */
        case 4: p[i] = u * 3.4e38f; break;                                    /* sums overflow float */
        case 5: p[i] = chance(90) ? 0.0f : u; break;
        default: p[i] = u * 1e-30f; break;
        }
    }
    if (style == 2 || chance(10)) p[below((uint32_t)n)] = 1.0f;
    int any = 0;
    for (int i = 0; i < n; i++) any |= p[i] != 0.0f;
    if (!any) p[below((uint32_t)n)] = unit() + 0x1p-20f;
    if (hostile) {
        int k = 1 + (int)below(3);
        while (k--) p[below((uint32_t)n)] = hostile_float();
        if (chance(10)) memset(p, 0, sizeof(float) * (size_t)n);
    }
}

/* What quantize_row accepts: every float non-negative and finite (bit pattern below inf; -0.0 is
 * not), and one of them non-zero. */
static int ref_probs_ok(const float *p, int n) {
    int any = 0;
    for (int i = 0; i < n; i++) {
        uint32_t b = float_bits(p[i]);
        if (b >= 0x7f800000u) return 0;
        any |= b != 0;
    }
    return any;
}

/* A valid CDF row cdf[0..n] of total 2^P, in one of several shapes. */
static void random_cdf(int32_t *cdf, int n, int P) {
    uint32_t total = (uint32_t)1 << P;
    switch (below(4)) {
    case 0: { /* quantised floats: flat to peaked */
        float *p = xmalloc(sizeof(float) * (size_t)n);
        random_probs(p, n, 0);
        CHECK(quantize_row(p, n, P, cdf) == RC_OK);
        free(p);
        break;
    }
    case 1: { /* n - 1 distinct random cut points in 1 .. 2^P - 1 (Floyd's sampling) */
        uint8_t *taken = calloc(total, 1);
        CHECK(taken != NULL);
        for (uint32_t j = total - (uint32_t)n + 1; j < total; j++) {
            uint32_t t = 1 + below(j);
            if (taken[t]) t = j;
            taken[t] = 1;
        }
        int k = 0;
        cdf[k++] = 0;
        for (uint32_t v = 1; v < total; v++)
            if (taken[v]) cdf[k++] = (int32_t)v;
        cdf[k] = (int32_t)total;
        CHECK(k == n);
        free(taken);
        break;
    }
    case 2: { /* every symbol at the minimum but one */
        int big = (int)below((uint32_t)n);
        cdf[0] = 0;
        for (int i = 0; i < n; i++) cdf[i + 1] = cdf[i] + (i == big ? (int32_t)(total - (uint32_t)n + 1) : 1);
        break;
    }
    default: /* as even as it gets */
        for (int i = 0; i <= n; i++) cdf[i] = (int32_t)(((uint64_t)i * total) / (uint64_t)n);
        break;
    }
}

/* Breaks one entry of a CDF row (it may by chance stay valid). */
static void corrupt_cdf(int32_t *cdf, int n, int P) {
    int i = (int)below((uint32_t)n + 1);
    switch (below(6)) {
    case 0: cdf[i] += 1; break;
    case 1: cdf[i] -= 1; break;
    case 2: cdf[i] = -1 - (int32_t)below(5); break;
    case 3: cdf[i] = (1 << P) + (int32_t)below(3); break;
    case 4: cdf[i] = cdf[i > 0 ? i - 1 : 1]; break;
    default: cdf[i] = (int32_t)next(); break;
    }
}

/* cdf_row_check's answer, written plainly: the first bad entry, or -1. */
static int ref_cdf_bad(const int32_t *cdf, int n, int P) {
    if (cdf[0] != 0) return 0;
    for (int i = 0; i < n; i++)
        if (cdf[i + 1] <= cdf[i]) return i + 1;
    if (cdf[n] != (1 << P)) return n;
    return -1;
}

/* The symbol a random point of the distribution lands on: draws symbols as the row says. */
static int32_t draw_symbol(const int32_t *cdf, int n, int P) {
    uint32_t q = below((uint32_t)1 << P);
    int s = cdf_search(cdf, n, P, q);
    CHECK(s >= 0 && (uint32_t)cdf[s] <= q && q < (uint32_t)cdf[s + 1]);
    return s;
}

static int32_t least_likely(const int32_t *cdf, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (cdf[i + 1] - cdf[i] < cdf[best + 1] - cdf[best]) best = i;
    return best;
}

/* A symbol for a row: mostly as the row says, sometimes uniform or the least likely one (which
 * shrinks the range the most). */
static int32_t pick_symbol(const int32_t *cdf, int n, int P) {
    int r = (int)below(10);
    if (r < 6) return draw_symbol(cdf, n, P);
    if (r < 8) return (int32_t)below((uint32_t)n);
    return least_likely(cdf, n);
}

/* Random valid CDF rows, R of n + 1 entries. */
static int32_t *cdf_pool(int R, int n, int P) {
    int32_t *pool = xmalloc(sizeof(int32_t) * (size_t)R * (size_t)(n + 1));
    for (int r = 0; r < R; r++) random_cdf(pool + (size_t)r * (size_t)(n + 1), n, P);
    return pool;
}

static int32_t hostile_index(int32_t limit) {
    switch (below(5)) {
    case 0: return -1;
    case 1: return limit;
    case 2: return INT32_MAX;
    case 3: return INT32_MIN;
    default: return limit + 1 + (int32_t)below(100);
    }
}

/* ------------------------------------------------------------------------------------ */
/* quantize: floats -> CDFs                                                               */

static void fuzz_quantize(void) {
    stage = "quantize";
    int P = range_int(1, 16);
    if (chance(5)) P = chance(50) ? range_int(17, 40) : range_int(-4, 0); /* 0 is let through, the rest refused */
    int valid_p = P >= 0 && P <= 16;
    size_t rows = below(5);
    int n;
    switch (below(8)) {
    case 0: n = (int)below(2); break;
    case 1: n = valid_p ? (1 << P) : 2; break;
    case 2: n = valid_p ? (1 << P) + 1 : 3; break;
    case 3: n = 65536 + (int)below(2); break;
    default: n = range_int(2, 300); break;
    }
    if (n > 300) rows = rows > 1 ? 1 : rows;
    int hostile = chance(40);
    float *p = xmalloc(sizeof(float) * rows * (size_t)n);
    int32_t *cdf = xmalloc(sizeof(int32_t) * rows * (size_t)(n + 1));
    for (size_t r = 0; r < rows && n > 0; r++) random_probs(p + r * (size_t)n, n, hostile && chance(50));
    size_t at = 12345;
    int rc = quantize_rows(p, rows, (size_t)n, P, cdf, &at);
    int alphabet = valid_p && alphabet_ok((size_t)n, P);
    if (!valid_p) {
        CHECK(rc == RC_ERR_ALPHABET && at == 0);
    } else if (rows == 0) {
        CHECK(rc == RC_OK && at == 0);
    } else if (!alphabet) {
        CHECK(rc == RC_ERR_ALPHABET && at == 0);
    } else {
        /* The first row whose floats are not valid is the one at fault, and the only kind of fault. */
        size_t bad = rows;
        for (size_t r = 0; r < rows && bad == rows; r++)
            if (!ref_probs_ok(p + r * (size_t)n, n)) bad = r;
        CHECK(at == bad);
        CHECK(rc == (bad == rows ? RC_OK : RC_ERR_PROBS));
        for (size_t r = 0; r < at; r++) {
            const float *pr = p + r * (size_t)n;
            const int32_t *c = cdf + r * (size_t)(n + 1);
            CHECK(ref_cdf_bad(c, n, P) == -1);
            /* The shortcuts an encoder and a decoder take give the same integers. */
            for (int k = 0; k < 3; k++) {
                int s = (int)below((uint32_t)n);
                uint32_t cum = 0, freq = 0;
                CHECK(quantize_interval(pr, n, P, s, &cum, &freq) == RC_OK);
                CHECK(cum == (uint32_t)c[s] && freq == (uint32_t)(c[s + 1] - c[s]));
                uint32_t q = below((uint32_t)1 << P), *scratch = xmalloc(sizeof(uint32_t) * (size_t)(n + n / 16 + 1));
                int sym = -1;
                CHECK(quantize_search(pr, n, P, q, scratch, &sym, &cum, &freq) == RC_OK);
                free(scratch);
                CHECK(sym == cdf_search(c, n, P, q));
                CHECK(cum == (uint32_t)c[sym] && freq == (uint32_t)(c[sym + 1] - c[sym]) && cum <= q && q < cum + freq);
            }
            CHECK(quantize_interval(pr, n, P, chance(50) ? -1 : n, &(uint32_t){0}, &(uint32_t){0}) == RC_ERR_INTERVAL);
        }
        if (bad < rows) {
            const float *pr = p + bad * (size_t)n;
            uint32_t cum, freq, *scratch = xmalloc(sizeof(uint32_t) * (size_t)(n + n / 16 + 1));
            int sym;
            CHECK(quantize_interval(pr, n, P, 0, &cum, &freq) == RC_ERR_PROBS);
            CHECK(quantize_search(pr, n, P, 0, scratch, &sym, &cum, &freq) == RC_ERR_PROBS);
            free(scratch);
        }
    }
    free(p);
    free(cdf);
}

/* cdf_rows_check and cdf_search against the plain reference, on valid and broken rows. */
static void fuzz_cdf_checks(void) {
    stage = "cdf checks";
    int P = range_int(1, 16);
    size_t rows = below(6), width;
    switch (below(6)) {
    case 0: width = below(3); break;            /* no alphabet at all */
    case 1: width = ((size_t)1 << P) + 2; break; /* one symbol too many */
    default: width = (size_t)range_int(3, imin((1 << P) + 1, 301)); break;
    }
    int n = (int)width - 1;
    int32_t *cdf = xmalloc(sizeof(int32_t) * rows * width);
    int valid_width = width >= 1 && alphabet_ok(width - 1, P);
    for (size_t r = 0; r < rows; r++) {
        int32_t *c = cdf + r * width;
        if (valid_width) {
            random_cdf(c, n, P);
            if (chance(30)) corrupt_cdf(c, n, P);
        } else {
            for (size_t i = 0; i < width; i++) c[i] = (int32_t)next();
        }
    }
    size_t at = 999;
    int entry = 999;
    int rc = cdf_rows_check(cdf, rows, width, P, &at, &entry);
    if (!valid_width) {
        CHECK(rc == RC_ERR_ALPHABET && at == 0);
    } else {
        size_t bad = rows;
        int bad_entry = -1;
        for (size_t r = 0; r < rows && bad == rows; r++) {
            const int32_t *c = cdf + r * width;
            int e = ref_cdf_bad(c, n, P);
            CHECK(cdf_row_check(c, n, P) == e);
            /* cdf_search validates as it counts: -1 exactly on a broken row. */
            uint32_t q = below((uint32_t)1 << P);
            int s = cdf_search(c, n, P, q);
            if (e >= 0) {
                CHECK(s == -1);
                bad = r;
                bad_entry = e;
            } else {
                CHECK(s >= 0 && s < n && (uint32_t)c[s] <= q && q < (uint32_t)c[s + 1]);
            }
        }
        CHECK(at == bad && entry == bad_entry);
        CHECK(rc == (bad == rows ? RC_OK : RC_ERR_CDF));
    }
    free(cdf);
}

/* ------------------------------------------------------------------------------------ */
/* Range coder                                                                            */

static void encoder_done(rc_encoder *enc, uint64_t *nbits) {
    uint64_t bits = rc_encoder_bits(enc);
    CHECK(rc_encoder_finish(enc, nbits) == RC_OK);
    CHECK(*nbits == bits && enc->len == (size_t)((*nbits + 7) / 8));
}

static void fuzz_range_round_trip(void) {
    stage = "range round trip";
    int P = range_int(1, 16);
    int n = chance(10) && P <= 9 ? 1 << P : range_int(2, imin(1 << P, 300));
    size_t count = below(chance(20) ? 2000 : 200), W = (size_t)n + 1;
    int R = range_int(1, 6);
    int32_t *pool = cdf_pool(R, n, P);
    int32_t *cdfs = xmalloc(sizeof(int32_t) * count * W), *syms = xmalloc(sizeof(int32_t) * count);
    int32_t *cum = xmalloc(sizeof(int32_t) * count), *freq = xmalloc(sizeof(int32_t) * count);
    int32_t *out = xmalloc(sizeof(int32_t) * count);
    for (size_t i = 0; i < count; i++) {
        int32_t *row = cdfs + i * W;
        memcpy(row, pool + below((uint32_t)R) * W, sizeof(int32_t) * W);
        syms[i] = pick_symbol(row, n, P);
        cum[i] = row[syms[i]];
        freq[i] = row[syms[i] + 1] - row[syms[i]];
    }
    /* CDF rows, fed in random chunks: the batch boundaries do not show in the stream. */
    rc_encoder enc;
    rc_encoder_init(&enc);
    size_t done = 0, at;
    while (done < count) {
        size_t c = 1 + below((uint32_t)(count - done));
        CHECK(rc_encode_cdfs(&enc, cdfs + done * W, syms + done, c, (size_t)n, P, &at) == RC_OK && at == c);
        done += c;
    }
    uint64_t nbits;
    encoder_done(&enc, &nbits);
    /* The same symbols as intervals, in one batch: the same stream. */
    rc_encoder e2;
    rc_encoder_init(&e2);
    uint64_t nbits2;
    CHECK(rc_encode_intervals(&e2, cum, freq, count, P, &at) == RC_OK && at == count);
    encoder_done(&e2, &nbits2);
    CHECK(nbits2 == nbits && e2.len == enc.len && memcmp(e2.buf, enc.buf, enc.len) == 0);
    rc_encoder_free(&e2);
    /* The stream decodes back. */
    rc_decoder dec;
    rc_decoder_init(&dec, enc.buf, enc.len);
    CHECK(rc_decode_cdfs(&dec, cdfs, out, count, (size_t)n, P, &at) == RC_OK && at == count);
    CHECK(memcmp(out, syms, sizeof(int32_t) * count) == 0);
    /* Prefix-free: whatever follows the stream's nbits bits decodes the same. */
    size_t extra = below(12), len = enc.len;
    uint8_t *noisy = xmalloc(len + extra);
    memcpy(noisy, enc.buf, len);
    if (nbits % 8 && len > 0) {
        uint8_t keep = (uint8_t)(0xff00u >> (nbits % 8));
        noisy[len - 1] = (uint8_t)((noisy[len - 1] & keep) | ((uint8_t)next() & ~keep));
    }
    for (size_t i = 0; i < extra; i++) noisy[len + i] = (uint8_t)next();
    rc_decoder_init(&dec, noisy, len + extra);
    memset(out, 0xff, sizeof(int32_t) * count);
    CHECK(rc_decode_cdfs(&dec, cdfs, out, count, (size_t)n, P, &at) == RC_OK && at == count);
    CHECK(memcmp(out, syms, sizeof(int32_t) * count) == 0);
    free(noisy);
    rc_encoder_free(&enc);

    /* From floats: encode_probs writes the stream encode_cdfs writes for the quantised rows, and
     * decode_probs reads it back. */
    float *probs = xmalloc(sizeof(float) * count * (size_t)n);
    int32_t *q = xmalloc(sizeof(int32_t) * count * W);
    for (size_t i = 0; i < count; i++) random_probs(probs + i * (size_t)n, n, 0);
    CHECK(quantize_rows(probs, count, (size_t)n, P, q, &at) == RC_OK);
    for (size_t i = 0; i < count; i++) syms[i] = pick_symbol(q + i * W, n, P);
    rc_encoder_init(&enc);
    rc_encoder_init(&e2);
    CHECK(rc_encode_probs(&enc, probs, syms, count, (size_t)n, P, &at) == RC_OK && at == count);
    CHECK(rc_encode_cdfs(&e2, q, syms, count, (size_t)n, P, &at) == RC_OK && at == count);
    encoder_done(&enc, &nbits);
    encoder_done(&e2, &nbits2);
    CHECK(nbits == nbits2 && enc.len == e2.len && memcmp(enc.buf, e2.buf, enc.len) == 0);
    rc_decoder_init(&dec, enc.buf, enc.len);
    CHECK(rc_decode_probs(&dec, probs, out, count, (size_t)n, P, &at) == RC_OK && at == count);
    CHECK(memcmp(out, syms, sizeof(int32_t) * count) == 0);
    rc_encoder_free(&enc);
    rc_encoder_free(&e2);
    free(probs);
    free(q);
    free(pool);
    free(cdfs);
    free(syms);
    free(cum);
    free(freq);
    free(out);
}

/* Where the first bad symbol of an encode_cdfs batch is, and why: only the two entries it uses count. */
static size_t ref_encode_cdfs_fault(const int32_t *cdfs, const int32_t *syms, size_t count, int n, int P, int *rc) {
    for (size_t i = 0; i < count; i++) {
        int32_t s = syms[i];
        if (s < 0 || s >= n) {
            *rc = RC_ERR_INTERVAL;
            return i;
        }
        int32_t c0 = cdfs[i * (size_t)(n + 1) + (size_t)s], c1 = cdfs[i * (size_t)(n + 1) + (size_t)s + 1];
        if (c0 < 0 || c1 <= c0 || c1 > (1 << P)) {
            *rc = RC_ERR_CDF;
            return i;
        }
    }
    *rc = RC_OK;
    return count;
}

static void fuzz_range_hostile(void) {
    stage = "range hostile";
    int P = range_int(1, 16);
    int n = range_int(2, imin(1 << P, 200));
    size_t count = below(100), W = (size_t)n + 1, at;
    int32_t *cdfs = xmalloc(sizeof(int32_t) * count * W), *syms = xmalloc(sizeof(int32_t) * count);
    int32_t *out = xmalloc(sizeof(int32_t) * (count + 1));
    float *probs = xmalloc(sizeof(float) * count * (size_t)n);
    for (size_t i = 0; i < count; i++) {
        int32_t *row = cdfs + i * W;
        random_cdf(row, n, P);
        syms[i] = pick_symbol(row, n, P);
        if (chance(3)) corrupt_cdf(row, n, P);
        if (chance(2)) syms[i] = hostile_index(n);
        random_probs(probs + i * (size_t)n, n, chance(3));
    }

    /* Bad parameters are refused before anything is read or written. */
    rc_encoder enc;
    rc_encoder_init(&enc);
    int badP = chance(50) ? -1 - (int)below(100) : 17 + (int)below(100);
    size_t badn = chance(50) ? below(2) : ((size_t)1 << P) + 1 + below(100);
    CHECK(rc_encode_intervals(&enc, NULL, NULL, 5, badP, &at) == RC_ERR_ALPHABET && at == 0);
    CHECK(rc_encode_cdfs(&enc, NULL, NULL, 5, badn, P, &at) == RC_ERR_ALPHABET && at == 0);
    CHECK(rc_encode_probs(&enc, NULL, NULL, 5, (size_t)n, badP, &at) == RC_ERR_ALPHABET && at == 0);
    CHECK(enc.len == 0);

    /* A batch stops at the first bad symbol; everything before it is coded and decodes back. */
    int want;
    size_t fault = ref_encode_cdfs_fault(cdfs, syms, count, n, P, &want);
    int rc = rc_encode_cdfs(&enc, cdfs, syms, count, (size_t)n, P, &at);
    CHECK(rc == want && at == fault);
    uint64_t nbits;
    encoder_done(&enc, &nbits);
    int rows_valid = 1;
    for (size_t i = 0; i < fault; i++) rows_valid &= ref_cdf_bad(cdfs + i * W, n, P) == -1;
    rc_decoder dec;
    if (rows_valid) {
        rc_decoder_init(&dec, enc.buf, enc.len);
        CHECK(rc_decode_cdfs(&dec, cdfs, out, fault, (size_t)n, P, &at) == RC_OK && at == fault);
        CHECK(memcmp(out, syms, sizeof(int32_t) * fault) == 0);
    }
    rc_encoder_free(&enc);

    /* Random intervals: the first one outside 0 <= cum < cum + freq <= 2^P is at fault. */
    int32_t *cum = xmalloc(sizeof(int32_t) * count), *freq = xmalloc(sizeof(int32_t) * count);
    size_t first_bad = count;
    for (size_t i = 0; i < count; i++) {
        int32_t total = 1 << P;
        cum[i] = chance(95) ? (int32_t)below((uint32_t)total) : (int32_t)next();
        freq[i] = chance(95) ? 1 + (int32_t)below((uint32_t)(total - cum[i] > 0 ? total - cum[i] : 1)) : (int32_t)next();
        int ok = cum[i] >= 0 && freq[i] > 0 && cum[i] < total && freq[i] <= total - cum[i];
        if (!ok && first_bad == count) first_bad = i;
    }
    rc_encoder_init(&enc);
    rc = rc_encode_intervals(&enc, cum, freq, count, P, &at);
    CHECK(at == first_bad && rc == (first_bad == count ? RC_OK : RC_ERR_INTERVAL));
    encoder_done(&enc, &nbits);
    rc_encoder_free(&enc);

    /* Garbage streams: every decode ends in RC_OK, RC_ERR_STREAM or (a broken row) RC_ERR_CDF. */
    size_t len = below(40);
    uint8_t *garbage = xmalloc(len);
    for (size_t i = 0; i < len; i++) garbage[i] = chance(20) ? 0xff : (uint8_t)next();
    rc_decoder_init(&dec, garbage, len);
    rc = rc_decode_cdfs(&dec, cdfs, out, count, (size_t)n, P, &at);
    CHECK(rc == RC_OK || rc == RC_ERR_STREAM || rc == RC_ERR_CDF);
    CHECK(rc == RC_OK ? at == count : at < count);
    for (size_t i = 0; i < at; i++) CHECK(out[i] >= 0 && out[i] < n && ref_cdf_bad(cdfs + i * W, n, P) == -1);
    if (rc == RC_ERR_CDF) CHECK(ref_cdf_bad(cdfs + at * W, n, P) >= 0);
    rc_decoder_init(&dec, garbage, len);
    rc = rc_decode_probs(&dec, probs, out, count, (size_t)n, P, &at);
    CHECK(rc == RC_OK || rc == RC_ERR_STREAM || rc == RC_ERR_PROBS);
    CHECK(rc == RC_OK ? at == count : at < count);
    for (size_t i = 0; i < at; i++) CHECK(out[i] >= 0 && out[i] < n && ref_probs_ok(probs + i * (size_t)n, n));
    if (rc == RC_ERR_PROBS) CHECK(!ref_probs_ok(probs + at * (size_t)n, n));
    CHECK(rc_decode_cdfs(&dec, cdfs, out, count, badn, P, &at) == RC_ERR_ALPHABET && at == 0);
    CHECK(rc_decode_probs(&dec, probs, out, count, (size_t)n, badP, &at) == RC_ERR_ALPHABET && at == 0);

    /* Encoding from hostile floats: the first row that quantize_row refuses is at fault. */
    rc_encoder_init(&enc);
    for (size_t i = 0; i < count; i++) syms[i] = chance(97) ? (int32_t)below((uint32_t)n) : hostile_index(n);
    rc = rc_encode_probs(&enc, probs, syms, count, (size_t)n, P, &at);
    size_t f = count;
    int frc = RC_OK;
    for (size_t i = 0; i < count && f == count; i++) {
        if (syms[i] < 0 || syms[i] >= n) {
            f = i;
            frc = RC_ERR_INTERVAL;
        } else if (!ref_probs_ok(probs + i * (size_t)n, n)) {
            f = i;
            frc = RC_ERR_PROBS;
        }
    }
    CHECK(rc == frc && at == f);
    rc_encoder_free(&enc);
    free(garbage);
    free(cum);
    free(freq);
    free(cdfs);
    free(syms);
    free(out);
    free(probs);
}

/* ------------------------------------------------------------------------------------ */
/* Equal-Info windows                                                                     */

static void random_window_params(eq_params *p, int max_n) {
    p->precision = range_int(1, 16);
    p->n = range_int(2, imin(1 << p->precision, max_n));
    int bmin = (p->precision + 7) / 8 * 8;
    /* Small windows end within a few symbols; large ones test the 128-bit arithmetic. */
    p->bits = chance(60) ? bmin + 8 * (int)below(2) : bmin + 8 * (int)below((uint32_t)((128 - bmin) / 8 + 1));
    if (p->bits > 128) p->bits = bmin;
    p->terminal = chance(50) ? -1 : (int)below((uint32_t)p->n);
}

static int ref_window_params_ok(const eq_params *p) {
    return p->precision >= 1 && p->precision <= 16 && p->n >= 2 && p->n <= (1 << p->precision) &&
           p->bits >= p->precision && p->bits <= 128 && p->bits % 8 == 0 && p->terminal >= -1 && p->terminal < p->n;
}

static void fuzz_windows_round_trip(void) {
    stage = "windows round trip";
    eq_params p;
    random_window_params(&p, 300);
    int n = p.n, P = p.precision, nb = p.bits / 8;
    size_t W = (size_t)n + 1;
    int R = range_int(1, 6);
    size_t B = 1 + below(4), K = 1 + below(80), at;
    int32_t *table = cdf_pool(R, n, P);
    int32_t *rows = xmalloc(sizeof(int32_t) * B * K), *syms = xmalloc(sizeof(int32_t) * B * K);
    int32_t *lengths = xmalloc(sizeof(int32_t) * B), *consumed = xmalloc(sizeof(int32_t) * B);
    uint8_t *values = xmalloc(B * (size_t)nb), *lane_values = xmalloc(B * (size_t)nb);
    for (size_t i = 0; i < B * K; i++) {
        rows[i] = (int32_t)below((uint32_t)R);
        syms[i] = pick_symbol(table + (size_t)rows[i] * W, n, P);
        if (syms[i] == p.terminal && chance(80)) syms[i] = (syms[i] + 1) % n; /* let most windows run long */
    }
    for (size_t i = 0; i < B; i++) lengths[i] = 1 + (int32_t)below((uint32_t)K);

    CHECK(eq_encode_windows_batch(&p, table, (size_t)R, rows, syms, lengths, B, K, 0, consumed, values, &at) == RC_OK);
    CHECK(at == B);
    for (size_t i = 0; i < B; i++) {
        const int32_t *s = syms + i * K;
        int32_t c = consumed[i];
        CHECK(c >= 0 && c <= lengths[i]);
        if (c == 0) {
            /* All fit and the window could go on: no terminal (it would have ended the window), no value. */
            for (int32_t j = 0; j < lengths[i]; j++) CHECK(s[j] != p.terminal);
            for (int j = 0; j < nb; j++) CHECK(values[i * (size_t)nb + (size_t)j] == 0);
        } else if (s[c - 1] != p.terminal) {
            CHECK(c < lengths[i]); /* closed before symbol c, which did not fit */
        }
    }

    /* The lane decoder, all windows in lockstep, reads every ended window back, then its end. */
    eq_lanes dl;
    CHECK(eq_lanes_init(&dl, &p, B) == RC_OK);
    int32_t slots[4], step_rows[4], out[4];
    size_t who[4];
    for (size_t i = 0; i < B; i++) slots[i] = (int32_t)i;
    CHECK(eq_lanes_decode_start(&dl, slots, B, values, &at) == RC_OK && at == B);
    for (size_t j = 0;; j++) {
        size_t m = 0;
        for (size_t i = 0; i < B; i++) {
            size_t c = (size_t)consumed[i];
            int wants_end = c > 0 && syms[i * K + c - 1] != p.terminal;
            if (j < c || (j == c && wants_end)) {
                CHECK(j < K);
                slots[m] = (int32_t)i;
                step_rows[m] = rows[i * K + j];
                who[m++] = i;
            }
        }
        if (!m) break;
        CHECK(eq_lanes_decode_step(&dl, slots, m, table, (size_t)R, step_rows, out, &at) == RC_OK && at == m);
        for (size_t k = 0; k < m; k++) {
            size_t i = who[k];
            if (j < (size_t)consumed[i]) {
                CHECK(out[k] == syms[i * K + j]);
                CHECK(dl.lane[i].active == (out[k] != p.terminal));
            } else {
                CHECK(out[k] == -1 && !dl.lane[i].active);
            }
        }
    }
    /* Closed windows refuse another step, naming the slot. */
    for (size_t i = 0; i < B; i++) {
        if (consumed[i] == 0) continue;
        int32_t s = (int32_t)i, r = 0, o;
        CHECK(eq_lanes_decode_step(&dl, &s, 1, table, (size_t)R, &r, &o, &at) == RC_ERR_CLOSED && at == 0);
    }
    eq_lanes_free(&dl);

    /* The lane encoder, a symbol per step, ends each window where the batch encoder did. */
    eq_lanes el;
    CHECK(eq_lanes_init(&el, &p, B) == RC_OK);
    for (size_t i = 0; i < B; i++) slots[i] = (int32_t)i;
    CHECK(eq_lanes_encode_start(&el, slots, B, &at) == RC_OK);
    int32_t closed_len[4] = {0, 0, 0, 0}, status[4], lens[4], step_syms[4];
    uint8_t step_vals[4 * 16];
    for (size_t j = 0; j < K; j++) {
        size_t m = 0;
        for (size_t i = 0; i < B; i++) {
            if (el.lane[i].active && j < (size_t)lengths[i]) {
                slots[m] = (int32_t)i;
                step_rows[m] = rows[i * K + j];
                step_syms[m] = syms[i * K + j];
                who[m++] = i;
            }
        }
        if (!m) break;
        CHECK(eq_lanes_encode_step(&el, slots, m, table, (size_t)R, step_rows, step_syms, status, step_vals, lens,
                                   &at) == RC_OK);
        for (size_t k = 0; k < m; k++) {
            CHECK(status[k] >= EQ_STEP_CODED && status[k] <= EQ_STEP_LAST);
            if (status[k] == EQ_STEP_CODED) continue;
            size_t i = who[k];
            CHECK(lens[k] >= 1 && (size_t)lens[k] <= j + (status[k] == EQ_STEP_LAST));
            closed_len[i] = lens[k];
            memcpy(lane_values + i * (size_t)nb, step_vals + k * (size_t)nb, (size_t)nb);
        }
    }
    for (size_t i = 0; i < B; i++) {
        CHECK(closed_len[i] == consumed[i]);
        if (consumed[i]) CHECK(memcmp(lane_values + i * (size_t)nb, values + i * (size_t)nb, (size_t)nb) == 0);
    }
    eq_lanes_free(&el);

    /* The greedy rule: any count up to what was offered. */
    CHECK(eq_encode_windows_batch(&p, table, (size_t)R, rows, syms, lengths, B, K, 1, consumed, values, &at) == RC_OK);
    for (size_t i = 0; i < B; i++) CHECK(consumed[i] >= 0 && consumed[i] <= lengths[i]);
    free(table);
    free(rows);
    free(syms);
    free(lengths);
    free(consumed);
    free(values);
    free(lane_values);
}

/* Any b-bit value decodes to some content, and encoding that content gives the value back where
 * it ends the window.  A window that ends on its terminal encodes to a value (the terminal child's
 * first) that decodes to the same content.  A window that ends on a node's own value (-1): offered
 * each possible next symbol, the encoder closes with exactly this value and length whenever it
 * closes there.  It need not close for any: largest remainders are not monotone in the number of
 * values (the Alabama paradox), so the N - 1 values left after the node keeps one can reach every
 * child although N left some child without one.  That own value is then one the encoder writes
 * only through a deeper node that falls back to it, or never: a little code space lost, not a
 * wrong decode.  unwritten_own counts these. */
static long unwritten_own, own_ends, terminal_ends;

static void fuzz_window_completeness(void) {
    stage = "window completeness";
    enum { MAX_DEPTH = 400, MAX_N = 24 };
    eq_params p;
    random_window_params(&p, MAX_N);
    if (chance(70)) p.bits = (p.precision + 7) / 8 * 8;
    int n = p.n, P = p.precision, nb = p.bits / 8;
    size_t at;
    int R = range_int(1, 4);
    int32_t *table = cdf_pool(R, n, P), seq[MAX_DEPTH], content[MAX_DEPTH];
    for (int j = 0; j < MAX_DEPTH; j++) seq[j] = (int32_t)below((uint32_t)R);
    uint8_t value[16];
    for (int i = 0; i < nb; i++) value[i] = chance(10) ? (uint8_t)(chance(50) ? 0 : 0xff) : (uint8_t)next();

    eq_lanes dl;
    CHECK(eq_lanes_init(&dl, &p, 1) == RC_OK);
    int32_t slot = 0, out = 0;
    CHECK(eq_lanes_decode_start(&dl, &slot, 1, value, &at) == RC_OK);
    int depth = 0;
    for (; depth < MAX_DEPTH; depth++) {
        CHECK(eq_lanes_decode_step(&dl, &slot, 1, table, (size_t)R, &seq[depth], &out, &at) == RC_OK);
        if (out < 0) break;
        CHECK(out < n);
        content[depth] = out;
        if (out == p.terminal) {
            depth++;
            break;
        }
    }
    eq_lanes_free(&dl);
    if (depth == MAX_DEPTH) goto done; /* a very long window: nothing to compare within the bound */
    CHECK(depth >= 1); /* b >= P: every window holds a symbol */

    eq_lanes el;
    int ended_by_terminal = out == p.terminal && out >= 0;
    size_t lanes = ended_by_terminal ? 1 : (size_t)n;
    CHECK(eq_lanes_init(&el, &p, lanes) == RC_OK);
    int32_t slots[MAX_N], rws[MAX_N], syms[MAX_N], status[MAX_N], lens[MAX_N];
    uint8_t vals[MAX_N * 16];
    for (size_t i = 0; i < lanes; i++) slots[i] = (int32_t)i;
    CHECK(eq_lanes_encode_start(&el, slots, lanes, &at) == RC_OK);
    int content_len = ended_by_terminal ? depth - 1 : depth;
    for (int j = 0; j < content_len; j++) {
        for (size_t i = 0; i < lanes; i++) rws[i] = seq[j], syms[i] = content[j];
        CHECK(eq_lanes_encode_step(&el, slots, lanes, table, (size_t)R, rws, syms, status, vals, lens, &at) == RC_OK);
        for (size_t i = 0; i < lanes; i++) CHECK(status[i] == EQ_STEP_CODED);
    }
    /* The last step: the terminal, or every possible next symbol, one per lane. */
    for (size_t i = 0; i < lanes; i++) rws[i] = seq[content_len], syms[i] = ended_by_terminal ? p.terminal : (int32_t)i;
    CHECK(eq_lanes_encode_step(&el, slots, lanes, table, (size_t)R, rws, syms, status, vals, lens, &at) == RC_OK);
    if (ended_by_terminal) {
        CHECK(status[0] == EQ_STEP_LAST && lens[0] == depth);
        /* The terminal's child may own several values; its first decodes to the same content. */
        eq_lanes d2;
        CHECK(eq_lanes_init(&d2, &p, 1) == RC_OK);
        CHECK(eq_lanes_decode_start(&d2, &slot, 1, vals, &at) == RC_OK);
        for (int j = 0; j < depth; j++) {
            CHECK(eq_lanes_decode_step(&d2, &slot, 1, table, (size_t)R, &seq[j], &out, &at) == RC_OK);
            CHECK(out == content[j]);
        }
        CHECK(!d2.lane[0].active);
        eq_lanes_free(&d2);
        terminal_ends++;
    } else {
        int closed = 0;
        for (size_t i = 0; i < lanes; i++) {
            if (status[i] != EQ_STEP_CLOSED) continue;
            closed++;
            CHECK(lens[i] == depth && memcmp(vals + i * (size_t)nb, value, (size_t)nb) == 0);
        }
        own_ends++;
        unwritten_own += closed == 0;
    }
    eq_lanes_free(&el);
done:
    free(table);
}

static void fuzz_windows_hostile(void) {
    stage = "windows hostile";
    eq_params p;
    random_window_params(&p, 200);
    if (chance(15)) {
        switch (below(5)) {
        case 0: p.bits = chance(50) ? p.precision - 1 : 129 + (int)below(100); break;
        case 1: p.bits += 1 + (int)below(7); break;
        case 2: p.n = chance(50) ? (int)below(2) : (1 << p.precision) + 1; break;
        case 3: p.terminal = chance(50) ? -2 - (int)below(5) : p.n + (int)below(3); break;
        default: p.precision = chance(50) ? 0 : 17 + (int)below(10); break;
        }
    }
    int ok = ref_window_params_ok(&p);
    CHECK((eq_window_params_check(&p) == RC_OK) == ok);
    size_t at;
    if (!ok) {
        eq_lanes l;
        int32_t z = 0;
        CHECK(eq_lanes_init(&l, &p, 1) == RC_ERR_ALPHABET && l.lane == NULL);
        CHECK(eq_lanes_encode_start(&l, &z, 1, &at) == RC_ERR_SLOT);
        CHECK(eq_lanes_decode_step(&l, &z, 1, NULL, 0, &z, &z, &at) == RC_ERR_SLOT);
        eq_lanes_free(&l);
        CHECK(eq_encode_windows_batch(&p, NULL, 0, NULL, NULL, NULL, 3, 3, 0, NULL, NULL, &at) == RC_ERR_ALPHABET);
        return;
    }
    int n = p.n, P = p.precision, nb = p.bits / 8;
    size_t W = (size_t)n + 1;
    int R = range_int(1, 5);
    int32_t *table = cdf_pool(R, n, P);
    for (int r = 0; r < R; r++)
        if (chance(20)) corrupt_cdf(table + (size_t)r * W, n, P);

    /* encode_windows: rows first, then lengths, then each window in turn. */
    size_t B = below(5), K = below(30);
    int32_t *rows = xmalloc(sizeof(int32_t) * B * K), *syms = xmalloc(sizeof(int32_t) * B * K);
    int32_t *lengths = xmalloc(sizeof(int32_t) * B), *consumed = xmalloc(sizeof(int32_t) * B);
    uint8_t *values = xmalloc(B * (size_t)nb);
    for (size_t i = 0; i < B * K; i++) {
        rows[i] = chance(3) ? hostile_index(R) : (int32_t)below((uint32_t)R);
        syms[i] = chance(3) ? hostile_index(n) : (int32_t)below((uint32_t)n);
    }
    for (size_t i = 0; i < B; i++) {
        lengths[i] = 1 + (int32_t)below((uint32_t)K);
        if (chance(10)) lengths[i] = chance(30) ? 0 : hostile_index((int32_t)K);
    }
    int rc = eq_encode_windows_batch(&p, table, (size_t)R, rows, syms, lengths, B, K, (int)below(2), consumed, values,
                                     &at);
    size_t bad_row = B * K, bad_len = B;
    for (size_t i = 0; i < B * K && bad_row == B * K; i++)
        if (rows[i] < 0 || rows[i] >= R) bad_row = i;
    for (size_t i = 0; i < B && bad_len == B; i++)
        if (lengths[i] < 1 || (size_t)lengths[i] > K) bad_len = i;
    if (bad_row < B * K) {
        CHECK(rc == RC_ERR_ROW && at == bad_row);
    } else if (bad_len < B) {
        CHECK(rc == RC_ERR_LENGTH && at == bad_len);
    } else {
        CHECK(rc == RC_OK || rc == RC_ERR_INTERVAL || rc == RC_ERR_CDF);
        CHECK(rc == RC_OK ? at == B : at < B);
        for (size_t i = 0; i < at; i++) CHECK(consumed[i] >= 0 && consumed[i] <= lengths[i]);
    }

    /* Lanes: random slots (out of range, repeated), rows, broken CDFs and window values. */
    size_t batch = 1 + below(6);
    eq_lanes dec, enc;
    CHECK(eq_lanes_init(&dec, &p, batch) == RC_OK && eq_lanes_init(&enc, &p, batch) == RC_OK);
    enum { MAXS = 8 };
    int32_t slots[MAXS], srows[MAXS], ssyms[MAXS], out[MAXS], status[MAXS], lens[MAXS];
    uint8_t vals[MAXS * 16];
    for (int step = 0; step < 60; step++) {
        size_t S = below(MAXS + 1);
        for (size_t k = 0; k < S; k++) {
            slots[k] = chance(4) ? hostile_index((int32_t)batch) : (int32_t)below((uint32_t)batch);
            srows[k] = chance(4) ? hostile_index(R) : (int32_t)below((uint32_t)R);
            ssyms[k] = chance(4) ? hostile_index(n) : (int32_t)below((uint32_t)n);
        }
        for (size_t k = 0; k < S * (size_t)nb; k++) vals[k] = (uint8_t)next();
        size_t bad_slot = S, bad_srow = S, closed = S;
        for (size_t k = 0; k < S && bad_slot == S; k++)
            if (slots[k] < 0 || (size_t)slots[k] >= batch) bad_slot = k;
        for (size_t k = 0; k < S && bad_srow == S; k++)
            if (srows[k] < 0 || srows[k] >= R) bad_srow = k;
        int is_dec = (int)below(2);
        eq_lanes *l = is_dec ? &dec : &enc;
        if (chance(25)) { /* (re)start windows */
            rc = is_dec ? eq_lanes_decode_start(l, slots, S, vals, &at) : eq_lanes_encode_start(l, slots, S, &at);
            CHECK(bad_slot < S ? rc == RC_ERR_SLOT && at == bad_slot : rc == RC_OK && at == S);
            continue;
        }
        if (bad_slot == S && bad_srow == S)
            for (size_t k = 0; k < S && closed == S; k++)
                if (!l->lane[slots[k]].active) closed = k;
        if (is_dec)
            rc = eq_lanes_decode_step(l, slots, S, table, (size_t)R, srows, out, &at);
        else
            rc = eq_lanes_encode_step(l, slots, S, table, (size_t)R, srows, ssyms, status, vals, lens, &at);
        if (bad_slot < S) {
            CHECK(rc == RC_ERR_SLOT && at == bad_slot);
        } else if (bad_srow < S) {
            CHECK(rc == RC_ERR_ROW && at == bad_srow);
        } else if (closed < S) {
            CHECK(rc == RC_ERR_CLOSED && at == closed);
        } else if (is_dec) {
            /* A repeated slot whose window ended at its first mention is a stream error at the next. */
            CHECK(rc == RC_OK || rc == RC_ERR_CDF || rc == RC_ERR_STREAM);
            CHECK(rc == RC_OK ? at == S : at < S);
            if (rc == RC_ERR_CDF) CHECK(ref_cdf_bad(table + (size_t)srows[at] * W, n, P) >= 0);
            for (size_t k = 0; k < at; k++) CHECK(out[k] >= -1 && out[k] < n);
        } else {
            CHECK(rc == RC_OK || rc == RC_ERR_CDF || rc == RC_ERR_INTERVAL);
            CHECK(rc == RC_OK ? at == S : at < S);
            if (rc == RC_ERR_INTERVAL) CHECK(ssyms[at] < 0 || ssyms[at] >= n);
            for (size_t k = 0; k < at; k++) {
                CHECK(status[k] >= EQ_STEP_CODED && status[k] <= EQ_STEP_LAST);
                if (status[k] != EQ_STEP_CODED) CHECK(lens[k] >= 1);
            }
        }
    }
    eq_lanes_free(&dec);
    eq_lanes_free(&enc);
    eq_lanes_free(&enc); /* twice is harmless */
    free(table);
    free(rows);
    free(syms);
    free(lengths);
    free(consumed);
    free(values);
}

static void fuzz_values(void) {
    stage = "window values";
    for (int k = 0; k < 8; k++) {
        u128 v = ((u128)next() << 64) | next();
        int nb = range_int(1, 16);
        uint8_t bytes[16];
        eq_value_to_bytes(v, bytes, nb);
        u128 mask = nb == 16 ? ~(u128)0 : (((u128)1 << (8 * nb)) - 1);
        CHECK(eq_value_from_bytes(bytes, nb) == (v & mask));
        CHECK(bytes[nb - 1] == (uint8_t)v); /* big-endian: the last byte is the lowest */
    }
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 200;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (iterations < 0 || argc > 3) {
        fprintf(stderr, "usage: fuzz_coder [ITERATIONS [SEED]]\n");
        return 2;
    }
    for (long i = 0; i < iterations; i++) {
        iter_seed = seed + (uint64_t)i;
        rng_state = iter_seed;
        next(); /* decorrelate neighbouring seeds */
        fuzz_values();
        fuzz_quantize();
        fuzz_cdf_checks();
        fuzz_range_round_trip();
        fuzz_range_hostile();
        fuzz_windows_round_trip();
        fuzz_window_completeness();
        fuzz_windows_hostile();
    }
    printf("fuzz_coder: %ld iterations from seed %" PRIu64 ": ok (random window values: %ld ended on the terminal, %ld "
           "on an own value, %ld of those no single next symbol closes)\n",
           iterations, seed, terminal_ends, own_ends, unwritten_own);
    return 0;
}
