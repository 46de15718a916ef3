/* Compiled passes of the economy model (glasnost.economy), optional like those of
 * glasnost.compute._kernels: the Python code does the same work with numpy where this
 * module is not built. Choosing the technique, and (further below) the coefficient table of
 * the schema version 2 writer.
 *
 * technique_count(indptr, indices, rows, column_map, counts, threads)
 * technique_fill(indptr, indices, data, rows, divisor, column_map, a_indptr, a_indices,
 *                a_data, p_indptr, p_indices, p_data, a_sums, threads)
 *
 * The square technique of glasnost.economy.model.choose_technique from the input rows
 * rows[r] of a CSR matrix (processes x commodities; int32 indptr and indices, float64 data;
 * rows int64). column_map (int32, one per commodity) sends a commodity to column c >= 0 of
 * A's transpose, to row -2 - c of the primary inputs' transpose where c <= -2, or nowhere
 * (-1). The first call counts each row's entries of both parts into counts (int64, 2 per
 * row: A's, then the primary inputs'); with their cumulative sums as the row pointers
 * (int32), the second writes every entry divided by its row's divisor (the chosen process's
 * output), in the stored order, so sorted rows stay sorted, and the sum of each row of A's
 * transpose (a column sum of A) into a_sums. Rows are spread over ``threads`` OpenMP
 * threads; each row is written by one thread, so the result does not depend on them. The
 * caller checks that rows lie within indptr and indices within column_map.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static int technique_buffers_ok(Py_buffer *indptr, Py_buffer *indices, Py_buffer *rows,
                                Py_buffer *column_map) {
    return indptr->itemsize == 4 && indices->itemsize == 4 && rows->itemsize == 8 &&
           column_map->itemsize == 4;
}

static PyObject *technique_count(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, rows, column_map, counts;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*i", &indptr, &indices, &rows, &column_map, &counts,
                          &threads))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t k = rows.len / 8;
    if (!technique_buffers_ok(&indptr, &indices, &rows, &column_map) || counts.itemsize != 8 ||
        counts.len != 16 * k) {
        PyErr_SetString(PyExc_ValueError, "technique_count: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf, *map = column_map.buf;
    const int64_t *rw = rows.buf;
    int64_t *cnt = counts.buf;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(static)")
    for (Py_ssize_t r = 0; r < k; r++) {
        int64_t a = 0, p = 0;
        for (int32_t q = ip[rw[r]]; q < ip[rw[r] + 1]; q++) {
            const int32_t c = map[ix[q]];
            a += c >= 0;
            p += c <= -2;
        }
        cnt[2 * r] = a;
        cnt[2 * r + 1] = p;
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&column_map);
    PyBuffer_Release(&counts);
    return result;
}

static PyObject *technique_fill(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, data, rows, divisor, column_map, a_indptr, a_indices, a_data,
        p_indptr, p_indices, p_data, a_sums;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*w*w*y*w*w*w*i", &indptr, &indices, &data, &rows,
                          &divisor, &column_map, &a_indptr, &a_indices, &a_data, &p_indptr,
                          &p_indices, &p_data, &a_sums, &threads))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t k = rows.len / 8;
    if (!technique_buffers_ok(&indptr, &indices, &rows, &column_map) || data.itemsize != 8 ||
        divisor.itemsize != 8 || divisor.len != 8 * k || a_indptr.itemsize != 4 ||
        a_indptr.len != 4 * (k + 1) || p_indptr.itemsize != 4 || p_indptr.len != 4 * (k + 1) ||
        a_indices.itemsize != 4 || a_data.itemsize != 8 || a_data.len != 2 * a_indices.len ||
        p_indices.itemsize != 4 || p_data.itemsize != 8 || p_data.len != 2 * p_indices.len ||
        a_sums.itemsize != 8 || a_sums.len != 8 * k ||
        ((const int32_t *)a_indptr.buf)[k] != a_indices.len / 4 ||
        ((const int32_t *)p_indptr.buf)[k] != p_indices.len / 4) {
        PyErr_SetString(PyExc_ValueError, "technique_fill: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf, *map = column_map.buf;
    const int32_t *ap = a_indptr.buf, *pp = p_indptr.buf;
    const double *dt = data.buf, *div = divisor.buf;
    const int64_t *rw = rows.buf;
    int32_t *ai = a_indices.buf, *pi = p_indices.buf;
    double *ad = a_data.buf, *pd = p_data.buf, *sums = a_sums.buf;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(static) reduction(| : overflow)")
    for (Py_ssize_t r = 0; r < k; r++) {
        int32_t a = ap[r], p = pp[r];
        double sum = 0;
        for (int32_t q = ip[rw[r]]; q < ip[rw[r] + 1]; q++) {
            const int32_t c = map[ix[q]];
            if (c == -1) continue;
            const double v = dt[q] / div[r];
            if (c >= 0) {
                if (a >= ap[r + 1]) { overflow = 1; break; }
                ai[a] = c;
                ad[a++] = v;
                sum += v;
            } else {
                if (p >= pp[r + 1]) { overflow = 1; break; }
                pi[p] = -2 - c;
                pd[p++] = v;
            }
        }
        sums[r] = sum;
    }
    Py_END_ALLOW_THREADS
    if (overflow) {
        PyErr_SetString(PyExc_ValueError, "technique_fill: counts do not match the entries");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&divisor);
    PyBuffer_Release(&column_map);
    PyBuffer_Release(&a_indptr);
    PyBuffer_Release(&a_indices);
    PyBuffer_Release(&a_data);
    PyBuffer_Release(&p_indptr);
    PyBuffer_Release(&p_indices);
    PyBuffer_Release(&p_data);
    PyBuffer_Release(&a_sums);
    return result;
}

/* The coefficient table of the schema version 2 writer (glasnost.economy.io_v2).
 *
 * role_entries(row_start, before, indptr, indices, data, code, commodity, role, value, threads)
 *
 * The table lists every process's entries role after role, so the entries of process j for
 * one role (a CSR matrix: int32 indptr and indices, float64 data) go to the table rows from
 * row_start[j] + before[j] on (int64; before counts the entries of the roles already placed,
 * and grows by this role's count): their commodity (int32), the role code (int8) and value
 * (float64). Rows are copied in parallel; the caller checks that they fit.
 *
 * process_column(row_start, process, threads)
 *
 *     process[r] = j for the table rows r from row_start[j] to row_start[j + 1] (int32)
 */
static PyObject *role_entries(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer row_start, before, indptr, indices, data, commodity, role, value;
    int code, threads;
    if (!PyArg_ParseTuple(args, "y*w*y*y*y*iw*w*w*i", &row_start, &before, &indptr, &indices, &data,
                          &code, &commodity, &role, &value, &threads))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t m = indptr.len / 4 - 1, total = commodity.len / 4;
    if (threads < 1 || m < 0 || row_start.itemsize != 8 || row_start.len != 8 * (m + 1) ||
        before.itemsize != 8 || before.len != 8 * m || indptr.itemsize != 4 ||
        indices.itemsize != 4 || data.itemsize != 8 || data.len != 2 * indices.len ||
        commodity.itemsize != 4 || role.itemsize != 1 || role.len != total ||
        value.itemsize != 8 || value.len != 8 * total || code < -128 || code > 127 ||
        ((const int32_t *)indptr.buf)[m] > indices.len / 4 ||
        ((const int64_t *)row_start.buf)[m] > total) {
        PyErr_SetString(PyExc_ValueError, "role_entries: inconsistent buffer sizes or types");
        goto done;
    }
    const int64_t *rs = row_start.buf;
    int64_t *bf = before.buf;
    const int32_t *ip = indptr.buf, *ix = indices.buf;
    const double *dt = data.buf;
    int32_t *oc = commodity.buf;
    int8_t *orl = role.buf;
    double *ov = value.buf;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(static) reduction(|: overflow)")
    for (Py_ssize_t j = 0; j < m; j++) {
        const int32_t count = ip[j + 1] - ip[j];
        const int64_t to = rs[j] + bf[j];
        if (count < 0 || to + count > rs[j + 1]) {
            overflow = 1;
            continue;
        }
        memcpy(oc + to, ix + ip[j], (size_t)count * sizeof(int32_t));
        memset(orl + to, code, (size_t)count);
        memcpy(ov + to, dt + ip[j], (size_t)count * sizeof(double));
        bf[j] += count;
    }
    Py_END_ALLOW_THREADS
    if (overflow) {
        PyErr_SetString(PyExc_ValueError, "role_entries: more entries than the table rows hold");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&row_start);
    PyBuffer_Release(&before);
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&commodity);
    PyBuffer_Release(&role);
    PyBuffer_Release(&value);
    return result;
}

static PyObject *process_column(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer row_start, process;
    int threads;
    if (!PyArg_ParseTuple(args, "y*w*i", &row_start, &process, &threads)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t m = row_start.len / 8 - 1;
    if (threads < 1 || m < 0 || m > INT32_MAX || row_start.itemsize != 8 ||
        process.itemsize != 4 || ((const int64_t *)row_start.buf)[m] != process.len / 4 ||
        ((const int64_t *)row_start.buf)[0] != 0) {
        PyErr_SetString(PyExc_ValueError, "process_column: inconsistent buffer sizes or types");
        goto done;
    }
    const int64_t *rs = row_start.buf;
    int32_t *pr = process.buf;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(static)")
    for (Py_ssize_t j = 0; j < m; j++)
        for (int64_t r = rs[j]; r < rs[j + 1]; r++) pr[r] = (int32_t)j;
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&row_start);
    PyBuffer_Release(&process);
    return result;
}

static PyMethodDef methods[] = {
    {"technique_count", technique_count, METH_VARARGS,
     "technique_count(indptr, indices, rows, column_map, counts, threads): entries of each "
     "chosen row in A's and the primary inputs' transpose; see the module source."},
    {"technique_fill", technique_fill, METH_VARARGS,
     "technique_fill(indptr, indices, data, rows, divisor, column_map, a_indptr, a_indices, "
     "a_data, p_indptr, p_indices, p_data, a_sums, threads): their entries and A's column sums; "
     "see the module source."},
    {"role_entries", role_entries, METH_VARARGS,
     "role_entries(row_start, before, indptr, indices, data, code, commodity, role, value, "
     "threads): one role's entries into the coefficient table; see the module source."},
    {"process_column", process_column, METH_VARARGS,
     "process_column(row_start, process, threads): the coefficient table's process column; see "
     "the module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "Compiled passes of the economy model (choosing the technique, the writer's coefficient table).",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
