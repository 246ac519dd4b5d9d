#include "py_buffers.h"

static void buf_release(buf_t *b) {
    if (b->held) PyBuffer_Release(&b->view);
    b->held = 0;
}

/* numpy writes int32 as 'i' or, where long is 32 bits, 'l', and int64 as 'q' or, where long is
 * 64 bits, 'l' (the item size tells them apart); a byte order prefix may come first. */
static int format_is(const char *fmt, char want) {
    if (!fmt) return want == 'B';
    if (*fmt == '@' || *fmt == '=' || *fmt == '<') fmt++;
    if ((want == 'i' || want == 'q') && fmt[0] == 'l' && fmt[1] == '\0') return 1;
    return fmt[0] == want && fmt[1] == '\0';
}

static Py_ssize_t kind_size(buf_kind kind) {
    switch (kind) {
    case BUF_UINT8:
    case BUF_INT8:
        return 1;
    case BUF_INT64:
    case BUF_FLOAT64:
        return 8;
    default:
        return 4;
    }
}

static const char *kind_name(buf_kind kind) {
    switch (kind) {
    case BUF_INT32:
        return "int32";
    case BUF_FLOAT32:
        return "float32";
    case BUF_UINT8:
        return "uint8";
    case BUF_INT8:
        return "int8";
    case BUF_INT64:
        return "int64";
    default:
        return "float64";
    }
}

static int buf_get(PyObject *obj, buf_t *b, const buf_spec *spec) {
    b->held = 0;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (spec->writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) != 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous %sbuffer", spec->name,
                     spec->writable ? "writable " : "");
        return -1;
    }
    b->held = 1;
    if (!format_is(b->view.format, (char)spec->kind) || b->view.itemsize != kind_size(spec->kind)) {
        PyErr_Format(PyExc_TypeError, "%s: expected %s elements, got format '%s'", spec->name, kind_name(spec->kind),
                     b->view.format ? b->view.format : "B");
        buf_release(b);
        return -1;
    }
    if (b->view.ndim != spec->ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected %d dimensions, got %d", spec->name, spec->ndim, b->view.ndim);
        buf_release(b);
        return -1;
    }
    return 0;
}

int bufs_get(PyObject *const *objs, const buf_spec *specs, int count, buf_t *out) {
    for (int i = 0; i < count; i++) {
        if (buf_get(objs[i], &out[i], &specs[i])) {
            bufs_release(out, i);
            return -1;
        }
    }
    return 0;
}

void bufs_release(buf_t *b, int count) {
    while (count > 0) buf_release(&b[--count]);
}
