/* The _coder module: its functions, types and constant, with multi-phase initialisation.  The
 * bindings live in py_*.c, the work itself in the plain C core (range_coder.c, quantize.c,
 * equal_info.c, and M1's exact step in m1_step.c), which the fuzz harness in fuzz/ drives
 * without Python. */
#include "py_coder.h"

#include "equal_info.h"

static PyMethodDef module_methods[] = {
    {"quantize", py_quantize, METH_VARARGS,
     "quantize(probs, out, precision): float32 rows (B, n) -> int32 CDFs (B, n+1), total 2^precision."},
    {"check_cdfs", py_check_cdfs, METH_VARARGS, "check_cdfs(cdfs, precision): raise ValueError on a bad row."},
    {"encode_windows", (PyCFunction)(void (*)(void))py_encode_windows, METH_VARARGS | METH_KEYWORDS,
     "encode_windows(table, rows, symbols, lengths, consumed, values, bits, precision, terminal=-1,\n"
     "greedy=False): encode one Equal-Info window per batch row, symbol j coded with table[rows[i, j]]; consumed[i] = symbols in the window, 0 if it could go on."},
    {"m1_layernorm", py_m1_layernorm, METH_VARARGS,
     "m1_layernorm(r, g, h, eps, out): M1's integer LayerNorm, int32 residual rows -> int8."},
    {"m1_requant", py_m1_requant, METH_VARARGS,
     "m1_requant(acc, bias, m, lo, hi, out): int32 accumulators -> int8 clamp(round((acc + bias) * m), lo, hi)."},
    {"m1_residual", py_m1_residual, METH_VARARGS,
     "m1_residual(r, acc, bias, m): adds a block's requantised output to the int32 residual rows."},
    {"m1_attend", py_m1_attend, METH_VARARGS,
     "m1_attend(qkv, slot, pos, k, v, score, slopes, v_to_att, lut, out): stores each row's key and value in\n"
     "the cache at (slot, pos), then attends to positions 0..pos of its slot."},
    {"m1_cdfs", py_m1_cdfs, METH_VARARGS,
     "m1_cdfs(acc, bias, m, lut, precision, out): the head's accumulators -> int32 CDFs (rows, n+1)."},
    {NULL}};

/* PyModule_AddType takes its own reference and readies the type, so a failure leaks nothing:
 * the half-built module is dropped by the import machinery. */
static int coder_exec(PyObject *m) {
    if (PyModule_AddType(m, &RangeEncoderType) < 0 || PyModule_AddType(m, &RangeDecoderType) < 0 ||
        PyModule_AddType(m, &WindowDecoderType) < 0 || PyModule_AddType(m, &WindowEncoderType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_WINDOW_BITS", EQ_MAX_BITS) < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot coder_slots[] = {{Py_mod_exec, coder_exec}, {0, NULL}};

static struct PyModuleDef coder_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_coder",
    .m_doc = "Exact arithmetic coding, Equal-Info windows and M1's exact integer step in C.",
    .m_size = 0, /* no per-module state: the types are static and hold no module references */
    .m_methods = module_methods,
    .m_slots = coder_slots,
};

PyMODINIT_FUNC PyInit__coder(void) { return PyModuleDef_Init(&coder_module); }
