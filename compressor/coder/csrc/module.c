/* CPython bindings for the coder: buffers in, buffers out, the GIL released while coding.
 * Every array is checked for type, shape and contiguity before any pointer is touched, and
 * every failure is a Python exception that names the element at fault. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "equal_info.h"
#include "quantize.h"
#include "range_coder.h"
#include "status.h"

/* ------------------------------------------------------------------------------------ */
/* Buffer checking                                                                        */

typedef struct {
    Py_buffer view;
    int held;
} buf_t;

static void buf_release(buf_t *b) {
    if (b->held) PyBuffer_Release(&b->view);
    b->held = 0;
}

static int format_is(const char *fmt, char want) {
    if (!fmt) return want == 'B';
    if (*fmt == '@' || *fmt == '=' || *fmt == '<') fmt++;
    if (want == 'i' && (fmt[0] == 'i' || fmt[0] == 'l') && fmt[1] == '\0') return 1;
    return fmt[0] == want && fmt[1] == '\0';
}

/* Gets a C-contiguous buffer of `ndim` dimensions of `kind` ('i' int32, 'f' float32, 'B' uint8). */
static int buf_get(PyObject *obj, buf_t *b, const char *name, char kind, int ndim, int writable) {
    b->held = 0;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) != 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous %sbuffer", name, writable ? "writable " : "");
        return -1;
    }
    b->held = 1;
    Py_ssize_t itemsize = kind == 'B' ? 1 : 4;
    if (!format_is(b->view.format, kind) || b->view.itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: expected %s elements, got format '%s'", name,
                     kind == 'i' ? "int32" : kind == 'f' ? "float32" : "uint8",
                     b->view.format ? b->view.format : "B");
        buf_release(b);
        return -1;
    }
    if (b->view.ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected %d dimensions, got %d", name, ndim, b->view.ndim);
        buf_release(b);
        return -1;
    }
    return 0;
}

static Py_ssize_t dim(const buf_t *b, int i) { return b->view.shape ? b->view.shape[i] : b->view.len; }

static int check_precision(int precision) {
    if (precision < 1 || precision > 16) {
        PyErr_Format(PyExc_ValueError, "precision must be in 1..16, got %d", precision);
        return -1;
    }
    return 0;
}

static PyObject *raise_rc(int rc, const char *what, Py_ssize_t index) {
    switch (rc) {
    case RC_ERR_NOMEM:
        return PyErr_NoMemory();
    case RC_ERR_INTERVAL:
        PyErr_Format(PyExc_ValueError, "%s %zd: symbol or interval out of range for this alphabet/precision",
                     what, index);
        break;
    case RC_ERR_STREAM:
        PyErr_Format(PyExc_ValueError, "%s %zd: bitstream is not a valid encoding (corrupt or truncated)", what,
                     index);
        break;
    case RC_ERR_CDF:
        PyErr_Format(PyExc_ValueError,
                     "%s %zd: CDF must start at 0, increase strictly (every frequency >= 1) and end at 2^precision",
                     what, index);
        break;
    case RC_ERR_PROBS:
        PyErr_Format(PyExc_ValueError, "%s %zd: probabilities must be finite, non-negative and not all zero", what,
                     index);
        break;
    case RC_ERR_ALPHABET:
        PyErr_Format(PyExc_ValueError, "%s %zd: alphabet size must be in 2..2^precision", what, index);
        break;
    default:
        PyErr_Format(PyExc_RuntimeError, "%s %zd: internal coder error %d", what, index, rc);
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Quantisation                                                                           */

static PyObject *py_quantize(PyObject *self, PyObject *args) {
    PyObject *po, *oo;
    int precision;
    if (!PyArg_ParseTuple(args, "OOi", &po, &oo, &precision) || check_precision(precision)) return NULL;
    buf_t p, o;
    if (buf_get(po, &p, "probs", 'f', 2, 0)) return NULL;
    if (buf_get(oo, &o, "out", 'i', 2, 1)) {
        buf_release(&p);
        return NULL;
    }
    Py_ssize_t rows = dim(&p, 0), n = dim(&p, 1);
    if (dim(&o, 0) != rows || dim(&o, 1) != n + 1) {
        buf_release(&p);
        buf_release(&o);
        return PyErr_Format(PyExc_ValueError, "out must have shape (%zd, %zd)", rows, n + 1);
    }
    if (n > 65536) n = 65537; /* rejected below as an alphabet error */
    const float *pp = p.view.buf;
    int32_t *op = o.view.buf;
    int rc = RC_OK;
    Py_ssize_t r = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; r < rows; r++) {
        rc = quantize_row(pp + r * n, (int)n, precision, op + r * (n + 1));
        if (rc != RC_OK) break;
    }
    Py_END_ALLOW_THREADS
    buf_release(&p);
    buf_release(&o);
    if (rc != RC_OK) return raise_rc(rc, "row", r);
    Py_RETURN_NONE;
}

static PyObject *py_check_cdfs(PyObject *self, PyObject *args) {
    PyObject *co;
    int precision;
    if (!PyArg_ParseTuple(args, "Oi", &co, &precision) || check_precision(precision)) return NULL;
    buf_t c;
    if (buf_get(co, &c, "cdfs", 'i', 2, 0)) return NULL;
    Py_ssize_t rows = dim(&c, 0), width = dim(&c, 1);
    if (width < 3 || width - 1 > ((Py_ssize_t)1 << precision)) {
        buf_release(&c);
        return PyErr_Format(PyExc_ValueError, "cdfs: alphabet size %zd must be in 2..2^precision", width - 1);
    }
    const int32_t *cp = c.view.buf;
    Py_ssize_t r = 0;
    int bad = -1;
    Py_BEGIN_ALLOW_THREADS
    for (; r < rows; r++) {
        bad = cdf_row_check(cp + r * width, (int)width - 1, precision);
        if (bad >= 0) break;
    }
    Py_END_ALLOW_THREADS
    buf_release(&c);
    if (bad >= 0)
        return PyErr_Format(PyExc_ValueError,
                            "cdfs row %zd, entry %d: CDF must start at 0, increase strictly and end at 2^%d", r, bad,
                            precision);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------ */
/* RangeEncoder                                                                           */

typedef struct {
    PyObject_HEAD
    rc_encoder enc;
    int precision;
    int busy;
    uint64_t symbols;
} EncoderObject;

static int encoder_enter(EncoderObject *self) {
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "RangeEncoder is in use by another thread");
        return -1;
    }
    self->busy = 1;
    return 0;
}

static int Encoder_init(EncoderObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"precision", NULL};
    int precision = 14;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|i", kwlist, &precision) || check_precision(precision)) return -1;
    rc_encoder_free(&self->enc);
    rc_encoder_init(&self->enc);
    self->precision = precision;
    self->symbols = 0;
    return 0;
}

static void Encoder_dealloc(EncoderObject *self) {
    rc_encoder_free(&self->enc);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Shared driver: mode 0 intervals (a = cum, b = freq), 1 cdfs (a = cdfs, b = symbols),
 * 2 probs (a = probs, b = symbols). */
static PyObject *encoder_run(EncoderObject *self, PyObject *args, int mode) {
    PyObject *ao, *bo;
    if (!PyArg_ParseTuple(args, "OO", &ao, &bo)) return NULL;
    buf_t a, b;
    static const char *names[3][2] = {{"cum", "freq"}, {"cdfs", "symbols"}, {"probs", "symbols"}};
    if (buf_get(ao, &a, names[mode][0], mode == 2 ? 'f' : 'i', mode == 0 ? 1 : 2, 0)) return NULL;
    if (buf_get(bo, &b, names[mode][1], 'i', 1, 0)) {
        buf_release(&a);
        return NULL;
    }
    Py_ssize_t count = dim(&a, 0), width = mode == 0 ? 1 : dim(&a, 1);
    if (dim(&b, 0) != count) {
        buf_release(&a);
        buf_release(&b);
        return PyErr_Format(PyExc_ValueError, "%s and %s must have the same length (%zd != %zd)", names[mode][0],
                            names[mode][1], count, dim(&b, 0));
    }
    Py_ssize_t n = mode == 1 ? width - 1 : width;
    if (mode != 0 && (n < 2 || n > ((Py_ssize_t)1 << self->precision))) {
        buf_release(&a);
        buf_release(&b);
        return PyErr_Format(PyExc_ValueError, "alphabet size %zd must be in 2..2^%d", n, self->precision);
    }
    if (encoder_enter(self)) {
        buf_release(&a);
        buf_release(&b);
        return NULL;
    }
    int rc = rc_encoder_reserve(&self->enc, (size_t)count * 2 + 16);
    Py_ssize_t i = 0;
    int P = self->precision;
    Py_BEGIN_ALLOW_THREADS
    if (rc == RC_OK) {
        const int32_t *ib = b.view.buf;
        if (mode == 0) {
            const int32_t *cum = a.view.buf;
            for (; i < count; i++) {
                if (cum[i] < 0 || ib[i] <= 0) { rc = RC_ERR_INTERVAL; break; }
                rc = rc_encode(&self->enc, (uint32_t)cum[i], (uint32_t)ib[i], P);
                if (rc != RC_OK) break;
            }
        } else if (mode == 1) {
            const int32_t *cdfs = a.view.buf;
            for (; i < count; i++) {
                int32_t s = ib[i];
                if (s < 0 || s >= n) { rc = RC_ERR_INTERVAL; break; }
                /* Rows are far apart: fetch the entries a few symbols ahead. */
                if (i + 16 < count && (uint32_t)ib[i + 16] < (uint32_t)n)
                    __builtin_prefetch(cdfs + (i + 16) * width + ib[i + 16]);
                const int32_t *row = cdfs + i * width;
                int32_t c0 = row[s], c1 = row[s + 1];
                if (c0 < 0 || c1 <= c0 || c1 > (1 << P)) { rc = RC_ERR_CDF; break; }
                rc = rc_encode(&self->enc, (uint32_t)c0, (uint32_t)(c1 - c0), P);
                if (rc != RC_OK) break;
            }
        } else {
            const float *probs = a.view.buf;
            for (; i < count; i++) {
                uint32_t cum, freq;
                rc = quantize_interval(probs + i * width, (int)n, P, ib[i], &cum, &freq);
                if (rc != RC_OK) break;
                rc = rc_encode(&self->enc, cum, freq, P);
                if (rc != RC_OK) break;
            }
        }
    }
    Py_END_ALLOW_THREADS
    self->symbols += (uint64_t)i;
    self->busy = 0;
    buf_release(&a);
    buf_release(&b);
    if (rc != RC_OK) return raise_rc(rc, "symbol", i);
    Py_RETURN_NONE;
}

static PyObject *Encoder_encode_intervals(EncoderObject *self, PyObject *args) { return encoder_run(self, args, 0); }
static PyObject *Encoder_encode_cdfs(EncoderObject *self, PyObject *args) { return encoder_run(self, args, 1); }
static PyObject *Encoder_encode_probs(EncoderObject *self, PyObject *args) { return encoder_run(self, args, 2); }

static PyObject *Encoder_finish(EncoderObject *self, PyObject *unused) {
    if (encoder_enter(self)) return NULL;
    uint64_t nbits;
    int rc = rc_encoder_finish(&self->enc, &nbits);
    self->busy = 0;
    if (rc != RC_OK) return raise_rc(rc, "finish", 0);
    PyObject *data = PyBytes_FromStringAndSize((const char *)self->enc.buf, (Py_ssize_t)self->enc.len);
    self->enc.len = 0;
    self->symbols = 0;
    if (!data) return NULL;
    return Py_BuildValue("(NK)", data, (unsigned long long)nbits);
}

static PyObject *Encoder_get_bits(EncoderObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(rc_encoder_bits(&self->enc));
}

static PyObject *Encoder_get_symbols(EncoderObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->symbols);
}

static PyMethodDef Encoder_methods[] = {
    {"encode_intervals", (PyCFunction)Encoder_encode_intervals, METH_VARARGS,
     "encode_intervals(cum, freq): code symbols given as int32 intervals [cum, cum+freq) of 2^P."},
    {"encode_cdfs", (PyCFunction)Encoder_encode_cdfs, METH_VARARGS,
     "encode_cdfs(cdfs, symbols): code symbols[i] with the int32 CDF row cdfs[i] (n+1 entries)."},
    {"encode_probs", (PyCFunction)Encoder_encode_probs, METH_VARARGS,
     "encode_probs(probs, symbols): quantise float32 rows (as quantize()) and code symbols."},
    {"finish", (PyCFunction)Encoder_finish, METH_NOARGS,
     "finish() -> (bytes, nbits): end the stream with its shortest prefix-free tail; the encoder starts afresh."},
    {NULL}};

static PyGetSetDef Encoder_getset[] = {
    {"bits", (getter)Encoder_get_bits, NULL, "Exact length in bits of the stream if it were finished now.", NULL},
    {"symbols", (getter)Encoder_get_symbols, NULL, "Symbols coded since the last finish().", NULL},
    {NULL}};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "compressor._coder.RangeEncoder",
    .tp_basicsize = sizeof(EncoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RangeEncoder(precision=14): 64-bit range coder over integer intervals of total 2^precision.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Encoder_init,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
    .tp_getset = Encoder_getset,
};

/* ------------------------------------------------------------------------------------ */
/* RangeDecoder                                                                           */

typedef struct {
    PyObject_HEAD
    rc_decoder dec;
    PyObject *data; /* bytes we own, kept alive for dec.buf */
    int precision;
    int busy;
    int failed;
} DecoderObject;

static int Decoder_init(DecoderObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"data", "precision", NULL};
    PyObject *obj;
    int precision = 14;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i", kwlist, &obj, &precision) || check_precision(precision))
        return -1;
    PyObject *data = PyBytes_FromObject(obj);
    if (!data) return -1;
    Py_XSETREF(self->data, data);
    self->precision = precision;
    self->failed = 0;
    rc_decoder_init(&self->dec, (const uint8_t *)PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
    return 0;
}

static void Decoder_dealloc(DecoderObject *self) {
    Py_XDECREF(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *decoder_run(DecoderObject *self, PyObject *args, int probs) {
    PyObject *ao, *oo;
    if (!PyArg_ParseTuple(args, "OO", &ao, &oo)) return NULL;
    if (!self->data) return PyErr_Format(PyExc_RuntimeError, "RangeDecoder not initialised");
    if (self->failed) return PyErr_Format(PyExc_ValueError, "RangeDecoder already hit an invalid stream");
    buf_t a, o;
    if (buf_get(ao, &a, probs ? "probs" : "cdfs", probs ? 'f' : 'i', 2, 0)) return NULL;
    if (buf_get(oo, &o, "out", 'i', 1, 1)) {
        buf_release(&a);
        return NULL;
    }
    Py_ssize_t count = dim(&a, 0), width = dim(&a, 1), n = probs ? width : width - 1;
    if (dim(&o, 0) != count || n < 2 || n > ((Py_ssize_t)1 << self->precision)) {
        buf_release(&a);
        buf_release(&o);
        return PyErr_Format(PyExc_ValueError, "out must have %zd entries and the alphabet 2..2^%d symbols", count,
                            self->precision);
    }
    if (self->busy) {
        buf_release(&a);
        buf_release(&o);
        return PyErr_Format(PyExc_RuntimeError, "RangeDecoder is in use by another thread");
    }
    self->busy = 1;
    int32_t *out = o.view.buf;
    int P = self->precision, rc = RC_OK;
    Py_ssize_t i = 0;
    uint32_t *scratch = probs ? PyMem_RawMalloc(sizeof(uint32_t) * (size_t)(n + n / 16 + 2)) : NULL;
    if (probs && !scratch) rc = RC_ERR_NOMEM;
    Py_BEGIN_ALLOW_THREADS
    if (rc == RC_OK) {
        if (probs) {
            const float *pp = a.view.buf;
            for (; i < count; i++) {
                uint32_t q, cum, freq;
                int s;
                rc = rc_decode_target(&self->dec, P, &q);
                if (rc != RC_OK) break;
                rc = quantize_search(pp + i * width, (int)n, P, q, scratch, &s, &cum, &freq);
                if (rc != RC_OK) break;
                rc_decode_update(&self->dec, P, cum, freq);
                out[i] = s;
            }
        } else {
            const int32_t *cp = a.view.buf;
            for (; i < count; i++) {
                rc = rc_decode(&self->dec, cp + i * width, (int)n, P, &out[i]);
                if (rc != RC_OK) break;
            }
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(scratch);
    self->busy = 0;
    buf_release(&a);
    buf_release(&o);
    if (rc != RC_OK) {
        if (rc == RC_ERR_STREAM) self->failed = 1;
        return raise_rc(rc, "symbol", i);
    }
    Py_RETURN_NONE;
}

static PyObject *Decoder_decode_cdfs(DecoderObject *self, PyObject *args) { return decoder_run(self, args, 0); }
static PyObject *Decoder_decode_probs(DecoderObject *self, PyObject *args) { return decoder_run(self, args, 1); }

static PyMethodDef Decoder_methods[] = {
    {"decode_cdfs", (PyCFunction)Decoder_decode_cdfs, METH_VARARGS,
     "decode_cdfs(cdfs, out): decode one symbol per int32 CDF row into out (int32)."},
    {"decode_probs", (PyCFunction)Decoder_decode_probs, METH_VARARGS,
     "decode_probs(probs, out): decode one symbol per float32 row, quantised as by quantize()."},
    {NULL}};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "compressor._coder.RangeDecoder",
    .tp_basicsize = sizeof(DecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RangeDecoder(data, precision=14): reads a RangeEncoder stream; bits past the end read as 0.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
};

/* ------------------------------------------------------------------------------------ */
/* Equal-Info windows                                                                     */

static int parse_eq_params(eq_params *p, int bits, int precision, int n, int terminal) {
    p->bits = bits;
    p->precision = precision;
    p->n = n;
    p->terminal = terminal;
    if (eq_params_check(p) != RC_OK) {
        PyErr_Format(PyExc_ValueError,
                     "invalid window parameters: need 1 <= precision <= 16, precision <= bits <= 128, "
                     "2 <= n <= 2^precision, -1 <= terminal < n (got bits=%d precision=%d n=%d terminal=%d)",
                     bits, precision, n, terminal);
        return -1;
    }
    if (bits % 8) {
        PyErr_Format(PyExc_ValueError, "window bits must be a multiple of 8, got %d", bits);
        return -1;
    }
    return 0;
}

static void value_to_bytes(u128 v, uint8_t *out, int nbytes) {
    for (int i = nbytes - 1; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static u128 value_from_bytes(const uint8_t *in, int nbytes) {
    u128 v = 0;
    for (int i = 0; i < nbytes; i++) v = (v << 8) | in[i];
    return v;
}

/* Row indices into a CDF table: every index is checked before any row is read. */
static int rows_in_table(const buf_t *rows, Py_ssize_t table_rows, const char *name) {
    const int32_t *r = rows->view.buf;
    Py_ssize_t count = rows->view.len / 4;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (r[i] < 0 || r[i] >= table_rows) {
            PyErr_Format(PyExc_IndexError, "%s: entry %zd = %d is not a row of the CDF table (0..%zd)", name, i,
                         r[i], table_rows - 1);
            return -1;
        }
    }
    return 0;
}

static PyObject *py_encode_windows(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"table", "rows", "symbols", "lengths", "consumed", "values", "bits", "precision",
                             "terminal", "greedy", NULL};
    PyObject *obj[6];
    int bits, precision, terminal = -1, greedy = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOii|ip", kwlist, &obj[0], &obj[1], &obj[2], &obj[3], &obj[4],
                                     &obj[5], &bits, &precision, &terminal, &greedy))
        return NULL;
    static const char *names[6] = {"table", "rows", "symbols", "lengths", "consumed", "values"};
    static const char kinds[6] = {'i', 'i', 'i', 'i', 'i', 'B'};
    static const int ndims[6] = {2, 2, 2, 1, 1, 2};
    buf_t b[6];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 6; got++)
        if (buf_get(obj[got], &b[got], names[got], kinds[got], ndims[got], got >= 4)) goto done;
    Py_ssize_t R = dim(&b[0], 0), width = dim(&b[0], 1), B = dim(&b[1], 0), K = dim(&b[1], 1);
    eq_params p;
    if (width < 3 || width - 1 > 65536) {
        PyErr_Format(PyExc_ValueError, "table: rows must hold n+1 CDF entries with 2 <= n <= 65536");
        goto done;
    }
    if (parse_eq_params(&p, bits, precision, (int)width - 1, terminal)) goto done;
    int nb = bits / 8;
    if (dim(&b[2], 0) != B || dim(&b[2], 1) != K || dim(&b[3], 0) != B || dim(&b[4], 0) != B ||
        dim(&b[5], 0) != B || dim(&b[5], 1) != nb) {
        PyErr_Format(PyExc_ValueError,
                     "shapes: rows and symbols (B, K), lengths and consumed (B,), values (B, %d)", nb);
        goto done;
    }
    if (rows_in_table(&b[1], R, "rows")) goto done;
    const int32_t *lens = b[3].view.buf;
    for (Py_ssize_t i = 0; i < B; i++) {
        if (lens[i] < 1 || lens[i] > K) {
            PyErr_Format(PyExc_ValueError, "lengths[%zd] = %d must be in 1..%zd", i, lens[i], K);
            goto done;
        }
    }
    eq_scratch scratch;
    if (eq_scratch_init(&scratch, p.n) != RC_OK) {
        PyErr_NoMemory();
        goto done;
    }
    const int32_t *table = b[0].view.buf, *rows = b[1].view.buf, *syms = b[2].view.buf;
    int32_t *consumed = b[4].view.buf;
    uint8_t *values = b[5].view.buf;
    int64_t rc = 0;
    Py_ssize_t i = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; i < B; i++) {
        u128 value = 0;
        rc = eq_encode_window(&p, table, rows + i * K, syms + i * K, lens[i], greedy, &scratch, &value);
        if (rc < 0) break;
        consumed[i] = (int32_t)rc;
        value_to_bytes(value, values + i * nb, nb);
    }
    Py_END_ALLOW_THREADS
    eq_scratch_free(&scratch);
    if (rc < 0) {
        raise_rc((int)rc, "window", i);
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    while (got > 0) buf_release(&b[--got]);
    return result;
}

typedef struct {
    PyObject_HEAD
    eq_params p;
    eq_window_decoder *windows;
    eq_scratch scratch;
    Py_ssize_t batch;
    int busy;
} WindowDecoderObject;

static int WindowDecoder_init(WindowDecoderObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"batch", "bits", "precision", "n", "terminal", NULL};
    Py_ssize_t batch;
    int bits, precision, n, terminal = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "niii|i", kwlist, &batch, &bits, &precision, &n, &terminal))
        return -1;
    if (self->windows) {
        PyErr_Format(PyExc_RuntimeError, "%s already initialised", Py_TYPE(self)->tp_name);
        return -1;
    }
    if (batch < 1 || batch > (1 << 24)) {
        PyErr_Format(PyExc_ValueError, "batch must be in 1..2^24, got %zd", batch);
        return -1;
    }
    if (parse_eq_params(&self->p, bits, precision, n, terminal)) return -1;
    self->windows = PyMem_Calloc((size_t)batch, sizeof(eq_window_decoder));
    if (!self->windows || eq_scratch_init(&self->scratch, n) != RC_OK) {
        PyErr_NoMemory();
        return -1;
    }
    self->batch = batch;
    return 0;
}

static void WindowDecoder_dealloc(WindowDecoderObject *self) {
    if (self->windows) {
        PyMem_Free(self->windows);
        eq_scratch_free(&self->scratch);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int slots_check(WindowDecoderObject *self, const buf_t *r) {
    const int32_t *slots = r->view.buf;
    for (Py_ssize_t i = 0; i < dim(r, 0); i++) {
        if (slots[i] < 0 || slots[i] >= self->batch) {
            PyErr_Format(PyExc_IndexError, "slots[%zd] = %d outside 0..%zd", i, slots[i], self->batch - 1);
            return -1;
        }
    }
    return 0;
}

/* What WindowDecoder.step and WindowEncoder.step check before a batch: the object is not busy,
 * the slots and rows are in range, and every slot's window is open.  On success it marks the
 * object busy; step_finish clears that and turns the loop's status into the result. */
static int step_check(WindowDecoderObject *self, const buf_t *slots_b, const buf_t *table_b, const buf_t *rows_b) {
    if (self->busy) {
        PyErr_Format(PyExc_RuntimeError, "%s is in use by another thread", Py_TYPE(self)->tp_name);
        return -1;
    }
    if (slots_check(self, slots_b) || rows_in_table(rows_b, dim(table_b, 0), "rows")) return -1;
    const int32_t *slots = slots_b->view.buf;
    for (Py_ssize_t j = 0; j < dim(slots_b, 0); j++) {
        if (!self->windows[slots[j]].active) {
            PyErr_Format(PyExc_ValueError, "slots[%zd] = %d: window has ended or was never started", j, slots[j]);
            return -1;
        }
    }
    self->busy = 1;
    return 0;
}

static PyObject *step_finish(WindowDecoderObject *self, int rc, Py_ssize_t i) {
    self->busy = 0;
    if (rc != RC_OK) return raise_rc(rc, "slot", i);
    Py_RETURN_NONE;
}

static PyObject *WindowDecoder_start(WindowDecoderObject *self, PyObject *args) {
    PyObject *ro, *vo;
    if (!PyArg_ParseTuple(args, "OO", &ro, &vo)) return NULL;
    if (!self->windows) return PyErr_Format(PyExc_RuntimeError, "WindowDecoder not initialised");
    buf_t r, v;
    if (buf_get(ro, &r, "rows", 'i', 1, 0)) return NULL;
    if (buf_get(vo, &v, "values", 'B', 2, 0)) {
        buf_release(&r);
        return NULL;
    }
    int nb = self->p.bits / 8;
    PyObject *res = NULL;
    if (dim(&v, 0) != dim(&r, 0) || dim(&v, 1) != nb) {
        PyErr_Format(PyExc_ValueError, "values must have shape (len(rows), %d)", nb);
    } else if (!self->busy && slots_check(self, &r) == 0) {
        const int32_t *rows = r.view.buf;
        const uint8_t *vals = v.view.buf;
        for (Py_ssize_t i = 0; i < dim(&r, 0); i++)
            eq_decoder_start(&self->p, &self->windows[rows[i]], value_from_bytes(vals + i * nb, nb));
        res = Py_None;
        Py_INCREF(res);
    } else if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "WindowDecoder is in use by another thread");
    }
    buf_release(&r);
    buf_release(&v);
    return res;
}

static PyObject *WindowDecoder_step(WindowDecoderObject *self, PyObject *args) {
    PyObject *obj[4];
    if (!PyArg_ParseTuple(args, "OOOO", &obj[0], &obj[1], &obj[2], &obj[3])) return NULL;
    if (!self->windows) return PyErr_Format(PyExc_RuntimeError, "WindowDecoder not initialised");
    static const char *names[4] = {"slots", "table", "rows", "out"};
    static const int ndims[4] = {1, 2, 1, 1};
    buf_t b[4];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 4; got++)
        if (buf_get(obj[got], &b[got], names[got], 'i', ndims[got], got == 3)) goto done;
    Py_ssize_t S = dim(&b[0], 0), width = self->p.n + 1;
    if (dim(&b[1], 1) != width || dim(&b[2], 0) != S || dim(&b[3], 0) != S) {
        PyErr_Format(PyExc_ValueError, "table must have %zd columns; rows and out one entry per slot", width);
        goto done;
    }
    if (step_check(self, &b[0], &b[1], &b[2])) goto done;
    const int32_t *slots = b[0].view.buf, *table = b[1].view.buf, *rows = b[2].view.buf;
    int32_t *out = b[3].view.buf;
    int rc = RC_OK;
    Py_ssize_t i = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; i < S; i++) {
        rc = eq_decoder_step(&self->p, &self->windows[slots[i]], table + (Py_ssize_t)rows[i] * width,
                             &self->scratch, &out[i]);
        if (rc != RC_OK) break;
    }
    Py_END_ALLOW_THREADS
    result = step_finish(self, rc, i);
done:
    while (got > 0) buf_release(&b[--got]);
    return result;
}

static PyMethodDef WindowDecoder_methods[] = {
    {"start", (PyCFunction)WindowDecoder_start, METH_VARARGS,
     "start(slots, values): begin decoding a window in each of the slots from its b-bit value (big-endian bytes)."},
    {"step", (PyCFunction)WindowDecoder_step, METH_VARARGS,
     "step(slots, table, rows, out): give each slot the CDF table[rows[i]] of its next symbol; out gets it, or -1 if the "
     "window ended before it (after the terminal symbol a window has ended too)."},
    {NULL}};

static PyTypeObject WindowDecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "compressor._coder.WindowDecoder",
    .tp_basicsize = sizeof(WindowDecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "WindowDecoder(batch, bits, precision, n, terminal=-1): decodes Equal-Info windows in lockstep.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WindowDecoder_init,
    .tp_dealloc = (destructor)WindowDecoder_dealloc,
    .tp_methods = WindowDecoder_methods,
};

/* WindowEncoder: the exact window rule one symbol per step, for models whose next CDF depends on
 * where the previous symbol went (the encoder then needs no candidate symbols ahead).  It shares
 * the decoder's object layout: per slot, a window's state and whether it is open. */

static PyObject *WindowEncoder_start(WindowDecoderObject *self, PyObject *args) {
    PyObject *ro;
    if (!PyArg_ParseTuple(args, "O", &ro)) return NULL;
    if (!self->windows) return PyErr_Format(PyExc_RuntimeError, "WindowEncoder not initialised");
    buf_t r;
    if (buf_get(ro, &r, "slots", 'i', 1, 0)) return NULL;
    PyObject *res = NULL;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "WindowEncoder is in use by another thread");
    } else if (slots_check(self, &r) == 0) {
        const int32_t *slots = r.view.buf;
        for (Py_ssize_t i = 0; i < dim(&r, 0); i++) {
            eq_window_decoder *w = &self->windows[slots[i]];
            eq_encode_start(&self->p, &w->w);
            w->active = 1;
        }
        res = Py_None;
        Py_INCREF(res);
    }
    buf_release(&r);
    return res;
}

static PyObject *WindowEncoder_step(WindowDecoderObject *self, PyObject *args) {
    PyObject *obj[7];
    if (!PyArg_ParseTuple(args, "OOOOOOO", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5], &obj[6]))
        return NULL;
    if (!self->windows) return PyErr_Format(PyExc_RuntimeError, "WindowEncoder not initialised");
    static const char *names[7] = {"slots", "table", "rows", "symbols", "status", "values", "lengths"};
    static const char kinds[7] = {'i', 'i', 'i', 'i', 'i', 'B', 'i'};
    static const int ndims[7] = {1, 2, 1, 1, 1, 2, 1};
    buf_t b[7];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 7; got++)
        if (buf_get(obj[got], &b[got], names[got], kinds[got], ndims[got], got >= 4)) goto done;
    Py_ssize_t S = dim(&b[0], 0), width = self->p.n + 1;
    int nb = self->p.bits / 8;
    if (dim(&b[1], 1) != width || dim(&b[2], 0) != S || dim(&b[3], 0) != S || dim(&b[4], 0) != S ||
        dim(&b[5], 0) != S || dim(&b[5], 1) != nb || dim(&b[6], 0) != S) {
        PyErr_Format(PyExc_ValueError,
                     "table must have %zd columns; rows, symbols, status and lengths one entry per slot; values "
                     "(slots, %d)",
                     width, nb);
        goto done;
    }
    if (step_check(self, &b[0], &b[1], &b[2])) goto done;
    const int32_t *slots = b[0].view.buf, *table = b[1].view.buf, *rows = b[2].view.buf, *syms = b[3].view.buf;
    int32_t *status = b[4].view.buf, *lengths = b[6].view.buf;
    uint8_t *values = b[5].view.buf;
    int rc = RC_OK;
    Py_ssize_t i = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; i < S; i++) {
        eq_window_decoder *w = &self->windows[slots[i]];
        u128 value = 0;
        int64_t length = 0;
        rc = eq_encode_step(&self->p, &w->w, table + (Py_ssize_t)rows[i] * width, syms[i], &self->scratch, &value,
                            &length);
        if (rc < 0) break;
        status[i] = rc;
        if (rc != EQ_STEP_CODED) {
            w->active = 0;
            value_to_bytes(value, values + i * nb, nb);
            lengths[i] = length > INT32_MAX ? INT32_MAX : (int32_t)length;
        }
        rc = RC_OK;
    }
    Py_END_ALLOW_THREADS
    result = step_finish(self, rc, i);
done:
    while (got > 0) buf_release(&b[--got]);
    return result;
}

static PyMethodDef WindowEncoder_methods[] = {
    {"start", (PyCFunction)WindowEncoder_start, METH_VARARGS, "start(slots): open a fresh window in each slot."},
    {"step", (PyCFunction)WindowEncoder_step, METH_VARARGS,
     "step(slots, table, rows, symbols, status, values, lengths): code symbols[i] in its slot's window with the "
     "CDF table[rows[i]]; status[i] = 0 coded, 1 the window ended before it, 2 it was the terminal and ended the "
     "window.  When a window ends, values[i] gets its bits and lengths[i] the symbols it holds: the symbols after "
     "them (with a status of 1, symbols[i] and possibly some before it) start the next window."},
    {NULL}};

static PyTypeObject WindowEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "compressor._coder.WindowEncoder",
    .tp_basicsize = sizeof(WindowDecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "WindowEncoder(batch, bits, precision, n, terminal=-1): encodes Equal-Info windows in lockstep, one "
              "symbol per step (exact rule).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WindowDecoder_init,
    .tp_dealloc = (destructor)WindowDecoder_dealloc,
    .tp_methods = WindowEncoder_methods,
};

/* ------------------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"quantize", py_quantize, METH_VARARGS,
     "quantize(probs, out, precision): float32 rows (B, n) -> int32 CDFs (B, n+1), total 2^precision."},
    {"check_cdfs", py_check_cdfs, METH_VARARGS, "check_cdfs(cdfs, precision): raise ValueError on a bad row."},
    {"encode_windows", (PyCFunction)(void (*)(void))py_encode_windows, METH_VARARGS | METH_KEYWORDS,
     "encode_windows(table, rows, symbols, lengths, consumed, values, bits, precision, terminal=-1,\n"
     "greedy=False): encode one Equal-Info window per batch row, symbol j coded with table[rows[i, j]]; consumed[i] = symbols in the window, 0 if it could go on."},
    {NULL}};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_coder",
                                       "Exact arithmetic coding and Equal-Info windows in C.", -1, module_methods};

PyMODINIT_FUNC PyInit__coder(void) {
    if (PyType_Ready(&EncoderType) < 0 || PyType_Ready(&DecoderType) < 0 || PyType_Ready(&WindowDecoderType) < 0 ||
        PyType_Ready(&WindowEncoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&EncoderType);
    Py_INCREF(&DecoderType);
    Py_INCREF(&WindowDecoderType);
    Py_INCREF(&WindowEncoderType);
    if (PyModule_AddObject(m, "RangeEncoder", (PyObject *)&EncoderType) < 0 ||
        PyModule_AddObject(m, "RangeDecoder", (PyObject *)&DecoderType) < 0 ||
        PyModule_AddObject(m, "WindowDecoder", (PyObject *)&WindowDecoderType) < 0 ||
        PyModule_AddObject(m, "WindowEncoder", (PyObject *)&WindowEncoderType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_WINDOW_BITS", EQ_MAX_BITS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
