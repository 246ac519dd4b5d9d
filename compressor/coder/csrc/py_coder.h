/* What the binding files (py_*.c) share: the error mapping, the types and the module functions
 * that module.c puts in the module.  Include it first: it brings Python.h, which must come before
 * any system header. */
#ifndef EQINFO_PY_CODER_H
#define EQINFO_PY_CODER_H

#include "py_buffers.h"

/* Raises the exception for a core status code; `what` and `index` name the element at fault
 * ("symbol 3: ...").  Returns NULL. */
PyObject *raise_rc(int rc, const char *what, Py_ssize_t index);
/* ValueError unless 1 <= precision <= 16; returns -1 then. */
int check_precision(int precision);

/* py_quantize.c */
PyObject *py_quantize(PyObject *self, PyObject *args);
PyObject *py_check_cdfs(PyObject *self, PyObject *args);

/* py_range.c */
extern PyTypeObject RangeEncoderType;
extern PyTypeObject RangeDecoderType;

/* py_windows.c */
extern PyTypeObject WindowEncoderType;
extern PyTypeObject WindowDecoderType;
PyObject *py_encode_windows(PyObject *self, PyObject *args, PyObject *kw);

/* py_m1.c */
PyObject *py_m1_layernorm(PyObject *self, PyObject *args);
PyObject *py_m1_requant(PyObject *self, PyObject *args);
PyObject *py_m1_residual(PyObject *self, PyObject *args);
PyObject *py_m1_attend(PyObject *self, PyObject *args);
PyObject *py_m1_cdfs(PyObject *self, PyObject *args);

#endif
