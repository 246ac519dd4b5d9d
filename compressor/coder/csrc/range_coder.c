#include "range_coder.h"

#include <stdlib.h>

typedef unsigned __int128 u128;

void rc_encoder_init(rc_encoder *enc) {
    enc->low = 0;
    enc->range = UINT64_MAX;
    enc->buf = NULL;
    enc->len = enc->cap = 0;
}

void rc_encoder_free(rc_encoder *enc) {
    free(enc->buf);
    enc->buf = NULL;
    enc->len = enc->cap = 0;
}

int rc_encoder_reserve(rc_encoder *enc, size_t extra) {
    if (enc->cap - enc->len >= extra) return RC_OK;
    size_t want = enc->len + extra;
    size_t cap = enc->cap ? enc->cap : 64;
    while (cap < want) {
        if (cap > SIZE_MAX / 2) return RC_ERR_NOMEM;
        cap *= 2;
    }
    uint8_t *buf = realloc(enc->buf, cap);
    if (!buf) return RC_ERR_NOMEM;
    enc->buf = buf;
    enc->cap = cap;
    return RC_OK;
}

/* Fewest bits k such that the whole cell [v, v + 2^(64-k)) of v = ceil(low / 2^(64-k)) * 2^(64-k)
 * lies inside [low, low + range): whatever bits follow the stream, its value stays in the final
 * interval, so the stream is a prefix-free codeword and streams can be concatenated.  A cell of
 * half the interval's width always fits, so k < -log2(width) + 2. */
static int tail_bits(uint64_t low, uint64_t range, u128 *v) {
    u128 end = (u128)low + range;
    for (int k = 0; k <= 64; k++) {
        int sh = 64 - k;
        u128 step = (u128)1 << sh;
        u128 val = (((u128)low + step - 1) >> sh) << sh;
        if (val + step <= end) {
            *v = val;
            return k;
        }
    }
    *v = low; /* unreachable: k = 64 gives the cell [low, low + 1), and range >= 1 */
    return 64;
}

uint64_t rc_encoder_bits(const rc_encoder *enc) {
    u128 v;
    return (uint64_t)enc->len * 8 + (uint64_t)tail_bits(enc->low, enc->range, &v);
}

int rc_encoder_finish(rc_encoder *enc, uint64_t *nbits) {
    u128 v;
    int k = tail_bits(enc->low, enc->range, &v);
    if (rc_encoder_reserve(enc, 8) != RC_OK) return RC_ERR_NOMEM;
    if (v >> 64) rc_carry(enc);
    uint64_t tail = (uint64_t)v;
    uint64_t total = (uint64_t)enc->len * 8 + (uint64_t)k;
    for (int i = 0; i < (k + 7) / 8; i++) enc->buf[enc->len++] = (uint8_t)(tail >> (56 - 8 * i));
    enc->low = 0;
    enc->range = UINT64_MAX;
    *nbits = total;
    return RC_OK;
}

void rc_decoder_init(rc_decoder *dec, const uint8_t *buf, size_t len) {
    dec->buf = buf;
    dec->len = len;
    dec->pos = 0;
    dec->x = 0;
    for (int i = 0; i < 4; i++) dec->x = (dec->x << 16) | rc_next_word(dec);
    dec->range = UINT64_MAX;
}

/* ---- batches ---- */

/* Room for `count` symbols (2 bytes each at most) and the tail. */
static int reserve_symbols(rc_encoder *enc, size_t count) {
    if (count > (SIZE_MAX - 16) / 2) return RC_ERR_NOMEM;
    return rc_encoder_reserve(enc, count * 2 + 16);
}

int rc_encode_intervals(rc_encoder *enc, const int32_t *cum, const int32_t *freq, size_t count, int precision,
                        size_t *at) {
    *at = 0;
    if (precision < 0 || precision > RC_MAX_PRECISION) return RC_ERR_ALPHABET;
    int rc = reserve_symbols(enc, count);
    if (rc != RC_OK) return rc;
    size_t i = 0;
    for (; i < count; i++) {
        if (cum[i] < 0 || freq[i] <= 0) {
            rc = RC_ERR_INTERVAL;
            break;
        }
        rc = rc_encode(enc, (uint32_t)cum[i], (uint32_t)freq[i], precision);
        if (rc != RC_OK) break;
    }
    *at = i;
    return rc;
}

int rc_encode_cdfs(rc_encoder *enc, const int32_t *cdfs, const int32_t *symbols, size_t count, size_t n,
                   int precision, size_t *at) {
    *at = 0;
    if (!alphabet_ok(n, precision)) return RC_ERR_ALPHABET;
    int rc = reserve_symbols(enc, count);
    if (rc != RC_OK) return rc;
    size_t width = n + 1, i = 0;
    for (; i < count; i++) {
        int32_t s = symbols[i];
        if (s < 0 || (size_t)s >= n) {
            rc = RC_ERR_INTERVAL;
            break;
        }
        /* Rows are far apart: fetch the entries a few symbols ahead. */
        if (i + 16 < count && (uint32_t)symbols[i + 16] < (uint32_t)n)
            __builtin_prefetch(cdfs + (i + 16) * width + symbols[i + 16]);
        const int32_t *row = cdfs + i * width;
        int32_t c0 = row[s], c1 = row[s + 1];
        if (c0 < 0 || c1 <= c0 || c1 > (1 << precision)) {
            rc = RC_ERR_CDF;
            break;
        }
        rc = rc_encode(enc, (uint32_t)c0, (uint32_t)(c1 - c0), precision);
        if (rc != RC_OK) break;
    }
    *at = i;
    return rc;
}

/* Rows of probabilities are read once each, straight from memory: asking for a later row's cache
 * lines while this one is coded hides most of the memory latency.  Into every cache level: the
 * non-temporal hint made coding from float32 1.1x slower. */
enum { PREFETCH_ROWS = 2 };

static inline void prefetch_row(const float *row, size_t n) {
    for (size_t j = 0; j < n; j += 16) __builtin_prefetch(row + j, 0, 3);
}

int rc_encode_probs(rc_encoder *enc, const float *probs, const int32_t *symbols, size_t count, size_t n,
                    int precision, size_t *at) {
    *at = 0;
    if (!alphabet_ok(n, precision)) return RC_ERR_ALPHABET;
    int rc = reserve_symbols(enc, count);
    if (rc != RC_OK) return rc;
    size_t i = 0;
    for (; i < count; i++) {
        uint32_t cum, freq;
        if (i + PREFETCH_ROWS < count) prefetch_row(probs + (i + PREFETCH_ROWS) * n, n);
        rc = quantize_interval(probs + i * n, (int)n, precision, symbols[i], &cum, &freq);
        if (rc != RC_OK) break;
        rc = rc_encode(enc, cum, freq, precision);
        if (rc != RC_OK) break;
    }
    *at = i;
    return rc;
}

int rc_decode_cdfs(rc_decoder *dec, const int32_t *cdfs, int32_t *out, size_t count, size_t n, int precision,
                   size_t *at) {
    *at = 0;
    if (!alphabet_ok(n, precision)) return RC_ERR_ALPHABET;
    int rc = RC_OK;
    size_t i = 0;
    for (; i < count; i++) {
        rc = rc_decode(dec, cdfs + i * (n + 1), (int)n, precision, &out[i]);
        if (rc != RC_OK) break;
    }
    *at = i;
    return rc;
}

int rc_decode_probs(rc_decoder *dec, const float *probs, int32_t *out, size_t count, size_t n, int precision,
                    size_t *at) {
    *at = 0;
    if (!alphabet_ok(n, precision)) return RC_ERR_ALPHABET;
    /* quantize_search's work space: the extras and the 16-symbol block sums. */
    uint32_t *scratch = malloc(sizeof(uint32_t) * (n + n / 16 + 2));
    if (!scratch) return RC_ERR_NOMEM;
    int rc = RC_OK;
    size_t i = 0;
    for (; i < count; i++) {
        uint32_t q, cum, freq;
        int s;
        if (i + PREFETCH_ROWS < count) prefetch_row(probs + (i + PREFETCH_ROWS) * n, n);
        rc = rc_decode_target(dec, precision, &q);
        if (rc != RC_OK) break;
        rc = quantize_search(probs + i * n, (int)n, precision, q, scratch, &s, &cum, &freq);
        if (rc != RC_OK) break;
        rc_decode_update(dec, precision, cum, freq);
        out[i] = s;
    }
    free(scratch);
    *at = i;
    return rc;
}
