/* Equal-Info windows: encode_windows (one window per batch row, its candidate symbols known ahead),
 * and WindowEncoder / WindowDecoder, which code a batch of windows a step at a time for models
 * whose next CDF depends on the symbols before it.  equal_info.c does the coding and all index
 * checks; this file parses arguments and names what the core says is wrong. */
#include "py_coder.h"

#include "equal_info.h"
#include "status.h"

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

static PyObject *raise_row(const buf_t *rows, size_t at, Py_ssize_t table_rows) {
    int32_t row = ((const int32_t *)rows->view.buf)[at];
    return PyErr_Format(PyExc_IndexError, "rows: entry %zd = %d is not a row of the CDF table (0..%zd)",
                        (Py_ssize_t)at, row, table_rows - 1);
}

/* ------------------------------------------------------------------------------------ */
/* encode_windows                                                                         */

PyObject *py_encode_windows(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"table", "rows", "symbols", "lengths", "consumed", "values", "bits", "precision",
                             "terminal", "greedy", NULL};
    static const buf_spec specs[] = {{"table", BUF_INT32, 2, 0},   {"rows", BUF_INT32, 2, 0},
                                     {"symbols", BUF_INT32, 2, 0}, {"lengths", BUF_INT32, 1, 0},
                                     {"consumed", BUF_INT32, 1, 1}, {"values", BUF_UINT8, 2, 1}};
    PyObject *obj[6];
    buf_t b[6];
    int bits, precision, terminal = -1, greedy = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOii|ip", kwlist, &obj[0], &obj[1], &obj[2], &obj[3], &obj[4],
                                     &obj[5], &bits, &precision, &terminal, &greedy))
        return NULL;
    if (bufs_get(obj, specs, 6, b)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t R = dim(&b[0], 0), width = dim(&b[0], 1), B = dim(&b[1], 0), K = dim(&b[1], 1);
    eq_params p;
    if (width < 3 || width - 1 > ((Py_ssize_t)1 << RC_MAX_PRECISION)) {
        PyErr_Format(PyExc_ValueError, "table: rows must hold n+1 CDF entries with 2 <= n <= 65536");
        goto done;
    }
    if (parse_eq_params(&p, bits, precision, (int)width - 1, terminal)) goto done;
    int nb = bits / 8;
    if (dim(&b[2], 0) != B || dim(&b[2], 1) != K || dim(&b[3], 0) != B || dim(&b[4], 0) != B ||
        dim(&b[5], 0) != B || dim(&b[5], 1) != nb) {
        PyErr_Format(PyExc_ValueError, "shapes: rows and symbols (B, K), lengths and consumed (B,), values (B, %d)",
                     nb);
        goto done;
    }
    const int32_t *table = b[0].view.buf, *rows = b[1].view.buf, *symbols = b[2].view.buf, *lengths = b[3].view.buf;
    int32_t *consumed = b[4].view.buf;
    uint8_t *values = b[5].view.buf;
    size_t at;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = eq_encode_windows_batch(&p, table, (size_t)R, rows, symbols, lengths, (size_t)B, (size_t)K, greedy, consumed,
                                 values, &at);
    Py_END_ALLOW_THREADS
    if (rc == RC_ERR_ROW)
        raise_row(&b[1], at, R);
    else if (rc == RC_ERR_LENGTH)
        PyErr_Format(PyExc_ValueError, "lengths[%zd] = %d must be in 1..%zd", (Py_ssize_t)at, lengths[at], K);
    else if (rc != RC_OK)
        raise_rc(rc, "window", (Py_ssize_t)at);
    else
        result = Py_NewRef(Py_None);
done:
    bufs_release(b, 6);
    return result;
}

/* ------------------------------------------------------------------------------------ */
/* What WindowEncoder and WindowDecoder share: a batch of lanes (equal_info.h) and a busy flag  */

typedef struct {
    PyObject_HEAD
    eq_lanes lanes;
    int busy; /* a step is being coded with the GIL released */
} WindowEncoderObject;

typedef struct {
    PyObject_HEAD
    eq_lanes lanes;
    int busy;
} WindowDecoderObject;

static int lanes_init(PyObject *self, eq_lanes *l, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"batch", "bits", "precision", "n", "terminal", NULL};
    Py_ssize_t batch;
    int bits, precision, n, terminal = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "niii|i", kwlist, &batch, &bits, &precision, &n, &terminal))
        return -1;
    if (l->lane) {
        PyErr_Format(PyExc_RuntimeError, "%s already initialised", Py_TYPE(self)->tp_name);
        return -1;
    }
    if (batch < 1 || batch > EQ_MAX_BATCH) {
        PyErr_Format(PyExc_ValueError, "batch must be in 1..2^24, got %zd", batch);
        return -1;
    }
    eq_params p;
    if (parse_eq_params(&p, bits, precision, n, terminal)) return -1;
    int rc = eq_lanes_init(l, &p, (size_t)batch);
    if (rc != RC_OK) {
        raise_rc(rc, "batch", batch); /* only RC_ERR_NOMEM: the parameters were checked above */
        return -1;
    }
    return 0;
}

/* Raises for what a lane batch returned: the index errors name the array entry at fault, the
 * coding errors the slot (the entry of slots) whose window failed. */
static PyObject *raise_lanes(const eq_lanes *l, int rc, size_t at, const buf_t *slots_b, const buf_t *rows_b,
                             Py_ssize_t table_rows) {
    const int32_t *slots = slots_b->view.buf;
    switch (rc) {
    case RC_OK:
        Py_RETURN_NONE;
    case RC_ERR_SLOT:
        return PyErr_Format(PyExc_IndexError, "slots[%zd] = %d outside 0..%zd", (Py_ssize_t)at, slots[at],
                            (Py_ssize_t)l->batch - 1);
    case RC_ERR_ROW:
        return raise_row(rows_b, at, table_rows);
    case RC_ERR_CLOSED:
        return PyErr_Format(PyExc_ValueError, "slots[%zd] = %d: window has ended or was never started",
                            (Py_ssize_t)at, slots[at]);
    default:
        return raise_rc(rc, "slot", (Py_ssize_t)at);
    }
}

/* Before a step: nobody else is stepping; marks the object busy. */
static int step_enter(PyObject *self, int *busy) {
    if (*busy) {
        PyErr_Format(PyExc_RuntimeError, "%s is in use by another thread", Py_TYPE(self)->tp_name);
        return -1;
    }
    *busy = 1;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* WindowEncoder                                                                          */

static int WindowEncoder_init(WindowEncoderObject *self, PyObject *args, PyObject *kw) {
    return lanes_init((PyObject *)self, &self->lanes, args, kw);
}

static void WindowEncoder_dealloc(WindowEncoderObject *self) {
    eq_lanes_free(&self->lanes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *WindowEncoder_start(WindowEncoderObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"slots", BUF_INT32, 1, 0}};
    PyObject *obj[1];
    buf_t b[1];
    if (!PyArg_ParseTuple(args, "O", &obj[0])) return NULL;
    if (!self->lanes.lane) return PyErr_Format(PyExc_RuntimeError, "WindowEncoder not initialised");
    if (bufs_get(obj, specs, 1, b)) return NULL;
    PyObject *result = NULL;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "WindowEncoder is in use by another thread");
    } else {
        size_t at;
        int rc = eq_lanes_encode_start(&self->lanes, b[0].view.buf, (size_t)dim(&b[0], 0), &at);
        result = raise_lanes(&self->lanes, rc, at, &b[0], NULL, 0);
    }
    bufs_release(b, 1);
    return result;
}

static PyObject *WindowEncoder_step(WindowEncoderObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"slots", BUF_INT32, 1, 0},  {"table", BUF_INT32, 2, 0},
                                     {"rows", BUF_INT32, 1, 0},   {"symbols", BUF_INT32, 1, 0},
                                     {"status", BUF_INT32, 1, 1}, {"values", BUF_UINT8, 2, 1},
                                     {"lengths", BUF_INT32, 1, 1}};
    PyObject *obj[7];
    buf_t b[7];
    if (!PyArg_ParseTuple(args, "OOOOOOO", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5], &obj[6]))
        return NULL;
    if (!self->lanes.lane) return PyErr_Format(PyExc_RuntimeError, "WindowEncoder not initialised");
    if (bufs_get(obj, specs, 7, b)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t S = dim(&b[0], 0), width = self->lanes.p.n + 1, table_rows = dim(&b[1], 0);
    int nb = self->lanes.p.bits / 8;
    if (dim(&b[1], 1) != width || dim(&b[2], 0) != S || dim(&b[3], 0) != S || dim(&b[4], 0) != S ||
        dim(&b[5], 0) != S || dim(&b[5], 1) != nb || dim(&b[6], 0) != S) {
        PyErr_Format(PyExc_ValueError,
                     "table must have %zd columns; rows, symbols, status and lengths one entry per slot; values "
                     "(slots, %d)",
                     width, nb);
        goto done;
    }
    if (step_enter((PyObject *)self, &self->busy)) goto done;
    const int32_t *slots = b[0].view.buf, *table = b[1].view.buf, *rows = b[2].view.buf, *symbols = b[3].view.buf;
    int32_t *status = b[4].view.buf, *lengths = b[6].view.buf;
    uint8_t *values = b[5].view.buf;
    size_t at;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = eq_lanes_encode_step(&self->lanes, slots, (size_t)S, table, (size_t)table_rows, rows, symbols, status,
                              values, lengths, &at);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    result = raise_lanes(&self->lanes, rc, at, &b[0], &b[2], table_rows);
done:
    bufs_release(b, 7);
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

PyTypeObject WindowEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "compressor._coder.WindowEncoder",
    .tp_basicsize = sizeof(WindowEncoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "WindowEncoder(batch, bits, precision, n, terminal=-1): encodes Equal-Info windows in lockstep, one "
              "symbol per step (exact rule).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WindowEncoder_init,
    .tp_dealloc = (destructor)WindowEncoder_dealloc,
    .tp_methods = WindowEncoder_methods,
};

/* ------------------------------------------------------------------------------------ */
/* WindowDecoder                                                                          */

static int WindowDecoder_init(WindowDecoderObject *self, PyObject *args, PyObject *kw) {
    return lanes_init((PyObject *)self, &self->lanes, args, kw);
}

static void WindowDecoder_dealloc(WindowDecoderObject *self) {
    eq_lanes_free(&self->lanes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *WindowDecoder_start(WindowDecoderObject *self, PyObject *args) {
    /* The slots are named "rows" in buffer errors, as they always were. */
    static const buf_spec specs[] = {{"rows", BUF_INT32, 1, 0}, {"values", BUF_UINT8, 2, 0}};
    PyObject *obj[2];
    buf_t b[2];
    if (!PyArg_ParseTuple(args, "OO", &obj[0], &obj[1])) return NULL;
    if (!self->lanes.lane) return PyErr_Format(PyExc_RuntimeError, "WindowDecoder not initialised");
    if (bufs_get(obj, specs, 2, b)) return NULL;
    int nb = self->lanes.p.bits / 8;
    PyObject *result = NULL;
    if (dim(&b[1], 0) != dim(&b[0], 0) || dim(&b[1], 1) != nb) {
        PyErr_Format(PyExc_ValueError, "values must have shape (len(rows), %d)", nb);
    } else if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "WindowDecoder is in use by another thread");
    } else {
        size_t at;
        int rc = eq_lanes_decode_start(&self->lanes, b[0].view.buf, (size_t)dim(&b[0], 0), b[1].view.buf, &at);
        result = raise_lanes(&self->lanes, rc, at, &b[0], NULL, 0);
    }
    bufs_release(b, 2);
    return result;
}

static PyObject *WindowDecoder_step(WindowDecoderObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"slots", BUF_INT32, 1, 0},
                                     {"table", BUF_INT32, 2, 0},
                                     {"rows", BUF_INT32, 1, 0},
                                     {"out", BUF_INT32, 1, 1}};
    PyObject *obj[4];
    buf_t b[4];
    if (!PyArg_ParseTuple(args, "OOOO", &obj[0], &obj[1], &obj[2], &obj[3])) return NULL;
    if (!self->lanes.lane) return PyErr_Format(PyExc_RuntimeError, "WindowDecoder not initialised");
    if (bufs_get(obj, specs, 4, b)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t S = dim(&b[0], 0), width = self->lanes.p.n + 1, table_rows = dim(&b[1], 0);
    if (dim(&b[1], 1) != width || dim(&b[2], 0) != S || dim(&b[3], 0) != S) {
        PyErr_Format(PyExc_ValueError, "table must have %zd columns; rows and out one entry per slot", width);
        goto done;
    }
    if (step_enter((PyObject *)self, &self->busy)) goto done;
    const int32_t *slots = b[0].view.buf, *table = b[1].view.buf, *rows = b[2].view.buf;
    int32_t *out = b[3].view.buf;
    size_t at;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = eq_lanes_decode_step(&self->lanes, slots, (size_t)S, table, (size_t)table_rows, rows, out, &at);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    result = raise_lanes(&self->lanes, rc, at, &b[0], &b[2], table_rows);
done:
    bufs_release(b, 4);
    return result;
}

static PyMethodDef WindowDecoder_methods[] = {
    {"start", (PyCFunction)WindowDecoder_start, METH_VARARGS,
     "start(slots, values): begin decoding a window in each of the slots from its b-bit value (big-endian bytes)."},
    {"step", (PyCFunction)WindowDecoder_step, METH_VARARGS,
     "step(slots, table, rows, out): give each slot the CDF table[rows[i]] of its next symbol; out gets it, or -1 if the "
     "window ended before it (after the terminal symbol a window has ended too)."},
    {NULL}};

PyTypeObject WindowDecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "compressor._coder.WindowDecoder",
    .tp_basicsize = sizeof(WindowDecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "WindowDecoder(batch, bits, precision, n, terminal=-1): decodes Equal-Info windows in lockstep.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WindowDecoder_init,
    .tp_dealloc = (destructor)WindowDecoder_dealloc,
    .tp_methods = WindowDecoder_methods,
};
