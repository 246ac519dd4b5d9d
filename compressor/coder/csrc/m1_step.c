#include "m1_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

/* Keys summed in int32 before an int64 fold: 256 * 2^15 * 127 < 2^31. */
#define AV_BLOCK 256

/* NaN goes to lo (only a caller's bad input holds one), so every later conversion is defined. */
static inline float clampf(float x, float lo, float hi) { return x > lo ? (x < hi ? x : hi) : lo; }
static inline double clampd(double x, double lo, double hi) { return x > lo ? (x < hi ? x : hi) : lo; }


EQ_VECTOR_KERNEL
void m1_layernorm(const int32_t *r, size_t rows, size_t d, const double *g, const double *h, double eps, int8_t *out) {
    const int64_t n = (int64_t)d;
    const int32_t n32 = (int32_t)d; /* d <= M1_MAX_WIDTH: n x[c] - s1 fits in int32, which converts to double in a vector */
    const double eps_d2 = (double)(n * n) * eps;
    for (size_t i = 0; i < rows; i++) {
        const int32_t *x = r + i * d;
        int64_t s1 = 0, s2 = 0;
        for (size_t c = 0; c < d; c++) {
            s1 += x[c];
            s2 += (int64_t)x[c] * x[c];
        }
        const double root = sqrt((double)(n * s2 - s1 * s1) + eps_d2);
        int8_t *y = out + i * d;
        const int32_t s1_32 = (int32_t)s1;
        for (size_t c = 0; c < d; c++) {
            double t = (double)(n32 * x[c] - s1_32) / root;
            t = t * g[c];
            t = t + h[c];
            y[c] = (int8_t)rint(clampd(t, -M1_ACT_MAX, M1_ACT_MAX));
        }
    }
}

EQ_VECTOR_KERNEL
void m1_requant(const int32_t *acc, size_t rows, size_t n, const float *bias, const float *m, float lo, float hi,
                int8_t *out) {
    for (size_t i = 0; i < rows; i++) {
        const int32_t *a = acc + i * n;
        int8_t *o = out + i * n;
        for (size_t c = 0; c < n; c++) {
            float t = (float)a[c] + bias[c];
            t = t * m[c];
            o[c] = (int8_t)rintf(clampf(t, lo, hi));
        }
    }
}

EQ_VECTOR_KERNEL
void m1_residual(int32_t *r, const int32_t *acc, size_t rows, size_t d, const float *bias, const float *m) {
    for (size_t i = 0; i < rows; i++) {
        int32_t *x = r + i * d;
        const int32_t *a = acc + i * d;
        for (size_t c = 0; c < d; c++) {
            float t = (float)a[c] + bias[c];
            t = t * m[c];
            int32_t s = x[c] + (int32_t)rintf(clampf(t, -M1_RES_MAX, M1_RES_MAX));
            x[c] = s < -M1_RES_MAX ? -M1_RES_MAX : s > M1_RES_MAX ? M1_RES_MAX : s;
        }
    }
}

int m1_attend_check(const m1_attention *a, size_t rows, const int64_t *slot, const int64_t *pos, size_t *at) {
    for (size_t i = 0; i < rows; i++) {
        if (slot[i] < 0 || (uint64_t)slot[i] >= a->slots || pos[i] < 0 || (uint64_t)pos[i] >= a->capacity) {
            *at = i;
            return RC_ERR_SLOT;
        }
    }
    return RC_OK;
}

/* Offset of (slot, head, position 0) in a cache layer. */
static inline size_t cache_at(const m1_attention *a, int64_t slot, size_t head) {
    return (((size_t)slot * a->n_head + head) * a->capacity) * a->head_dim;
}

void m1_cache_put(const m1_attention *a, const int8_t *qkv, size_t rows, const int64_t *slot, const int64_t *pos,
                  int8_t *k, int8_t *v) {
    const size_t hd = a->head_dim, d = a->n_head * hd;
    for (size_t i = 0; i < rows; i++) {
        const int8_t *row = qkv + i * 3 * d;
        for (size_t h = 0; h < a->n_head; h++) {
            size_t at = cache_at(a, slot[i], h) + (size_t)pos[i] * hd;
            memcpy(k + at, row + d + h * hd, hd);
            memcpy(v + at, row + 2 * d + h * hd, hd);
        }
    }
}

/* The larger of a and b; NaN loses to b.  (This form compiles to a vector max without fast-math.) */
static inline float maxf(float a, float b) { return a > b ? a : b; }

/* z[j] = q.k_j * score - slope * (pos - j) for j <= pos, in float32; returns their maximum. */
EQ_VECTOR_KERNEL
static float scores(const int16_t *q, const int8_t *keys, size_t hd, size_t len, float score, float slope, float *z) {
    for (size_t j = 0; j < len; j++) {
        const int8_t *kj = keys + j * hd;
        int32_t dot = 0;
        for (size_t c = 0; c < hd; c++) dot += (int32_t)q[c] * kj[c];
        z[j] = (float)dot;
    }
    float lane[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    for (size_t j = 0; j < len; j++) {
        float t = z[j] * score;
        t = t - slope * (float)(int32_t)(len - 1 - j);
        z[j] = t;
        lane[j % 8] = maxf(t, lane[j % 8]);
    }
    float mx = lane[0];
    for (int j = 1; j < 8; j++) mx = maxf(lane[j], mx);
    return mx;
}

/* w[j] = lut[min(round(mx - z[j]), top)] for j < len (NaN reads lut[top]); returns their sum.
 * The exp-table softmax of both the attention and the head (whose logits are integers already,
 * so rounding their differences changes nothing). */
EQ_VECTOR_KERNEL
static int64_t table_weights(const float *z, size_t len, float mx, const int32_t *lut, size_t top, int32_t *w) {
    const float topf = (float)top;
    for (size_t j = 0; j < len; j++) {
        float s = rintf(mx - z[j]);
        w[j] = s >= 0.0f && s < topf ? (int32_t)s : (int32_t)top;
    }
    int64_t den = 0;
    for (size_t j = 0; j < len; j++) {
        w[j] = lut[w[j]];
        den += w[j];
    }
    return den;
}

/* num[c] = sum_j w[j] v_j[c] for j < len, exactly (int32 within a block, then double: < 2^53). */
EQ_VECTOR_KERNEL
static void weighted_sum(const int32_t *w, const int8_t *values, size_t hd, size_t len, int32_t *part, double *num) {
    for (size_t c = 0; c < hd; c++) num[c] = 0;
    for (size_t j0 = 0; j0 < len; j0 += AV_BLOCK) {
        size_t j1 = j0 + AV_BLOCK < len ? j0 + AV_BLOCK : len;
        for (size_t c = 0; c < hd; c++) part[c] = 0;
        for (size_t j = j0; j < j1; j++) {
            const int8_t *vj = values + j * hd;
            const int32_t wj = w[j];
            for (size_t c = 0; c < hd; c++) part[c] += wj * vj[c];
        }
        for (size_t c = 0; c < hd; c++) num[c] += (double)part[c];
    }
}

/* o[c] = clamp(round(float(num[c] / den) * v_to_att), +-127): the float64 divide, then float32. */
EQ_VECTOR_KERNEL
static void attention_out(const double *num, size_t hd, double den, float v_to_att, int8_t *o) {
    for (size_t c = 0; c < hd; c++) {
        float t = (float)(num[c] / den) * v_to_att;
        t = t > -M1_ACT_MAX ? t : -M1_ACT_MAX;
        t = t < M1_ACT_MAX ? t : M1_ACT_MAX;
        o[c] = (int8_t)rintf(t);
    }
}

EQ_VECTOR_KERNEL
int m1_attend(const m1_attention *a, const int8_t *qkv, size_t rows, const int64_t *slot, const int64_t *pos,
              const int8_t *k, const int8_t *v, int8_t *out) {
    const size_t hd = a->head_dim, d = a->n_head * hd, top = a->lut_size - 1;
    size_t span = 1;
    for (size_t i = 0; i < rows; i++) span = (size_t)pos[i] + 1 > span ? (size_t)pos[i] + 1 : span;
    float *z = malloc(span * sizeof *z);
    int32_t *w = malloc(span * sizeof *w);
    int32_t *part = malloc(hd * sizeof *part);
    double *num = malloc(hd * sizeof *num);
    int16_t *q = malloc(hd * sizeof *q);
    int rc = z && w && part && num && q ? RC_OK : RC_ERR_NOMEM;
    for (size_t i = 0; rc == RC_OK && i < rows; i++) {
        const size_t len = (size_t)pos[i] + 1;
        for (size_t h = 0; h < a->n_head; h++) {
            const int8_t *qi = qkv + i * 3 * d + h * hd;
            for (size_t c = 0; c < hd; c++) q[c] = qi[c];
            const size_t base = cache_at(a, slot[i], h);
            const float mx = scores(q, k + base, hd, len, a->score, a->slopes[h], z);
            const int64_t den = table_weights(z, len, mx, a->lut, top, w);
            weighted_sum(w, v + base, hd, len, part, num);
            attention_out(num, hd, (double)den, a->v_to_att, out + i * d + h * hd);
        }
    }
    free(z);
    free(w);
    free(part);
    free(num);
    free(q);
    return rc;
}

/* round((acc + bias) * m) per symbol; returns the maximum. */
EQ_VECTOR_KERNEL
static float head_logits(const int32_t *acc, size_t n, const float *bias, const float *m, float *logit) {
    for (size_t c = 0; c < n; c++) {
        float t = (float)acc[c] + bias[c];
        t = t * m[c];
        logit[c] = rintf(t);
    }
    float lane[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    for (size_t c = 0; c < n; c++) lane[c % 8] = maxf(logit[c], lane[c % 8]);
    float mx = lane[0];
    for (int j = 1; j < 8; j++) mx = maxf(lane[j], mx);
    return mx;
}

/* freq - 1 = floor(e * budget / total).  e * budget < 2^31 and total < 2^53, so the float64
 * quotient, correctly rounded, never reaches the next integer: its floor is the integer one. */
EQ_VECTOR_KERNEL
static int64_t extras(int32_t *e, size_t n, int32_t budget, int64_t total) {
    const double t = (double)total;
    int64_t used = 0;
    for (size_t c = 0; c < n; c++) {
        e[c] = (int32_t)((double)(e[c] * budget) / t);
        used += e[c];
    }
    return used;
}

EQ_VECTOR_KERNEL
int m1_cdfs(const int32_t *acc, size_t rows, size_t n, const float *bias, const float *m, const int32_t *lut,
            size_t lut_size, int precision, int32_t *cdf, size_t *at) {
    float *logit = malloc(n * sizeof *logit);
    int32_t *e = malloc(n * sizeof *e);
    if (!logit || !e) {
        free(logit);
        free(e);
        return RC_ERR_NOMEM;
    }
    const int32_t budget = (int32_t)(((int64_t)1 << precision) - (int64_t)n);
    const size_t top = lut_size - 1;
    int rc = RC_OK;
    for (size_t i = 0; i < rows; i++) {
        const float mx = head_logits(acc + i * n, n, bias, m, logit);
        size_t first_max = 0; /* the logits are integers: a step is 0 exactly where mx - logit is */
        while (first_max < n && mx - logit[first_max] != 0.0f) first_max++;
        const int64_t total = table_weights(logit, n, mx, lut, top, e);
        if (first_max == n) { /* no finite maximum: the accumulators held inf or NaN */
            *at = i;
            rc = RC_ERR_PROBS;
            break;
        }
        e[first_max] += budget - (int32_t)extras(e, n, budget, total);
        int32_t *row = cdf + i * (n + 1);
        int32_t run = 0;
        row[0] = 0;
        for (size_t c = 0; c < n; c++) {
            run += e[c] + 1;
            row[c + 1] = run;
        }
    }
    free(logit);
    free(e);
    return rc;
}
