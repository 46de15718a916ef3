/* The fused sparse residual of the Leontief iteration (glasnost.compute.linear).
 *
 * residual(indptr, indices, data, x, r, w, out, sums, threads)
 *
 *     out[i]  = r[i] - x[i] + sum_p data[p] * x[indices[p]]
 *               for the rows i of a square CSR matrix, p in indptr[i] .. indptr[i + 1]
 *     sums[0] = sum_i out[i]^2
 *     sums[1] = sum_i w[i] * out[i]    (0 when w is empty)
 *
 * One pass over the matrix and the vectors does what would otherwise be a product, a
 * subtraction and two dot products. data, x, r, w and out are all float32 or all float64;
 * indptr and indices are int32. The Python caller checks shapes and dtypes; scipy's CSR
 * format checks keep indices within bounds.
 * Each row is summed in double precision, also for float32 values: rows of heavily used
 * products hold thousands of entries, and a float32 sum of them can be off by 5e-6 of its
 * value, more than the float32 sweeps of the iteration must resolve (2e-6). The loop runs
 * without the GIL on ``threads`` OpenMP threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* Rows are taken in chunks of CHUNK, handed out to threads as they come free (rows that read
 * scattered entries of x take longer than rows of the same length that do not). Each chunk's
 * sums are kept apart and added in chunk order, so the result does not depend on which thread
 * took which chunk. */
#define CHUNK 2048

#define DEFINE_RESIDUAL(NAME, T)                                                           \
    static void NAME(Py_ssize_t m, const int32_t *restrict indptr,                         \
                     const int32_t *restrict indices, const T *restrict data,              \
                     const T *restrict x, const T *restrict r, const T *restrict w,        \
                     T *restrict out, double *restrict part, int threads) {                \
        const Py_ssize_t chunks = (m + CHUNK - 1) / CHUNK;                                 \
        _Pragma("omp parallel for num_threads(threads) schedule(dynamic, 1)")              \
        for (Py_ssize_t q = 0; q < chunks; q++) {                                          \
            double sq = 0, wo = 0;                                                         \
            const Py_ssize_t end = (q + 1) * CHUNK < m ? (q + 1) * CHUNK : m;              \
            for (Py_ssize_t i = q * CHUNK; i < end; i++) {                                 \
                double acc = (double)r[i] - (double)x[i];                                  \
                for (int32_t p = indptr[i]; p < indptr[i + 1]; p++)                        \
                    acc += (double)data[p] * (double)x[indices[p]];                        \
                const T o = (T)acc;                                                        \
                out[i] = o;                                                                \
                sq += (double)o * o;                                                       \
                if (w) wo += (double)w[i] * o;                                             \
            }                                                                              \
            part[2 * q] = sq;                                                              \
            part[2 * q + 1] = wo;                                                          \
        }                                                                                  \
    }

DEFINE_RESIDUAL(residual_f32, float)
DEFINE_RESIDUAL(residual_f64, double)

static PyObject *residual(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, data, x, r, w, out, sums;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*w*i", &indptr, &indices, &data, &x, &r, &w, &out,
                          &sums, &threads))
        return NULL;
    PyObject *result = NULL;
    double *part = NULL;
    const Py_ssize_t m = indptr.len / (Py_ssize_t)sizeof(int32_t) - 1;
    const Py_ssize_t item = data.itemsize;
    if (threads < 1 || m < 0 || indptr.itemsize != 4 || indices.itemsize != 4 ||
        (item != 4 && item != 8) || x.itemsize != item || r.itemsize != item ||
        w.itemsize != item || out.itemsize != item || x.len != m * item || r.len != m * item ||
        out.len != m * item ||
        (w.len != 0 && w.len != m * item) ||
        sums.len < 2 * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "residual: inconsistent buffer sizes or types");
        goto done;
    }
    const Py_ssize_t chunks = (m + CHUNK - 1) / CHUNK;
    part = PyMem_RawCalloc(chunks > 0 ? (size_t)chunks * 2 : 1, sizeof(double));
    if (part == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const void *wbuf = w.len ? w.buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (item == 4)
        residual_f32(m, indptr.buf, indices.buf, data.buf, x.buf, r.buf, wbuf, out.buf, part,
                     threads);
    else
        residual_f64(m, indptr.buf, indices.buf, data.buf, x.buf, r.buf, wbuf, out.buf, part,
                     threads);
    Py_END_ALLOW_THREADS
    double *s = sums.buf;
    s[0] = s[1] = 0.0;
    for (Py_ssize_t q = 0; q < chunks; q++) {
        s[0] += part[2 * q];
        s[1] += part[2 * q + 1];
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(part);
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&x);
    PyBuffer_Release(&r);
    PyBuffer_Release(&w);
    PyBuffer_Release(&out);
    PyBuffer_Release(&sums);
    return result;
}

static PyMethodDef methods[] = {
    {"residual", residual, METH_VARARGS,
     "residual(indptr, indices, data, x, r, w, out, sums, threads): the fused CSR residual "
     "out = r - x + M x with ||out||^2 and w @ out; see the module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "The fused sparse residual of glasnost.compute.linear.",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
