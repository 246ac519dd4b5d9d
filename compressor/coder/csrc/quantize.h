/* Float probabilities -> integer CDFs with total 2^P and every frequency >= 1.
 *
 * Deterministic by construction: the sum runs in a fixed order (sixteen float32 lanes, lane
 * i % 16, combined pairwise in float64), then freq_i = 1 + floor(p_i * scale) in float32 with
 * scale = (2^P - n) / sum (rows summing below 2^-64 are first scaled by 2^64, exactly), and the remainder goes to the first most probable symbol.  No FMA
 * contraction (-ffp-contract=off) and no reassociation, so every build and every vector width
 * computes the same integers from the same floats.
 */
#ifndef EQINFO_QUANTIZE_H
#define EQINFO_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

/* Quantises one row p[0..n) into cdf[0..n]; returns RC_OK or an RC_ERR_* code. */
int quantize_row(const float *p, int n, int precision, int32_t *cdf);

/* cum/freq of symbol s only (what an encoder needs), the same integers as quantize_row. */
int quantize_interval(const float *p, int n, int precision, int s, uint32_t *cum, uint32_t *freq);

/* The symbol whose quantised interval holds q (what a decoder needs), without building the
 * CDF: scratch holds n + n/16 + 1 uint32.  Same integers as quantize_row. */
int quantize_search(const float *p, int n, int precision, uint32_t q, uint32_t *scratch, int *sym, uint32_t *cum,
                    uint32_t *freq);

/* Returns -1 if cdf[0..n] is 0, strictly increasing, 2^P at the end; otherwise the bad index. */
int cdf_row_check(const int32_t *cdf, int n, int precision);

/* The symbol s with cdf[s] <= q < cdf[s+1], or -1 if the row is not a valid CDF. */
int cdf_search(const int32_t *cdf, int n, int precision, uint32_t q);

/* ---- batches ---- */

/* Quantises rows p[r*n .. r*n+n) into cdf[r*(n+1) .. r*(n+1)+n] for r < rows; on error *at is the row
 * at fault (rows before it are written).  No rows, no error, whatever n is. */
int quantize_rows(const float *p, size_t rows, size_t n, int precision, int32_t *cdf, size_t *at);

/* Checks rows of `width` entries: RC_ERR_ALPHABET if width - 1 is not an alphabet size (even with
 * no rows), RC_ERR_CDF with the row in *at and the entry in *entry as cdf_row_check gives it. */
int cdf_rows_check(const int32_t *cdf, size_t rows, size_t width, int precision, size_t *at, int *entry);

#endif
