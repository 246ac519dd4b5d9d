/* Buffer arguments of the bindings, described by a table instead of checked by hand: each
 * argument's name, element kind, dimensions and writability.  Every array is checked for type,
 * shape and contiguity before any pointer is touched. */
#ifndef EQINFO_PY_BUFFERS_H
#define EQINFO_PY_BUFFERS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    Py_buffer view;
    int held;
} buf_t;

typedef enum {
    BUF_INT32 = 'i',
    BUF_FLOAT32 = 'f',
    BUF_UINT8 = 'B',
    BUF_INT8 = 'b',
    BUF_INT64 = 'q',
    BUF_FLOAT64 = 'd'
} buf_kind;

typedef struct {
    const char *name; /* as the error messages name the argument */
    buf_kind kind;
    int ndim;
    int writable;
} buf_spec;

/* Gets objs[i] as specs[i] describes, for i < count, in order: on failure raises (TypeError for
 * a wrong or non-contiguous buffer or element type, ValueError for the dimensions), releases
 * what it got and returns -1. */
int bufs_get(PyObject *const *objs, const buf_spec *specs, int count, buf_t *out);
void bufs_release(buf_t *b, int count);

/* Length of dimension i. */
static inline Py_ssize_t dim(const buf_t *b, int i) { return b->view.shape ? b->view.shape[i] : b->view.len; }

#endif
