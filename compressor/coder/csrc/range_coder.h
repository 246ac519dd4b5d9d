/* Range coder with 64-bit state, 16-bit renormalisation and exact bit accounting.
 *
 * Interval [low, low + range) in units of 2^-64 below the emitted words.  Every symbol
 * narrows it to r*cum .. r*(cum+freq) with r = range >> P; the part above r*2^P is never
 * used, so a decoder landing there knows the stream is not one this coder produced.
 * range stays >= 2^48, so the truncation costs < 2^(P-48) relative per symbol.
 */
#ifndef EQINFO_RANGE_CODER_H
#define EQINFO_RANGE_CODER_H

#include <stddef.h>
#include <stdint.h>

#include "quantize.h"
#include "status.h"


#define RC_RANGE_MIN ((uint64_t)1 << 48)

typedef struct {
    uint64_t low, range;
    uint8_t *buf; /* emitted bytes, whole 16-bit words, big-endian */
    size_t len, cap;
} rc_encoder;

typedef struct {
    const uint8_t *buf;
    size_t len, pos; /* pos: next byte to shift in; bytes past len read as zero */
    uint64_t x;      /* code value minus low, always < range */
    uint64_t range;
} rc_decoder;

void rc_encoder_init(rc_encoder *enc);
void rc_encoder_free(rc_encoder *enc);
int rc_encoder_reserve(rc_encoder *enc, size_t extra_bytes);
/* Bits the stream would take if it were finished now (exact). */
uint64_t rc_encoder_bits(const rc_encoder *enc);
/* Appends the shortest tail whose every continuation stays in the final interval (a prefix-free
 * stream: trailing bits never change what it decodes to); *nbits gets the stream length. */
int rc_encoder_finish(rc_encoder *enc, uint64_t *nbits);

void rc_decoder_init(rc_decoder *dec, const uint8_t *buf, size_t len);

static inline void rc_carry(rc_encoder *enc) {
    size_t i = enc->len;
    while (i > 0) {
        i--;
        if (++enc->buf[i] != 0) return;
    }
}

/* Caller guarantees 2 bytes of spare capacity (rc_encoder_reserve).  The renormalisation is
 * branch-free: the two bytes are always stored and kept only when the range got too small. */
static inline int rc_encode(rc_encoder *enc, uint32_t cum, uint32_t freq, int precision) {
    if (freq == 0 || cum >= ((uint32_t)1 << precision) || freq > ((uint32_t)1 << precision) - cum)
        return RC_ERR_INTERVAL;
    uint64_t r = enc->range >> precision;
    uint64_t low = enc->low + r * cum;
    if (low < enc->low) rc_carry(enc);
    uint64_t range = r * freq;
    int shift = range < RC_RANGE_MIN ? 16 : 0;
    enc->buf[enc->len] = (uint8_t)(low >> 56);
    enc->buf[enc->len + 1] = (uint8_t)(low >> 48);
    enc->len += (size_t)(shift >> 3);
    enc->low = low << shift;
    enc->range = range << shift;
    return RC_OK;
}

static inline uint64_t rc_next_word(rc_decoder *dec) {
    uint64_t hi = dec->pos < dec->len ? dec->buf[dec->pos] : 0;
    uint64_t lo = dec->pos + 1 < dec->len ? dec->buf[dec->pos + 1] : 0;
    dec->pos += 2;
    return (hi << 8) | lo;
}

/* Decoding is split so that the caller can find the symbol in its own way: the target q
 * (the cumulative frequency the code value points at), then the update with that symbol's
 * interval, which the caller must have checked holds q. */
static inline int rc_decode_target(const rc_decoder *dec, int precision, uint32_t *q) {
    uint64_t t = dec->x / (dec->range >> precision);
    if (t >= ((uint64_t)1 << precision)) return RC_ERR_STREAM;
    *q = (uint32_t)t;
    return RC_OK;
}

static inline void rc_decode_update(rc_decoder *dec, int precision, uint32_t cum, uint32_t freq) {
    uint64_t r = dec->range >> precision;
    dec->x -= r * cum;
    dec->range = r * freq;
    if (dec->range < RC_RANGE_MIN) {
        dec->x = (dec->x << 16) | rc_next_word(dec);
        dec->range <<= 16;
    }
}

/* Decodes one symbol with the CDF row cdf[0..n]; the row is validated as it is searched. */
static inline int rc_decode(rc_decoder *dec, const int32_t *cdf, int n, int precision, int32_t *sym) {
    uint32_t q;
    if (rc_decode_target(dec, precision, &q) != RC_OK) return RC_ERR_STREAM;
    int s = cdf_search(cdf, n, precision, q);
    if (s < 0) return RC_ERR_CDF;
    rc_decode_update(dec, precision, (uint32_t)cdf[s], (uint32_t)(cdf[s + 1] - cdf[s]));
    *sym = s;
    return RC_OK;
}

/* ---- batches: the loops the bindings run with the GIL released ----
 * Each returns RC_OK or an RC_ERR_* code, and sets *at to the number of symbols done: the index
 * of the one at fault on error (whatever was coded before it stays coded).  A precision outside
 * 0..16, or rows whose alphabet is outside 2..2^P, is RC_ERR_ALPHABET at 0 before anything is
 * read.  The encoders reserve the output first (2 bytes a symbol), so rc_encode never needs to
 * grow the buffer. */

/* Intervals [cum[i], cum[i] + freq[i]) of 2^P. */
int rc_encode_intervals(rc_encoder *enc, const int32_t *cum, const int32_t *freq, size_t count, int precision,
                        size_t *at);
/* symbols[i] with the CDF row cdfs[i * (n + 1) .. + n]; only the two entries it uses are read. */
int rc_encode_cdfs(rc_encoder *enc, const int32_t *cdfs, const int32_t *symbols, size_t count, size_t n,
                   int precision, size_t *at);
/* symbols[i] with the float row probs[i * n .. + n), quantised as quantize_row does. */
int rc_encode_probs(rc_encoder *enc, const float *probs, const int32_t *symbols, size_t count, size_t n,
                    int precision, size_t *at);
/* One symbol per CDF row (n + 1 entries) / per float row (n entries) into out[0..count). */
int rc_decode_cdfs(rc_decoder *dec, const int32_t *cdfs, int32_t *out, size_t count, size_t n, int precision,
                   size_t *at);
int rc_decode_probs(rc_decoder *dec, const float *probs, int32_t *out, size_t count, size_t n, int precision,
                    size_t *at);

#endif
