/* quantize() and check_cdfs(): float rows -> integer CDFs, and the CDF check, row by row. */
#include "py_coder.h"
#include "quantize.h"
#include "status.h"

PyObject *py_quantize(PyObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"probs", BUF_FLOAT32, 2, 0}, {"out", BUF_INT32, 2, 1}};
    PyObject *obj[2];
    buf_t b[2];
    int precision;
    if (!PyArg_ParseTuple(args, "OOi", &obj[0], &obj[1], &precision) || check_precision(precision)) return NULL;
    if (bufs_get(obj, specs, 2, b)) return NULL;
    Py_ssize_t rows = dim(&b[0], 0), n = dim(&b[0], 1);
    if (dim(&b[1], 0) != rows || dim(&b[1], 1) != n + 1) {
        bufs_release(b, 2);
        return PyErr_Format(PyExc_ValueError, "out must have shape (%zd, %zd)", rows, n + 1);
    }
    const float *probs = b[0].view.buf;
    int32_t *out = b[1].view.buf;
    size_t at;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = quantize_rows(probs, (size_t)rows, (size_t)n, precision, out, &at);
    Py_END_ALLOW_THREADS
    bufs_release(b, 2);
    if (rc != RC_OK) return raise_rc(rc, "row", (Py_ssize_t)at);
    Py_RETURN_NONE;
}

PyObject *py_check_cdfs(PyObject *self, PyObject *args) {
    static const buf_spec specs[] = {{"cdfs", BUF_INT32, 2, 0}};
    PyObject *obj[1];
    buf_t b[1];
    int precision;
    if (!PyArg_ParseTuple(args, "Oi", &obj[0], &precision) || check_precision(precision)) return NULL;
    if (bufs_get(obj, specs, 1, b)) return NULL;
    Py_ssize_t rows = dim(&b[0], 0), width = dim(&b[0], 1);
    const int32_t *cdfs = b[0].view.buf;
    size_t at;
    int rc, entry;
    Py_BEGIN_ALLOW_THREADS
    rc = cdf_rows_check(cdfs, (size_t)rows, (size_t)width, precision, &at, &entry);
    Py_END_ALLOW_THREADS
    bufs_release(b, 1);
    if (rc == RC_ERR_ALPHABET)
        return PyErr_Format(PyExc_ValueError, "cdfs: alphabet size %zd must be in 2..2^precision", width - 1);
    if (rc == RC_ERR_CDF)
        return PyErr_Format(PyExc_ValueError,
                            "cdfs row %zd, entry %d: CDF must start at 0, increase strictly and end at 2^%d",
                            (Py_ssize_t)at, entry, precision);
    if (rc != RC_OK) return raise_rc(rc, "row", (Py_ssize_t)at);
    Py_RETURN_NONE;
}
