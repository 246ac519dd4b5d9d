/* Core status codes -> Python exceptions.  The codes that need the caller's arrays to say what was
 * wrong (rows, slots, lengths) are raised where those arrays are. */
#include "py_coder.h"
#include "status.h"

int check_precision(int precision) {
    if (precision < 1 || precision > RC_MAX_PRECISION) {
        PyErr_Format(PyExc_ValueError, "precision must be in 1..16, got %d", precision);
        return -1;
    }
    return 0;
}

PyObject *raise_rc(int rc, const char *what, Py_ssize_t index) {
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
