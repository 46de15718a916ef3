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
 * split_rows(process, commodity, role, value, dep, dep_valid, dep_bit, m, n, state,
 *            indptr0, indptr1, indptr2, indices0, indices1, indices2, data0, data1, data2,
 *            dep_out, threads) -> bool
 *
 *     Checks one batch of coefficient rows (a row group; batches come in file order) and
 *     appends them to the CSR arrays of the three roles' matrices (processes x commodities).
 *     A row is good where 0 <= process < m, 0 <= commodity < n, its role is 0 (output), 1
 *     (input) or 2 (capital), its value is finite and >= 0, a capital row's depreciation is
 *     present and between 0 and 1, and (process, role, commodity) increases strictly from
 *     the row before (the writer's order). Then role r's rows, in file order, are its
 *     matrix's entries in CSR order. Returns false, having written nothing the caller
 *     keeps, on the first bad row or where the output arrays are too short: the caller then
 *     reads the file the numpy way, which names the row or sorts the rows.
 *
 *     process and commodity are int32, role int8, value and dep float64; dep is empty where
 *     the file has no depreciation column (0 on every row), dep_valid the column's Arrow
 *     validity bitmap from bit dep_bit, or empty where no value is null. state (int64, 9)
 *     carries the batches so far: rows of each role, last process of each role (-1: none),
 *     and the last row's process (-1: none), role and commodity; zero the counts and set the
 *     rest to -1 before the first batch. indptr are int32 of m + 1: entry p + 1 .. up to a
 *     role's last process is written; the caller fills the rest with the role's count after
 *     the last batch. indices (int32) and data (float64) of each role, and dep_out (float64,
 *     the capital rows' depreciation, 0 where dep is empty) need room for every row of
 *     their role. The rows are split in blocks on OpenMP threads: a first pass checks each
 *     block and counts its rows of each role, which gives every block its place in each
 *     role's arrays. On one thread (threads 1) the rows are checked and appended in one pass;
 *     the reader asks for that, as it splits the rows beside its reading of other files, so
 *     that no idle OpenMP thread spins on a core that Arrow's decoding needs.
 *
 * fixed_width(offsets, data, out, width) -> bool
 *
 *     Strings of an Arrow string array (offsets int32 or int64, one more than strings; data
 *     the bytes) copied into out, width bytes each, padded with zero bytes: numpy's
 *     fixed-width bytes, which it casts to StringDType in one pass. Returns whether no
 *     string ends in a zero byte (numpy's fixed-width bytes would drop it).
 */
#define BLOCK 65536

typedef struct {
    const int32_t *p, *c;
    const int8_t *r;
    const double *v, *dep;
    const uint8_t *valid;
    Py_ssize_t bit;
    int32_t m, n;
    int64_t prev_p, prev_r, prev_c; /* the row before the batch (prev_p -1: none) */
} rows_t;

static int row_ok(const rows_t *t, Py_ssize_t i) {
    const int32_t p = t->p[i], c = t->c[i];
    const int8_t r = t->r[i];
    if (p < 0 || p >= t->m || c < 0 || c >= t->n || r < 0 || r > 2) return 0;
    if (!(t->v[i] >= 0 && t->v[i] < INFINITY)) return 0; /* NaN fails both */
    if (r == 2 && t->dep) {
        const Py_ssize_t b = t->bit + i;
        if (t->valid && !((t->valid[b >> 3] >> (b & 7)) & 1)) return 0;
        if (!(t->dep[i] >= 0 && t->dep[i] <= 1)) return 0;
    }
    int64_t pp, pr, pc;
    if (i > 0) {
        pp = t->p[i - 1];
        pr = t->r[i - 1];
        pc = t->c[i - 1];
    } else if (t->prev_p >= 0) {
        pp = t->prev_p;
        pr = t->prev_r;
        pc = t->prev_c;
    } else {
        return 1;
    }
    if (p != pp) return p > pp;
    if (r != pr) return r > pr;
    return c > pc;
}

/* Checks each block's rows; its count of rows of each role and last process of each role
 * (-1: none). Returns whether every row is good. */
static int check_blocks(const rows_t *t, Py_ssize_t rows, Py_ssize_t blocks, int64_t *count,
                        int64_t *last, int threads) {
    int bad = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : bad)
    for (Py_ssize_t b = 0; b < blocks; b++) {
        int64_t k[3] = {0, 0, 0}, q[3] = {-1, -1, -1};
        const Py_ssize_t end = (b + 1) * BLOCK < rows ? (b + 1) * BLOCK : rows;
        for (Py_ssize_t i = b * BLOCK; i < end; i++) {
            if (!row_ok(t, i)) {
                bad = 1;
                break;
            }
            k[t->r[i]]++;
            q[t->r[i]] = t->p[i];
        }
        for (int j = 0; j < 3; j++) {
            count[3 * b + j] = k[j];
            last[3 * b + j] = q[j];
        }
    }
    return !bad;
}

typedef struct {
    int32_t *ip[3], *ix[3];
    double *dt[3], *dep;
    int64_t room[3]; /* entries each role's indices and data (the capital's dep too) hold */
} out_t;

/* Appends rows [i0, i1) to the roles' arrays from places k (advanced), each role's last
 * process so far being q (advanced); with check, first checks each row and its room, and
 * returns 0 at a bad row or one without room (the rows so far are written). */
static int fill_rows(const rows_t *t, const out_t *o, Py_ssize_t i0, Py_ssize_t i1, int64_t *k,
                     int64_t *q, int check) {
    for (Py_ssize_t i = i0; i < i1; i++) {
        if (check && (!row_ok(t, i) || k[t->r[i]] >= o->room[t->r[i]])) return 0;
        const int j = t->r[i];
        const int32_t p = t->p[i];
        const int64_t at = k[j]++;
        o->ix[j][at] = t->c[i];
        o->dt[j][at] = t->v[i];
        if (j == 2) o->dep[at] = t->dep ? t->dep[i] : 0.0;
        for (int64_t s = q[j] + 1; s <= p; s++) o->ip[j][s] = (int32_t)at;
        q[j] = p;
    }
    return 1;
}

static PyObject *split_rows(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer process, commodity, role, value, dep, valid, state, dep_out;
    Py_buffer indptr[3], indices[3], data[3];
    Py_ssize_t bit;
    int m, n, threads;
    /* all at the top level: getargs sizes its list of buffers to release by the top-level
     * arguments, so buffers inside a nested tuple would overrun it */
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*niiw*w*w*w*w*w*w*w*w*w*w*i", &process,
                          &commodity, &role, &value, &dep, &valid, &bit, &m, &n, &state,
                          &indptr[0], &indptr[1], &indptr[2], &indices[0], &indices[1],
                          &indices[2], &data[0], &data[1], &data[2], &dep_out, &threads))
        return NULL;
    PyObject *result = NULL;
    int64_t *count = NULL, *last = NULL;
    const Py_ssize_t rows = role.len;
    const Py_ssize_t blocks = (rows + BLOCK - 1) / BLOCK;
    int ok = process.itemsize == 4 && commodity.itemsize == 4 && role.itemsize == 1 &&
             value.itemsize == 8 && process.len == 4 * rows && commodity.len == 4 * rows &&
             value.len == 8 * rows && (dep.len == 0 || dep.len == 8 * rows) && bit >= 0 &&
             (valid.len == 0 || valid.len >= (bit + rows + 7) / 8) && m >= 0 && n >= 0 &&
             state.itemsize == 8 && state.len == 9 * 8 && dep_out.itemsize == 8 && threads >= 1;
    for (int j = 0; j < 3; j++)
        ok = ok && indptr[j].itemsize == 4 && indptr[j].len == 4 * ((Py_ssize_t)m + 1) &&
             indices[j].itemsize == 4 && data[j].itemsize == 8 &&
             data[j].len == 2 * indices[j].len && indices[j].len / 4 <= INT32_MAX;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "split_rows: inconsistent buffer sizes or types");
        goto done;
    }
    count = PyMem_RawMalloc((size_t)(blocks > 0 ? blocks : 1) * 3 * sizeof(int64_t));
    last = PyMem_RawMalloc((size_t)(blocks > 0 ? blocks : 1) * 3 * sizeof(int64_t));
    if (count == NULL || last == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *st = state.buf;
    const rows_t t = {process.buf, commodity.buf, role.buf, value.buf,
                      dep.len ? dep.buf : NULL, valid.len ? valid.buf : NULL, bit, m, n,
                      st[6], st[7], st[8]};
    out_t o;
    for (int j = 0; j < 3; j++) {
        o.ip[j] = indptr[j].buf;
        o.ix[j] = indices[j].buf;
        o.dt[j] = data[j].buf;
        o.room[j] = indices[j].len / 4;
    }
    o.dep = dep_out.buf;
    if (o.room[2] > dep_out.len / 8) o.room[2] = dep_out.len / 8;
    Py_BEGIN_ALLOW_THREADS
    int64_t total[3], before[3];
    for (int j = 0; j < 3; j++) {
        total[j] = st[j];
        before[j] = st[3 + j];
    }
    if (threads == 1) { /* one pass: check and append */
        ok = fill_rows(&t, &o, 0, rows, total, before, 1);
    } else {
        ok = check_blocks(&t, rows, blocks, count, last, threads);
        /* exclusive prefix: each block's first place in each role's arrays, and the process
         * of the role's last row before the block (-1: none) */
        for (Py_ssize_t b = 0; b < blocks && ok; b++)
            for (int j = 0; j < 3; j++) {
                const int64_t k = count[3 * b + j], q = last[3 * b + j];
                count[3 * b + j] = total[j];
                last[3 * b + j] = before[j];
                total[j] += k;
                if (q >= 0) before[j] = q;
            }
        for (int j = 0; j < 3 && ok; j++) ok = total[j] <= o.room[j];
        if (ok) {
#pragma omp parallel for num_threads(threads) schedule(static)
            for (Py_ssize_t b = 0; b < blocks; b++) {
                const Py_ssize_t end = (b + 1) * BLOCK < rows ? (b + 1) * BLOCK : rows;
                fill_rows(&t, &o, b * BLOCK, end, &count[3 * b], &last[3 * b], 0);
            }
        }
    }
    if (ok) {
        for (int j = 0; j < 3; j++) {
            st[j] = total[j];
            st[3 + j] = before[j];
        }
        if (rows > 0) {
            st[6] = t.p[rows - 1];
            st[7] = t.r[rows - 1];
            st[8] = t.c[rows - 1];
        }
    }
    Py_END_ALLOW_THREADS
    result = PyBool_FromLong(ok);
done:
    PyMem_RawFree(count);
    PyMem_RawFree(last);
    PyBuffer_Release(&process);
    PyBuffer_Release(&commodity);
    PyBuffer_Release(&role);
    PyBuffer_Release(&value);
    PyBuffer_Release(&dep);
    PyBuffer_Release(&valid);
    PyBuffer_Release(&state);
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
    int bad = 0, zero_end = 0;
    Py_BEGIN_ALLOW_THREADS
    /* one thread: a memory-bound copy, done while the coefficient file is split beside */
    for (Py_ssize_t i = 0; i < size; i++) {
        const int64_t a = wide ? o64[i] : o32[i], e = wide ? o64[i + 1] : o32[i + 1];
        if (a < 0 || e < a || e > data.len || e - a > width) {
            bad = 1;
            continue;
        }
        memcpy(dst + i * width, src + a, (size_t)(e - a));
        memset(dst + i * width + (e - a), 0, (size_t)(width - (e - a)));
        zero_end |= e > a && src[e - 1] == 0;
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "fixed_width: offsets outside the data or wider than width");
        goto done;
    }
    result = PyBool_FromLong(!zero_end);
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
    {"split_rows", split_rows, METH_VARARGS,
     "split_rows(process, commodity, role, value, dep, dep_valid, dep_bit, m, n, state, indptr0, "
     "indptr1, indptr2, indices0, indices1, indices2, data0, data1, data2, dep_out, threads) -> whether "
     "the batch was good and appended to each role's CSR arrays; see the module source."},
    {"fixed_width", fixed_width, METH_VARARGS,
     "fixed_width(offsets, data, out, width) -> whether no string ends in a zero byte: Arrow "
     "strings as zero-padded fixed-width bytes; see the module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "Compiled passes of the economy model (choosing the technique, the writer's coefficient "
    "table, the reader's checks and string layout).",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
