/* RangeEncoder and RangeDecoder: the range coder's state in a Python object, the batches coded by
 * range_coder.c with the GIL released. */
#include "py_coder.h"
#include "range_coder.h"
#include "status.h"

/* ------------------------------------------------------------------------------------ */
/* RangeEncoder                                                                           */

typedef struct {
    PyObject_HEAD
    rc_encoder enc;
    int precision;
    int busy; /* a batch is being coded with the GIL released */
    uint64_t symbols;
} RangeEncoderObject;

static int encoder_enter(RangeEncoderObject *self) {
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "RangeEncoder is in use by another thread");
        return -1;
    }
    self->busy = 1;
    return 0;
}

static int RangeEncoder_init(RangeEncoderObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"precision", NULL};
    int precision = 14;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|i", kwlist, &precision) || check_precision(precision)) return -1;
    rc_encoder_free(&self->enc);
    rc_encoder_init(&self->enc);
    self->precision = precision;
    self->symbols = 0;
    return 0;
}

static void RangeEncoder_dealloc(RangeEncoderObject *self) {
    rc_encoder_free(&self->enc);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static const buf_spec INTERVAL_ARGS[] = {{"cum", BUF_INT32, 1, 0}, {"freq", BUF_INT32, 1, 0}};
static const buf_spec CDF_ARGS[] = {{"cdfs", BUF_INT32, 2, 0}, {"symbols", BUF_INT32, 1, 0}};
static const buf_spec PROB_ARGS[] = {{"probs", BUF_FLOAT32, 2, 0}, {"symbols", BUF_INT32, 1, 0}};

/* The two arrays of an encode_* call, of one length. */
static int encode_args(PyObject *args, const buf_spec *specs, buf_t *b) {
    PyObject *obj[2];
    if (!PyArg_ParseTuple(args, "OO", &obj[0], &obj[1]) || bufs_get(obj, specs, 2, b)) return -1;
    if (dim(&b[1], 0) != dim(&b[0], 0)) {
        PyErr_Format(PyExc_ValueError, "%s and %s must have the same length (%zd != %zd)", specs[0].name,
                     specs[1].name, dim(&b[0], 0), dim(&b[1], 0));
        bufs_release(b, 2);
        return -1;
    }
    return 0;
}

/* Rows of a distribution over n symbols, then nobody else coding: marks the encoder busy. */
static int encode_enter_rows(RangeEncoderObject *self, buf_t *b, Py_ssize_t n) {
    if (n < 2 || n > ((Py_ssize_t)1 << self->precision)) {
        PyErr_Format(PyExc_ValueError, "alphabet size %zd must be in 2..2^%d", n, self->precision);
    } else if (encoder_enter(self) == 0) {
        return 0;
    }
    bufs_release(b, 2);
    return -1;
}

/* After a batch: what was coded counts (up to the symbol at fault), and errors are raised. */
static PyObject *encode_done(RangeEncoderObject *self, buf_t *b, int rc, size_t at) {
    self->symbols += (uint64_t)at;
    self->busy = 0;
    bufs_release(b, 2);
    if (rc != RC_OK) return raise_rc(rc, "symbol", (Py_ssize_t)at);
    Py_RETURN_NONE;
}

static PyObject *RangeEncoder_encode_intervals(RangeEncoderObject *self, PyObject *args) {
    buf_t b[2];
    if (encode_args(args, INTERVAL_ARGS, b)) return NULL;
    if (encoder_enter(self)) {
        bufs_release(b, 2);
        return NULL;
    }
    const int32_t *cum = b[0].view.buf, *freq = b[1].view.buf;
    size_t count = (size_t)dim(&b[0], 0), at;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rc_encode_intervals(&self->enc, cum, freq, count, self->precision, &at);
    Py_END_ALLOW_THREADS
    return encode_done(self, b, rc, at);
}

static PyObject *RangeEncoder_encode_cdfs(RangeEncoderObject *self, PyObject *args) {
    buf_t b[2];
    if (encode_args(args, CDF_ARGS, b)) return NULL;
    Py_ssize_t n = dim(&b[0], 1) - 1;
    if (encode_enter_rows(self, b, n)) return NULL;
    const int32_t *cdfs = b[0].view.buf, *symbols = b[1].view.buf;
    size_t count = (size_t)dim(&b[0], 0), at;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rc_encode_cdfs(&self->enc, cdfs, symbols, count, (size_t)n, self->precision, &at);
    Py_END_ALLOW_THREADS
    return encode_done(self, b, rc, at);
}

static PyObject *RangeEncoder_encode_probs(RangeEncoderObject *self, PyObject *args) {
    buf_t b[2];
    if (encode_args(args, PROB_ARGS, b)) return NULL;
    Py_ssize_t n = dim(&b[0], 1);
    if (encode_enter_rows(self, b, n)) return NULL;
    const float *probs = b[0].view.buf;
    const int32_t *symbols = b[1].view.buf;
    size_t count = (size_t)dim(&b[0], 0), at;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rc_encode_probs(&self->enc, probs, symbols, count, (size_t)n, self->precision, &at);
    Py_END_ALLOW_THREADS
    return encode_done(self, b, rc, at);
}

static PyObject *RangeEncoder_finish(RangeEncoderObject *self, PyObject *unused) {
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

static PyObject *RangeEncoder_get_bits(RangeEncoderObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(rc_encoder_bits(&self->enc));
}

static PyObject *RangeEncoder_get_symbols(RangeEncoderObject *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->symbols);
}

static PyMethodDef RangeEncoder_methods[] = {
    {"encode_intervals", (PyCFunction)RangeEncoder_encode_intervals, METH_VARARGS,
     "encode_intervals(cum, freq): code symbols given as int32 intervals [cum, cum+freq) of 2^P."},
    {"encode_cdfs", (PyCFunction)RangeEncoder_encode_cdfs, METH_VARARGS,
     "encode_cdfs(cdfs, symbols): code symbols[i] with the int32 CDF row cdfs[i] (n+1 entries)."},
    {"encode_probs", (PyCFunction)RangeEncoder_encode_probs, METH_VARARGS,
     "encode_probs(probs, symbols): quantise float32 rows (as quantize()) and code symbols."},
    {"finish", (PyCFunction)RangeEncoder_finish, METH_NOARGS,
     "finish() -> (bytes, nbits): end the stream with its shortest prefix-free tail; the encoder starts afresh."},
    {NULL}};

static PyGetSetDef RangeEncoder_getset[] = {
    {"bits", (getter)RangeEncoder_get_bits, NULL, "Exact length in bits of the stream if it were finished now.", NULL},
    {"symbols", (getter)RangeEncoder_get_symbols, NULL, "Symbols coded since the last finish().", NULL},
    {NULL}};

PyTypeObject RangeEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "compressor._coder.RangeEncoder",
    .tp_basicsize = sizeof(RangeEncoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RangeEncoder(precision=14): 64-bit range coder over integer intervals of total 2^precision.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)RangeEncoder_init,
    .tp_dealloc = (destructor)RangeEncoder_dealloc,
    .tp_methods = RangeEncoder_methods,
    .tp_getset = RangeEncoder_getset,
};

/* ------------------------------------------------------------------------------------ */
/* RangeDecoder                                                                           */

typedef struct {
    PyObject_HEAD
    rc_decoder dec;
    PyObject *data; /* bytes we own, kept alive for dec.buf */
    int precision;
    int busy;
    int failed; /* the stream turned out invalid: nothing after that point means anything */
} RangeDecoderObject;

static int RangeDecoder_init(RangeDecoderObject *self, PyObject *args, PyObject *kw) {
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

static void RangeDecoder_dealloc(RangeDecoderObject *self) {
    Py_XDECREF(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static const buf_spec CDF_DECODE_ARGS[] = {{"cdfs", BUF_INT32, 2, 0}, {"out", BUF_INT32, 1, 1}};
static const buf_spec PROB_DECODE_ARGS[] = {{"probs", BUF_FLOAT32, 2, 0}, {"out", BUF_INT32, 1, 1}};

/* The rows and out of a decode_* call, once the decoder is known to be usable. */
static int decode_args(RangeDecoderObject *self, PyObject *args, const buf_spec *specs, buf_t *b) {
    PyObject *obj[2];
    if (!PyArg_ParseTuple(args, "OO", &obj[0], &obj[1])) return -1;
    if (!self->data) {
        PyErr_Format(PyExc_RuntimeError, "RangeDecoder not initialised");
        return -1;
    }
    if (self->failed) {
        PyErr_Format(PyExc_ValueError, "RangeDecoder already hit an invalid stream");
        return -1;
    }
    return bufs_get(obj, specs, 2, b);
}

/* One out entry per row, rows of a distribution over n symbols, nobody else decoding: marks
 * the decoder busy. */
static int decode_enter(RangeDecoderObject *self, buf_t *b, Py_ssize_t n) {
    Py_ssize_t count = dim(&b[0], 0);
    if (dim(&b[1], 0) != count || n < 2 || n > ((Py_ssize_t)1 << self->precision)) {
        PyErr_Format(PyExc_ValueError, "out must have %zd entries and the alphabet 2..2^%d symbols", count,
                     self->precision);
    } else if (self->busy) {
        PyErr_Format(PyExc_RuntimeError, "RangeDecoder is in use by another thread");
    } else {
        self->busy = 1;
        return 0;
    }
    bufs_release(b, 2);
    return -1;
}

/* After a batch: a stream found invalid stays so; errors are raised. */
static PyObject *decode_done(RangeDecoderObject *self, buf_t *b, int rc, size_t at) {
    self->busy = 0;
    bufs_release(b, 2);
    if (rc != RC_OK) {
        if (rc == RC_ERR_STREAM) self->failed = 1;
        return raise_rc(rc, "symbol", (Py_ssize_t)at);
    }
    Py_RETURN_NONE;
}

static PyObject *RangeDecoder_decode_cdfs(RangeDecoderObject *self, PyObject *args) {
    buf_t b[2];
    if (decode_args(self, args, CDF_DECODE_ARGS, b)) return NULL;
    Py_ssize_t n = dim(&b[0], 1) - 1;
    if (decode_enter(self, b, n)) return NULL;
    const int32_t *cdfs = b[0].view.buf;
    int32_t *out = b[1].view.buf;
    size_t count = (size_t)dim(&b[0], 0), at;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rc_decode_cdfs(&self->dec, cdfs, out, count, (size_t)n, self->precision, &at);
    Py_END_ALLOW_THREADS
    return decode_done(self, b, rc, at);
}

static PyObject *RangeDecoder_decode_probs(RangeDecoderObject *self, PyObject *args) {
    buf_t b[2];
    if (decode_args(self, args, PROB_DECODE_ARGS, b)) return NULL;
    Py_ssize_t n = dim(&b[0], 1);
    if (decode_enter(self, b, n)) return NULL;
    const float *probs = b[0].view.buf;
    int32_t *out = b[1].view.buf;
    size_t count = (size_t)dim(&b[0], 0), at;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rc_decode_probs(&self->dec, probs, out, count, (size_t)n, self->precision, &at);
    Py_END_ALLOW_THREADS
    return decode_done(self, b, rc, at);
}

static PyMethodDef RangeDecoder_methods[] = {
    {"decode_cdfs", (PyCFunction)RangeDecoder_decode_cdfs, METH_VARARGS,
     "decode_cdfs(cdfs, out): decode one symbol per int32 CDF row into out (int32)."},
    {"decode_probs", (PyCFunction)RangeDecoder_decode_probs, METH_VARARGS,
     "decode_probs(probs, out): decode one symbol per float32 row, quantised as by quantize()."},
    {NULL}};

PyTypeObject RangeDecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "compressor._coder.RangeDecoder",
    .tp_basicsize = sizeof(RangeDecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RangeDecoder(data, precision=14): reads a RangeEncoder stream; bits past the end read as 0.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)RangeDecoder_init,
    .tp_dealloc = (destructor)RangeDecoder_dealloc,
    .tp_methods = RangeDecoder_methods,
};
