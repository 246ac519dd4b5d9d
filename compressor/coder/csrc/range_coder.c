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
