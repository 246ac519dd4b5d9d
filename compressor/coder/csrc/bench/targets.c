/* Coding from float32 probabilities on the plain C core, for one build of it: tools/bench_targets.py
 * compiles this once per vector target (plain, AVX2, AVX-512, the extension's clones) and checks
 * that every build writes the same stream, and how fast.
 *
 *     targets ROWS ALPHABET REPEATS  ->  one JSON line
 *
 * The rows are language-model-like (softmax of uniform logits, a fixed xorshift seed), the
 * symbols drawn from them, so every build codes the same floats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../quantize.h"
#include "../range_coder.h"
#include "../status.h"

enum { PRECISION = 14 };

static uint64_t state = 0x9e3779b97f4a7c15u;

static double uniform(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) * 0x1p-53;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Softmax rows of uniform logits over [0, 8) and one symbol drawn from each row. */
static void make_rows(float *p, int32_t *symbols, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        float *row = p + r * n;
        double total = 0;
        for (size_t i = 0; i < n; i++) total += row[i] = (float)exp(8.0 * uniform());
        double u = uniform() * total, cum = 0;
        symbols[r] = (int32_t)n - 1;
        for (size_t i = 0; i < n; i++) {
            row[i] = (float)(row[i] / total);
            cum += row[i] * total;
            if (cum > u && symbols[r] == (int32_t)n - 1) symbols[r] = (int32_t)i;
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s ROWS ALPHABET REPEATS\n", argv[0]);
        return 2;
    }
    size_t rows = strtoul(argv[1], NULL, 10), n = strtoul(argv[2], NULL, 10);
    int repeats = atoi(argv[3]);
    if (rows < 1 || !alphabet_ok(n, PRECISION) || repeats < 1) {
        fprintf(stderr, "need ROWS >= 1, 2 <= ALPHABET <= 2^%d, REPEATS >= 1\n", PRECISION);
        return 2;
    }
    float *p = malloc(rows * n * sizeof *p);
    int32_t *symbols = malloc(rows * sizeof *symbols), *out = malloc(rows * sizeof *out);
    if (!p || !symbols || !out) return 1;
    make_rows(p, symbols, rows, n);
    double best_enc = INFINITY, best_dec = INFINITY;
    uint64_t nbits = 0, hash = 1469598103934665603u;
    for (int k = 0; k < repeats; k++) {
        rc_encoder enc;
        rc_decoder dec;
        size_t at;
        rc_encoder_init(&enc);
        double t0 = now();
        int rc = rc_encode_probs(&enc, p, symbols, rows, n, PRECISION, &at);
        double t1 = now();
        if (rc == RC_OK) rc = rc_encoder_finish(&enc, &nbits);
        if (rc != RC_OK) {
            fprintf(stderr, "encode: status %d at row %zu\n", rc, at);
            return 1;
        }
        rc_decoder_init(&dec, enc.buf, enc.len);
        double t2 = now();
        rc = rc_decode_probs(&dec, p, out, rows, n, PRECISION, &at);
        double t3 = now();
        if (rc != RC_OK || memcmp(out, symbols, rows * sizeof *out) != 0) {
            fprintf(stderr, "decode: status %d, round trip %s\n", rc, rc == RC_OK ? "differs" : "stopped");
            return 1;
        }
        best_enc = t1 - t0 < best_enc ? t1 - t0 : best_enc;
        best_dec = t3 - t2 < best_dec ? t3 - t2 : best_dec;
        if (k == repeats - 1)
            for (size_t i = 0; i < enc.len; i++) hash = (hash ^ enc.buf[i]) * 1099511628211u;
        rc_encoder_free(&enc);
    }
    printf("{\"encode_msym_s\": %.4f, \"decode_msym_s\": %.4f, \"bits\": %llu, \"stream_fnv1a\": \"%016llx\"}\n",
           (double)rows / best_enc / 1e6, (double)rows / best_dec / 1e6, (unsigned long long)nbits,
           (unsigned long long)hash);
    free(p);
    free(symbols);
    free(out);
    return 0;
}
