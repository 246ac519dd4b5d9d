/* M1's exact step between its GEMMs: m1_layernorm, m1_requant, m1_residual, m1_attend, m1_cdfs.
 * m1_step.c computes; this file checks every shape, index and table entry before any pointer is
 * touched, so no input can make the core read or write outside its arrays. */
#include "py_coder.h"

#include "m1_step.h"
#include "status.h"

static int shape_error(const char *what, Py_ssize_t want, Py_ssize_t got) {
    PyErr_Format(PyExc_ValueError, "%s: expected %zd, got %zd", what, want, got);
    return -1;
}

/* The exp table's entries in 0..2^15 with the first >= 1: weights and their sums then stay in range. */
static int check_lut(const buf_t *lut) {
    const int32_t *t = lut->view.buf;
    Py_ssize_t n = dim(lut, 0);
    if (n < 1 || t[0] < 1) {
        PyErr_SetString(PyExc_ValueError, "lut: needs at least one entry, the first >= 1");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (t[i] < 0 || t[i] > (1 << 15)) {
            PyErr_Format(PyExc_ValueError, "lut: entry %zd = %d is outside 0..32768", i, t[i]);
            return -1;
        }
    }
    return 0;
}

PyObject *py_m1_layernorm(PyObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"r", BUF_INT32, 2, 0},
                                     {"g", BUF_FLOAT64, 1, 0},
                                     {"h", BUF_FLOAT64, 1, 0},
                                     {"out", BUF_INT8, 2, 1}};
    PyObject *obj[4];
    buf_t b[4];
    double eps;
    if (!PyArg_ParseTuple(args, "OOOdO", &obj[0], &obj[1], &obj[2], &eps, &obj[3])) return NULL;
    if (bufs_get(obj, specs, 4, b)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t rows = dim(&b[0], 0), d = dim(&b[0], 1);
    if (d > M1_MAX_WIDTH) {
        PyErr_Format(PyExc_ValueError, "r: width %zd is over the kernels' %d", d, M1_MAX_WIDTH);
        goto done;
    }
    if ((dim(&b[1], 0) != d && shape_error("g: length", d, dim(&b[1], 0))) ||
        (dim(&b[2], 0) != d && shape_error("h: length", d, dim(&b[2], 0))) ||
        (dim(&b[3], 0) != rows && shape_error("out: rows", rows, dim(&b[3], 0))) ||
        (dim(&b[3], 1) != d && shape_error("out: width", d, dim(&b[3], 1))))
        goto done;
    const int32_t *r = b[0].view.buf;
    for (Py_ssize_t i = 0; i < rows * d; i++) {
        if (r[i] < -M1_RES_MAX || r[i] > M1_RES_MAX) {
            PyErr_Format(PyExc_ValueError, "r: entry %zd = %d is outside the residual range +-%d", i, r[i],
                         M1_RES_MAX);
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    m1_layernorm(r, (size_t)rows, (size_t)d, b[1].view.buf, b[2].view.buf, eps, b[3].view.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    bufs_release(b, 4);
    return result;
}

PyObject *py_m1_requant(PyObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"acc", BUF_INT32, 2, 0},
                                     {"bias", BUF_FLOAT32, 1, 0},
                                     {"m", BUF_FLOAT32, 1, 0},
                                     {"out", BUF_INT8, 2, 1}};
    PyObject *obj[4];
    buf_t b[4];
    float lo, hi;
    if (!PyArg_ParseTuple(args, "OOOffO", &obj[0], &obj[1], &obj[2], &lo, &hi, &obj[3])) return NULL;
    if (!(-M1_ACT_MAX <= lo && lo <= hi && hi <= M1_ACT_MAX))
        return PyErr_Format(PyExc_ValueError, "lo, hi: need -127 <= lo <= hi <= 127, got %g, %g", lo, hi);
    if (bufs_get(obj, specs, 4, b)) return NULL;
    Py_ssize_t rows = dim(&b[0], 0), n = dim(&b[0], 1);
    if ((dim(&b[1], 0) != n && shape_error("bias: length", n, dim(&b[1], 0))) ||
        (dim(&b[2], 0) != n && shape_error("m: length", n, dim(&b[2], 0))) ||
        (dim(&b[3], 0) != rows && shape_error("out: rows", rows, dim(&b[3], 0))) ||
        (dim(&b[3], 1) != n && shape_error("out: width", n, dim(&b[3], 1)))) {
        bufs_release(b, 4);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    m1_requant(b[0].view.buf, (size_t)rows, (size_t)n, b[1].view.buf, b[2].view.buf, lo, hi, b[3].view.buf);
    Py_END_ALLOW_THREADS
    bufs_release(b, 4);
    Py_RETURN_NONE;
}

PyObject *py_m1_residual(PyObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"r", BUF_INT32, 2, 1},
                                     {"acc", BUF_INT32, 2, 0},
                                     {"bias", BUF_FLOAT32, 1, 0},
                                     {"m", BUF_FLOAT32, 1, 0}};
    PyObject *obj[4];
    buf_t b[4];
    if (!PyArg_ParseTuple(args, "OOOO", &obj[0], &obj[1], &obj[2], &obj[3])) return NULL;
    if (bufs_get(obj, specs, 4, b)) return NULL;
    Py_ssize_t rows = dim(&b[0], 0), d = dim(&b[0], 1);
    if ((dim(&b[1], 0) != rows && shape_error("acc: rows", rows, dim(&b[1], 0))) ||
        (dim(&b[1], 1) != d && shape_error("acc: width", d, dim(&b[1], 1))) ||
        (dim(&b[2], 0) != d && shape_error("bias: length", d, dim(&b[2], 0))) ||
        (dim(&b[3], 0) != d && shape_error("m: length", d, dim(&b[3], 0)))) {
        bufs_release(b, 4);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    m1_residual(b[0].view.buf, b[1].view.buf, (size_t)rows, (size_t)d, b[2].view.buf, b[3].view.buf);
    Py_END_ALLOW_THREADS
    bufs_release(b, 4);
    Py_RETURN_NONE;
}

PyObject *py_m1_attend(PyObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"qkv", BUF_INT8, 2, 0},   {"slot", BUF_INT64, 1, 0},
                                     {"pos", BUF_INT64, 1, 0},     {"k", BUF_INT8, 4, 1},
                                     {"v", BUF_INT8, 4, 1},        {"slopes", BUF_FLOAT32, 1, 0},
                                     {"lut", BUF_INT32, 1, 0},     {"out", BUF_INT8, 2, 1}};
    PyObject *obj[8];
    buf_t b[8];
    float score, v_to_att;
    if (!PyArg_ParseTuple(args, "OOOOOfOfOO", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &score, &obj[5],
                          &v_to_att, &obj[6], &obj[7]))
        return NULL;
    if (bufs_get(obj, specs, 8, b)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t rows = dim(&b[0], 0), H = dim(&b[3], 1), hd = dim(&b[3], 3), d = H * hd;
    for (int i = 0; i < 4; i++) {
        if (dim(&b[4], i) != dim(&b[3], i)) {
            shape_error("v: a dimension of k's shape", dim(&b[3], i), dim(&b[4], i));
            goto done;
        }
    }
    if ((H < 1 || hd < 1) && shape_error("k: heads x head size at least", 1, d)) goto done;
    if ((dim(&b[0], 1) != 3 * d && shape_error("qkv: width (3 x heads x head size)", 3 * d, dim(&b[0], 1))) ||
        (dim(&b[1], 0) != rows && shape_error("slot: length", rows, dim(&b[1], 0))) ||
        (dim(&b[2], 0) != rows && shape_error("pos: length", rows, dim(&b[2], 0))) ||
        (dim(&b[5], 0) != H && shape_error("slopes: length", H, dim(&b[5], 0))) ||
        (dim(&b[7], 0) != rows && shape_error("out: rows", rows, dim(&b[7], 0))) ||
        (dim(&b[7], 1) != d && shape_error("out: width", d, dim(&b[7], 1))) || check_lut(&b[6]))
        goto done;
    m1_attention a = {.n_head = (size_t)H,
                      .head_dim = (size_t)hd,
                      .slots = (size_t)dim(&b[3], 0),
                      .capacity = (size_t)dim(&b[3], 2),
                      .score = score,
                      .slopes = b[5].view.buf,
                      .v_to_att = v_to_att,
                      .lut = b[6].view.buf,
                      .lut_size = (size_t)dim(&b[6], 0)};
    const int64_t *slot = b[1].view.buf, *pos = b[2].view.buf;
    size_t at;
    if (m1_attend_check(&a, (size_t)rows, slot, pos, &at) != RC_OK) {
        PyErr_Format(PyExc_IndexError, "row %zd: slot %lld, position %lld is outside the cache (%zu slots x %zu positions)",
                     (Py_ssize_t)at, (long long)slot[at], (long long)pos[at], a.slots, a.capacity);
        goto done;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    m1_cache_put(&a, b[0].view.buf, (size_t)rows, slot, pos, b[3].view.buf, b[4].view.buf);
    rc = m1_attend(&a, b[0].view.buf, (size_t)rows, slot, pos, b[3].view.buf, b[4].view.buf, b[7].view.buf);
    Py_END_ALLOW_THREADS
    if (rc != RC_OK) {
        raise_rc(rc, "row", 0);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    bufs_release(b, 8);
    return result;
}

PyObject *py_m1_cdfs(PyObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"acc", BUF_INT32, 2, 0},
                                     {"bias", BUF_FLOAT32, 1, 0},
                                     {"m", BUF_FLOAT32, 1, 0},
                                     {"lut", BUF_INT32, 1, 0},
                                     {"out", BUF_INT32, 2, 1}};
    PyObject *obj[5];
    buf_t b[5];
    int precision;
    if (!PyArg_ParseTuple(args, "OOOOiO", &obj[0], &obj[1], &obj[2], &obj[3], &precision, &obj[4]) ||
        check_precision(precision))
        return NULL;
    if (bufs_get(obj, specs, 5, b)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t rows = dim(&b[0], 0), n = dim(&b[0], 1);
    if (!alphabet_ok((size_t)n, precision)) {
        PyErr_Format(PyExc_ValueError, "acc: %zd symbols is not an alphabet size in 2..2^%d", n, precision);
        goto done;
    }
    if ((dim(&b[1], 0) != n && shape_error("bias: length", n, dim(&b[1], 0))) ||
        (dim(&b[2], 0) != n && shape_error("m: length", n, dim(&b[2], 0))) ||
        (dim(&b[4], 0) != rows && shape_error("out: rows", rows, dim(&b[4], 0))) ||
        (dim(&b[4], 1) != n + 1 && shape_error("out: width", n + 1, dim(&b[4], 1))) || check_lut(&b[3]))
        goto done;
    size_t at = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = m1_cdfs(b[0].view.buf, (size_t)rows, (size_t)n, b[1].view.buf, b[2].view.buf, b[3].view.buf,
                 (size_t)dim(&b[3], 0), precision, b[4].view.buf, &at);
    Py_END_ALLOW_THREADS
    if (rc == RC_ERR_PROBS) {
        PyErr_Format(PyExc_ValueError, "acc row %zd: no finite maximum logit (inf or NaN accumulators)",
                     (Py_ssize_t)at);
        goto done;
    }
    if (rc != RC_OK) {
        raise_rc(rc, "row", (Py_ssize_t)at);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    bufs_release(b, 5);
    return result;
}
