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

/* The transposed principal submatrix of the solver's set-up (glasnost.compute.peel).
 *
 * submatrix_t_count(indptr, indices, rows, position, counts)
 * submatrix_t_fill(indptr, indices, data, rows, position, next, out_indices, out_data)
 *
 * For the rows rows[r] of a CSR matrix (int32 indptr and indices, float64 data) and a map
 * position[column] (int64, -1 where the column is dropped), the first call counts the kept
 * entries per new column into counts (int64); with next = the start of each new column's
 * entries (an exclusive cumulative sum of counts, int64), the second writes r and the value
 * of every kept entry there. Rows are visited in order, so each new row of the transpose
 * comes out with sorted columns: one counting pass instead of a gather, a sort and a copy.
 * The caller checks that indices lie within position and rows within indptr.
 */
static int submatrix_buffers_ok(Py_buffer *indptr, Py_buffer *indices, Py_buffer *rows,
                                Py_buffer *position) {
    return indptr->itemsize == 4 && indices->itemsize == 4 && rows->itemsize == 8 &&
           position->itemsize == 8;
}

static PyObject *submatrix_t_count(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, rows, position, counts;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &indptr, &indices, &rows, &position, &counts))
        return NULL;
    PyObject *result = NULL;
    if (!submatrix_buffers_ok(&indptr, &indices, &rows, &position) || counts.itemsize != 8 ||
        counts.len != position.len) {
        PyErr_SetString(PyExc_ValueError, "submatrix_t_count: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf;
    const int64_t *rw = rows.buf, *pos = position.buf;
    int64_t *cnt = counts.buf;
    const Py_ssize_t nr = rows.len / 8;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < nr; r++)
        for (int32_t p = ip[rw[r]]; p < ip[rw[r] + 1]; p++) {
            const int64_t c = pos[ix[p]];
            if (c >= 0) cnt[c]++;
        }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&position);
    PyBuffer_Release(&counts);
    return result;
}

static PyObject *submatrix_t_fill(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, data, rows, position, next, out_indices, out_data;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*w*w*", &indptr, &indices, &data, &rows, &position,
                          &next, &out_indices, &out_data))
        return NULL;
    PyObject *result = NULL;
    if (!submatrix_buffers_ok(&indptr, &indices, &rows, &position) || data.itemsize != 8 ||
        next.itemsize != 8 || next.len != position.len || out_indices.itemsize != 4 ||
        out_data.itemsize != 8 || out_data.len != 2 * out_indices.len) {
        PyErr_SetString(PyExc_ValueError, "submatrix_t_fill: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf;
    const double *dt = data.buf;
    const int64_t *rw = rows.buf, *pos = position.buf;
    int64_t *nx = next.buf;
    int32_t *oi = out_indices.buf;
    double *od = out_data.buf;
    const Py_ssize_t nr = rows.len / 8, total = out_indices.len / 4;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < nr && !overflow; r++)
        for (int32_t p = ip[rw[r]]; p < ip[rw[r] + 1]; p++) {
            const int64_t c = pos[ix[p]];
            if (c < 0) continue;
            const int64_t k = nx[c]++;
            if (k >= total) {
                overflow = 1;
                break;
            }
            oi[k] = (int32_t)r;
            od[k] = dt[p];
        }
    Py_END_ALLOW_THREADS
    if (overflow) {
        PyErr_SetString(PyExc_ValueError, "submatrix_t_fill: counts do not match the entries");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&position);
    PyBuffer_Release(&next);
    PyBuffer_Release(&out_indices);
    PyBuffer_Release(&out_data);
    return result;
}

/* The off-diagonal part of a square CSR matrix (glasnost.compute.peel.off_diagonal).
 *
 * off_diagonal(indptr, indices, data, out_indptr, out_indices, out_data) -> kept
 *
 * Copies every entry that is neither on the diagonal nor a stored zero, row by row in the
 * stored order (int32 indptr and indices, float64 data; out arrays as long as the input's),
 * writes the row pointer of the result into out_indptr and returns how many were kept: one
 * sequential pass instead of numpy's mask, gathers and count.
 */
static PyObject *off_diagonal(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, data, out_indptr, out_indices, out_data;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*w*", &indptr, &indices, &data, &out_indptr, &out_indices,
                          &out_data))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = indptr.len / 4 - 1, nnz = indices.len / 4;
    if (indptr.itemsize != 4 || indices.itemsize != 4 || data.itemsize != 8 || n < 0 ||
        data.len != 8 * nnz || out_indptr.itemsize != 4 || out_indptr.len != indptr.len ||
        out_indices.itemsize != 4 || out_indices.len < indices.len || out_data.itemsize != 8 ||
        out_data.len < data.len || ((const int32_t *)indptr.buf)[n] > nnz) {
        PyErr_SetString(PyExc_ValueError, "off_diagonal: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf;
    const double *dt = data.buf;
    int32_t *op = out_indptr.buf, *oi = out_indices.buf;
    double *od = out_data.buf;
    int32_t k = 0;
    Py_BEGIN_ALLOW_THREADS
    op[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        for (int32_t p = ip[i]; p < ip[i + 1]; p++) {
            if (ix[p] == i || dt[p] == 0.0) continue;
            oi[k] = ix[p];
            od[k] = dt[p];
            k++;
        }
        op[i + 1] = k;
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromLong((long)k);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&out_indptr);
    PyBuffer_Release(&out_indices);
    PyBuffer_Release(&out_data);
    return result;
}

/* A plain CSR product on threads (glasnost.compute.linear.csr_product).
 *
 * product(indptr, indices, data, x, out, threads)
 *
 *     out[i] = sum_p data[p] * x[indices[p]], summed from 0 in the stored order of row i
 *
 * float64 values and vectors, int32 indptr and indices. Each row is summed exactly as scipy's
 * csr_matvec sums it, so the result is scipy's product bit for bit, on ``threads`` OpenMP
 * threads without the GIL. The caller checks shapes; scipy's CSR checks keep indices within
 * bounds.
 */
static PyObject *product(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, data, x, out;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*i", &indptr, &indices, &data, &x, &out, &threads))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t m = indptr.len / 4 - 1;
    if (indptr.itemsize != 4 || indices.itemsize != 4 || data.itemsize != 8 || x.itemsize != 8 ||
        out.itemsize != 8 || m < 0 || out.len != 8 * m || data.len != 2 * indices.len ||
        ((const int32_t *)indptr.buf)[m] > indices.len / 4) {
        PyErr_SetString(PyExc_ValueError, "product: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf;
    const double *dt = data.buf, *xv = x.buf;
    double *ov = out.buf;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(dynamic, CHUNK)")
    for (Py_ssize_t i = 0; i < m; i++) {
        double acc = 0.0;
        for (int32_t p = ip[i]; p < ip[i + 1]; p++) acc += dt[p] * xv[ix[p]];
        ov[i] = acc;
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"residual", residual, METH_VARARGS,
     "residual(indptr, indices, data, x, r, w, out, sums, threads): the fused CSR residual "
     "out = r - x + M x with ||out||^2 and w @ out; see the module source."},
    {"submatrix_t_count", submatrix_t_count, METH_VARARGS,
     "submatrix_t_count(indptr, indices, rows, position, counts): entries per new column of "
     "a transposed submatrix; see the module source."},
    {"submatrix_t_fill", submatrix_t_fill, METH_VARARGS,
     "submatrix_t_fill(indptr, indices, data, rows, position, next, out_indices, out_data): "
     "the transposed submatrix's entries; see the module source."},
    {"off_diagonal", off_diagonal, METH_VARARGS,
     "off_diagonal(indptr, indices, data, out_indptr, out_indices, out_data): the entries off "
     "the diagonal and not zero, row by row; returns how many; see the module source."},
    {"product", product, METH_VARARGS,
     "product(indptr, indices, data, x, out, threads): out = M x, each row summed in scipy's "
     "order, on OpenMP threads; see the module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "The fused sparse residual of glasnost.compute.linear and the set-up's submatrix.",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
