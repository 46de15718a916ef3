/* Compiled passes of the economy model (glasnost.economy), optional like those of
 * glasnost.compute._kernels: the Python code does the same work with numpy where this
 * module is not built. Choosing the technique, and (further below) the coefficient table of
 * the schema version 2 writer and the reader's passes: its coefficient rows checked and split
 * by role, its strings laid out for numpy.
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
#include <math.h>
#include <string.h>

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

/* The schema version 2 reader (glasnost.economy.io_v2, .files).
 *
 * scan_coefficients(process, commodity, role, value, dep, dep_valid, dep_bit, m, n, counts)
 *     -> bool
 *
 *     Whether every coefficient row is well formed and sorted as the writer leaves them:
 *     0 <= process < m, 0 <= commodity < n, role 0, 1 or 2, value finite and >= 0, on a
 *     capital row (role 2) a depreciation that is present and between 0 and 1, and
 *     (process, role, commodity) strictly increasing from row to row. process and
 *     commodity are int32, role int8, value and dep float64; dep is empty where the file has
 *     no depreciation column (then 0 on every row), dep_valid the column's Arrow validity
 *     bitmap starting at bit dep_bit, or empty where no value is null. counts (int64, 3)
 *     receives the rows of each role. The caller looks for the first bad row itself (in
 *     numpy) only when this says there is one, so the messages are written in one place.
 *
 * split_coefficients(process, commodity, role, value, dep, m, indptr0, indptr1, indptr2,
 *                    indices0, indices1, indices2, data0, data1, data2, dep_out)
 *
 *     The CSR arrays of the three roles' matrices (processes x commodities) from rows that
 *     scan_coefficients passed: role r's rows, in file order, are its matrix's entries in
 *     CSR order. indptr are int32 of m + 1, indices int32 and data float64 of each role's
 *     count, dep_out float64 of the capital rows' count (their depreciation, 0 where dep is
 *     empty). The rows are split in blocks on OpenMP threads: a first pass counts each
 *     block's rows of each role, which gives every block its place in each role's arrays.
 *
 * fixed_width(offsets, data, out, width)
 *
 *     Strings of an Arrow string array (offsets int32 or int64, one more than strings; data
 *     the bytes) copied into out, width bytes each, padded with zero bytes: numpy's
 *     fixed-width bytes, which it casts to StringDType in one pass.
 */
#define BLOCK 65536

static int row_ok(const int32_t *restrict p, const int32_t *restrict c, const int8_t *restrict r,
                  const double *restrict v, const double *restrict dep,
                  const uint8_t *restrict valid, Py_ssize_t bit, Py_ssize_t i, int32_t m,
                  int32_t n) {
    if (p[i] < 0 || p[i] >= m || c[i] < 0 || c[i] >= n || r[i] < 0 || r[i] > 2) return 0;
    if (!(v[i] >= 0 && v[i] < INFINITY)) return 0; /* NaN fails both */
    if (r[i] == 2 && dep) {
        const Py_ssize_t b = bit + i;
        if (valid && !((valid[b >> 3] >> (b & 7)) & 1)) return 0;
        if (!(dep[i] >= 0 && dep[i] <= 1)) return 0;
    }
    if (i == 0) return 1;
    if (p[i] != p[i - 1]) return p[i] > p[i - 1];
    if (r[i] != r[i - 1]) return r[i] > r[i - 1];
    return c[i] > c[i - 1];
}

static PyObject *scan_coefficients(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer process, commodity, role, value, dep, valid, counts;
    Py_ssize_t bit;
    int m, n;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*niiw*", &process, &commodity, &role, &value, &dep,
                          &valid, &bit, &m, &n, &counts))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t rows = role.len;
    if (process.itemsize != 4 || commodity.itemsize != 4 || role.itemsize != 1 ||
        value.itemsize != 8 || process.len != 4 * rows || commodity.len != 4 * rows ||
        value.len != 8 * rows || (dep.len != 0 && dep.len != 8 * rows) || bit < 0 ||
        (valid.len != 0 && valid.len < (bit + rows + 7) / 8) || counts.itemsize != 8 ||
        counts.len != 3 * 8) {
        PyErr_SetString(PyExc_ValueError, "scan_coefficients: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *p = process.buf, *c = commodity.buf;
    const int8_t *r = role.buf;
    const double *v = value.buf, *d = dep.len ? dep.buf : NULL;
    const uint8_t *ok_bits = valid.len ? valid.buf : NULL;
    int64_t *cnt = counts.buf;
    int64_t c0 = 0, c1 = 0, c2 = 0;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    const Py_ssize_t blocks = (rows + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) reduction(+ : c0, c1, c2) reduction(| : bad)
    for (Py_ssize_t b = 0; b < blocks; b++) {
        const Py_ssize_t end = (b + 1) * BLOCK < rows ? (b + 1) * BLOCK : rows;
        int block_bad = 0;
        for (Py_ssize_t i = b * BLOCK; i < end; i++) {
            block_bad |= !row_ok(p, c, r, v, d, ok_bits, bit, i, m, n);
            c0 += r[i] == 0;
            c1 += r[i] == 1;
            c2 += r[i] == 2;
        }
        bad |= block_bad;
    }
    Py_END_ALLOW_THREADS
    cnt[0] = c0;
    cnt[1] = c1;
    cnt[2] = c2;
    result = PyBool_FromLong(!bad);
done:
    PyBuffer_Release(&process);
    PyBuffer_Release(&commodity);
    PyBuffer_Release(&role);
    PyBuffer_Release(&value);
    PyBuffer_Release(&dep);
    PyBuffer_Release(&valid);
    PyBuffer_Release(&counts);
    return result;
}

/* Each block's count of rows of each role and last process of each role (-1: none); returns
 * whether every role and process lies in range (split_coefficients' safety, whatever it is
 * given). */
static int block_counts(const int32_t *p, const int8_t *r, Py_ssize_t rows, Py_ssize_t blocks,
                        int32_t m, int64_t *count, int64_t *last) {
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (Py_ssize_t b = 0; b < blocks; b++) {
        int64_t k[3] = {0, 0, 0}, q[3] = {-1, -1, -1};
        const Py_ssize_t end = (b + 1) * BLOCK < rows ? (b + 1) * BLOCK : rows;
        for (Py_ssize_t i = b * BLOCK; i < end; i++) {
            if (r[i] < 0 || r[i] > 2 || p[i] < 0 || p[i] >= m) {
                bad = 1;
                break;
            }
            k[r[i]]++;
            q[r[i]] = p[i];
        }
        for (int j = 0; j < 3; j++) {
            count[3 * b + j] = k[j];
            last[3 * b + j] = q[j];
        }
    }
    return !bad;
}

static PyObject *split_coefficients(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer process, commodity, role, value, dep, dep_out;
    Py_buffer indptr[3], indices[3], data[3];
    int m;
    /* flat: getargs sizes its list of buffers to release by the top-level arguments, so
     * buffers inside a nested tuple overrun it */
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*iw*w*w*w*w*w*w*w*w*w*", &process, &commodity,
                          &role, &value, &dep, &m, &indptr[0], &indptr[1], &indptr[2],
                          &indices[0], &indices[1], &indices[2], &data[0], &data[1], &data[2],
                          &dep_out))
        return NULL;
    PyObject *result = NULL;
    int64_t *count = NULL, *last = NULL;
    const Py_ssize_t rows = role.len;
    const Py_ssize_t blocks = (rows + BLOCK - 1) / BLOCK;
    int ok = process.itemsize == 4 && commodity.itemsize == 4 && role.itemsize == 1 &&
             value.itemsize == 8 && process.len == 4 * rows && commodity.len == 4 * rows &&
             value.len == 8 * rows && (dep.len == 0 || dep.len == 8 * rows) && m >= 0 &&
             dep_out.itemsize == 8 && rows < INT32_MAX;
    for (int j = 0; j < 3; j++)
        ok = ok && indptr[j].itemsize == 4 && indptr[j].len == 4 * ((Py_ssize_t)m + 1) &&
             indices[j].itemsize == 4 && data[j].itemsize == 8 &&
             data[j].len == 2 * indices[j].len;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "split_coefficients: inconsistent buffer sizes or types");
        goto done;
    }
    count = PyMem_RawMalloc((size_t)(blocks > 0 ? blocks : 1) * 3 * sizeof(int64_t));
    last = PyMem_RawMalloc((size_t)(blocks > 0 ? blocks : 1) * 3 * sizeof(int64_t));
    if (count == NULL || last == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const int32_t *p = process.buf, *c = commodity.buf;
    const int8_t *r = role.buf;
    const double *v = value.buf, *d = dep.len ? dep.buf : NULL;
    int32_t *ip[3], *ix[3];
    double *dt[3];
    for (int j = 0; j < 3; j++) {
        ip[j] = indptr[j].buf;
        ix[j] = indices[j].buf;
        dt[j] = data[j].buf;
    }
    double *dep_o = dep_out.buf;
    int in_range;
    Py_BEGIN_ALLOW_THREADS
    in_range = block_counts(p, r, rows, blocks, m, count, last);
    /* exclusive prefix: each block's first place in each role, and the process of the role's
     * row before the block (-1: none) */
    int64_t total[3] = {0, 0, 0}, before[3] = {-1, -1, -1};
    for (Py_ssize_t b = 0; b < blocks; b++)
        for (int j = 0; j < 3; j++) {
            const int64_t k = count[3 * b + j], q = last[3 * b + j];
            count[3 * b + j] = total[j];
            last[3 * b + j] = before[j];
            total[j] += k;
            if (q >= 0) before[j] = q;
        }
    ok = in_range && dep_out.len == 8 * total[2];
    for (int j = 0; j < 3; j++) ok = ok && indices[j].len == 4 * total[j];
    if (ok) {
#pragma omp parallel for schedule(static)
        for (Py_ssize_t b = 0; b < blocks; b++) {
            int64_t k[3], q[3];
            for (int j = 0; j < 3; j++) {
                k[j] = count[3 * b + j];
                q[j] = last[3 * b + j];
            }
            const Py_ssize_t end = (b + 1) * BLOCK < rows ? (b + 1) * BLOCK : rows;
            for (Py_ssize_t i = b * BLOCK; i < end; i++) {
                const int j = r[i];
                const int64_t at = k[j]++;
                ix[j][at] = c[i];
                dt[j][at] = v[i];
                if (j == 2) dep_o[at] = d ? d[i] : 0.0;
                for (int64_t s = q[j] + 1; s <= p[i]; s++) ip[j][s] = (int32_t)at;
                if (p[i] > q[j]) q[j] = p[i];
            }
        }
        for (int j = 0; j < 3; j++) /* the processes after the role's last row */
            for (int64_t s = before[j] + 1; s <= m; s++) ip[j][s] = (int32_t)total[j];
    }
    Py_END_ALLOW_THREADS
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, in_range ? "split_coefficients: output sizes do not match the roles"
                                                   : "split_coefficients: a role or process out of range");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(count);
    PyMem_RawFree(last);
    PyBuffer_Release(&process);
    PyBuffer_Release(&commodity);
    PyBuffer_Release(&role);
    PyBuffer_Release(&value);
    PyBuffer_Release(&dep);
    for (int j = 0; j < 3; j++) {
        PyBuffer_Release(&indptr[j]);
        PyBuffer_Release(&indices[j]);
        PyBuffer_Release(&data[j]);
    }
    PyBuffer_Release(&dep_out);
    return result;
}

static PyObject *fixed_width(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer offsets, data, out;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*y*w*n", &offsets, &data, &out, &width)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t size = offsets.itemsize ? offsets.len / offsets.itemsize - 1 : -1;
    if ((offsets.itemsize != 4 && offsets.itemsize != 8) || size < 0 || width < 1 ||
        out.len != size * width) {
        PyErr_SetString(PyExc_ValueError, "fixed_width: inconsistent buffer sizes or types");
        goto done;
    }
    const int wide = offsets.itemsize == 8;
    const int32_t *o32 = offsets.buf;
    const int64_t *o64 = offsets.buf;
    const char *src = data.buf;
    char *dst = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (Py_ssize_t i = 0; i < size; i++) {
        const int64_t a = wide ? o64[i] : o32[i], e = wide ? o64[i + 1] : o32[i + 1];
        if (a < 0 || e < a || e > data.len || e - a > width) {
            bad = 1;
            continue;
        }
        memcpy(dst + i * width, src + a, (size_t)(e - a));
        memset(dst + i * width + (e - a), 0, (size_t)(width - (e - a)));
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "fixed_width: offsets outside the data or wider than width");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
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
    {"scan_coefficients", scan_coefficients, METH_VARARGS,
     "scan_coefficients(process, commodity, role, value, dep, dep_valid, dep_bit, m, n, counts) "
     "-> whether every row is well formed and sorted; see the module source."},
    {"split_coefficients", split_coefficients, METH_VARARGS,
     "split_coefficients(process, commodity, role, value, dep, m, indptr0, indptr1, indptr2, "
     "indices0, indices1, indices2, data0, data1, data2, dep_out): each role's CSR arrays from "
     "scanned rows; see the module source."},
    {"fixed_width", fixed_width, METH_VARARGS,
     "fixed_width(offsets, data, out, width): Arrow strings as zero-padded fixed-width bytes; "
     "see the module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "Compiled passes of the economy model (choosing the technique, the writer's coefficient "
    "table, the reader's checks and string layout).",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
