/* The fused sparse residual of the Leontief iteration (glasnost.compute.linear).
 *
 * residual(indptr, indices, data, x, r, w, out, sums, threads)
 *
 *     out[i]  = r[i] - x[i] + sum_p data[p] * x[indices[p]]
 *               for the rows i of a square CSR matrix, p in indptr[i] .. indptr[i + 1]
 *     sums[0] = sum_i out[i]^2
 *     sums[1] = sum_i w[i] * out[i]    (0 when w is empty)
 *
 * residual_block(indptr, indices, data, x, r, w, out, sums, k, threads)
 *
 *     the same for k vectors at once: x, r and out are (m, k) blocks in row-major order,
 *     out[i, c] = r[i, c] - x[i, c] + sum_p data[p] * x[indices[p], c], and sums holds 2 k
 *     float64: sums[c] = sum_i out[i, c]^2, sums[k + c] = sum_i w[i] * out[i, c]. w is one
 *     vector of m entries (or empty) for all columns. 1 <= k <= KMAX.
 *
 * One pass over the matrix and the vectors does what would otherwise be a product, a
 * subtraction and two dot products; in a block, each entry of the matrix is read once for all
 * k columns, and the k entries of x it multiplies lie side by side. data, x, r, w and out are
 * all float32 or all float64; indptr and indices are int32. The Python caller checks shapes and
 * dtypes; scipy's CSR format checks keep indices within bounds.
 * Each row is summed in double precision, also for float32 values: rows of heavily used
 * products hold thousands of entries, and a float32 sum of them can be off by 5e-6 of its
 * value, more than the float32 sweeps of the iteration must resolve (2e-6). Column c of a
 * block comes out as residual gives it for that column alone, bit for bit. The loop runs
 * without the GIL on ``threads`` OpenMP threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Rows are taken in chunks of at most CHUNK rows and CHUNK_NNZ entries (a row longer than that
 * alone), handed out to threads as they come free (rows that read scattered entries of x take
 * longer than rows of the same length that do not). The entry bound matters where products
 * are ordered by use: the first 2048 rows of the reordered Leontief matrix at 10^6 products
 * hold 56% of its entries, and a chunk of rows alone left one thread with more than half of
 * every sweep. Chunks depend on the matrix only; each chunk's sums are kept apart and added in
 * chunk order, so the result does not depend on the threads or on which took which chunk. */
#define CHUNK 2048
#define CHUNK_NNZ 16384
#define KMAX 16

/* The first row of each chunk into starts (room for max_chunks(m, nnz) + 1 entries, the last
 * one m); returns the number of chunks. */
static Py_ssize_t max_chunks(Py_ssize_t m, Py_ssize_t nnz) {
    return m / CHUNK + nnz / CHUNK_NNZ + 2;
}

static Py_ssize_t row_chunks(Py_ssize_t m, const int32_t *indptr, Py_ssize_t *starts) {
    Py_ssize_t count = 0, begin = 0;
    while (begin < m) {
        starts[count++] = begin;
        /* the first row past begin whose entries start CHUNK_NNZ or more after begin's */
        Py_ssize_t lo = begin + 1, hi = begin + CHUNK < m ? begin + CHUNK : m;
        const int64_t limit = (int64_t)indptr[begin] + CHUNK_NNZ;
        while (lo < hi) {
            const Py_ssize_t mid = lo + (hi - lo) / 2;
            if ((int64_t)indptr[mid] >= limit)
                hi = mid;
            else
                lo = mid + 1;
        }
        begin = lo;
    }
    starts[count] = m;
    return count;
}

/* The entry of x that the row sum will read PREFETCH_AHEAD entries of the matrix later is asked
 * for now: rows of the transposed Leontief matrix read x where most products' inputs are (the
 * first rows), those of the matrix itself read it anywhere, and the hardware cannot guess those
 * addresses. At 10^6 products on 2 cores, a sweep of the matrix takes 7.9 ms against 9.1 (min
 * of 15), one of its transpose the same (6.4-6.7 ms, 13 ms for a block of 3). */
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 32
#endif
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch((address), 0, 1)
#else
#define PREFETCH(address) ((void)(address))
#endif

/* Rows begin .. end of a block of width k into out and its sums into part[0 .. 2k). Inlined
 * with constant widths below, so the compiler keeps the k row sums in registers. */
#define DEFINE_RESIDUAL_ROWS(NAME, T)                                                      \
    static inline __attribute__((always_inline)) void NAME(                               \
        Py_ssize_t begin, Py_ssize_t end, const Py_ssize_t k, const int32_t *restrict indptr, \
        const int32_t *restrict indices, const T *restrict data, const T *restrict x,      \
        const T *restrict r, const T *restrict w, T *restrict out, double *restrict part) { \
        double sq[KMAX], wo[KMAX], acc[KMAX];                                              \
        const int32_t stop = indptr[end] - PREFETCH_AHEAD;                                 \
        for (Py_ssize_t c = 0; c < k; c++) sq[c] = wo[c] = 0;                              \
        for (Py_ssize_t i = begin; i < end; i++) {                                         \
            const T *xi = x + i * k, *ri = r + i * k;                                      \
            for (Py_ssize_t c = 0; c < k; c++) acc[c] = (double)ri[c] - (double)xi[c];     \
            for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) {                          \
                if (PREFETCH_AHEAD && p < stop)                                            \
                    PREFETCH(x + (Py_ssize_t)indices[p + PREFETCH_AHEAD] * k);             \
                const double a = (double)data[p];                                          \
                const T *xj = x + (Py_ssize_t)indices[p] * k;                              \
                for (Py_ssize_t c = 0; c < k; c++) acc[c] += a * (double)xj[c];            \
            }                                                                              \
            T *oi = out + i * k;                                                           \
            for (Py_ssize_t c = 0; c < k; c++) {                                           \
                const T o = (T)acc[c];                                                     \
                oi[c] = o;                                                                 \
                sq[c] += (double)o * o;                                                    \
                if (w) wo[c] += (double)w[i] * o;                                          \
            }                                                                              \
        }                                                                                  \
        for (Py_ssize_t c = 0; c < k; c++) {                                               \
            part[c] = sq[c];                                                               \
            part[k + c] = wo[c];                                                           \
        }                                                                                  \
    }

#define DEFINE_RESIDUAL(NAME, T)                                                           \
    DEFINE_RESIDUAL_ROWS(NAME##_rows, T)                                                   \
    static void NAME(Py_ssize_t chunks, const Py_ssize_t *starts, Py_ssize_t k,            \
                     const int32_t *restrict indptr, const int32_t *restrict indices,      \
                     const T *restrict data, const T *restrict x, const T *restrict r,     \
                     const T *restrict w, T *restrict out, double *restrict part,          \
                     int threads) {                                                        \
        _Pragma("omp parallel for num_threads(threads) schedule(dynamic, 1)")              \
        for (Py_ssize_t q = 0; q < chunks; q++) {                                          \
            const Py_ssize_t a = starts[q], b = starts[q + 1];                             \
            double *pq = part + 2 * k * q;                                                 \
            switch (k) {                                                                   \
            case 1: NAME##_rows(a, b, 1, indptr, indices, data, x, r, w, out, pq); break;  \
            case 2: NAME##_rows(a, b, 2, indptr, indices, data, x, r, w, out, pq); break;  \
            case 3: NAME##_rows(a, b, 3, indptr, indices, data, x, r, w, out, pq); break;  \
            case 4: NAME##_rows(a, b, 4, indptr, indices, data, x, r, w, out, pq); break;  \
            default: NAME##_rows(a, b, k, indptr, indices, data, x, r, w, out, pq);        \
            }                                                                              \
        }                                                                                  \
    }

DEFINE_RESIDUAL(residual_f32, float)
DEFINE_RESIDUAL(residual_f64, double)

/* Both entry points: k < 0 means residual's one vector and two sums. */
static PyObject *residual_of(PyObject *args, Py_ssize_t k) {
    Py_buffer indptr, indices, data, x, r, w, out, sums;
    int threads;
    const int vector = k < 0;
    if (vector ? !PyArg_ParseTuple(args, "y*y*y*y*y*y*w*w*i", &indptr, &indices, &data, &x, &r,
                                   &w, &out, &sums, &threads)
               : !PyArg_ParseTuple(args, "y*y*y*y*y*y*w*w*ni", &indptr, &indices, &data, &x, &r,
                                   &w, &out, &sums, &k, &threads))
        return NULL;
    if (vector) k = 1;
    PyObject *result = NULL;
    double *part = NULL;
    Py_ssize_t *starts = NULL;
    const Py_ssize_t m = indptr.len / (Py_ssize_t)sizeof(int32_t) - 1;
    const Py_ssize_t item = data.itemsize;
    if (threads < 1 || m < 0 || k < 1 || k > KMAX || indptr.itemsize != 4 ||
        indices.itemsize != 4 || (item != 4 && item != 8) || x.itemsize != item ||
        r.itemsize != item || w.itemsize != item || out.itemsize != item ||
        x.len != m * k * item || r.len != m * k * item || out.len != m * k * item ||
        (w.len != 0 && w.len != m * item) || sums.len < 2 * k * (Py_ssize_t)sizeof(double)) {
        PyErr_Format(PyExc_ValueError, "%s: inconsistent buffer sizes or types",
                     vector ? "residual" : "residual_block");
        goto done;
    }
    const int32_t *ip = indptr.buf;
    const Py_ssize_t most = max_chunks(m, m > 0 ? ip[m] - ip[0] : 0);
    part = PyMem_RawCalloc((size_t)(most * 2 * k), sizeof(double));
    starts = PyMem_RawMalloc((size_t)(most + 1) * sizeof(Py_ssize_t));
    if (part == NULL || starts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const void *wbuf = w.len ? w.buf : NULL;
    Py_ssize_t chunks;
    Py_BEGIN_ALLOW_THREADS
    chunks = row_chunks(m, ip, starts);
    if (item == 4)
        residual_f32(chunks, starts, k, ip, indices.buf, data.buf, x.buf, r.buf, wbuf, out.buf,
                     part, threads);
    else
        residual_f64(chunks, starts, k, ip, indices.buf, data.buf, x.buf, r.buf, wbuf, out.buf,
                     part, threads);
    Py_END_ALLOW_THREADS
    double *s = sums.buf;
    for (Py_ssize_t c = 0; c < 2 * k; c++) s[c] = 0.0;
    for (Py_ssize_t q = 0; q < chunks; q++)
        for (Py_ssize_t c = 0; c < 2 * k; c++) s[c] += part[2 * k * q + c];
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(part);
    PyMem_RawFree(starts);
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

static PyObject *residual(PyObject *Py_UNUSED(self), PyObject *args) { return residual_of(args, -1); }

static PyObject *residual_block(PyObject *Py_UNUSED(self), PyObject *args) {
    return residual_of(args, 0);
}

/* The update of the deflated iteration's correction (glasnost.compute.linear._deflated).
 *
 * deflated_update(e, s, u, coef, threads)
 *
 *     e[i, c] = (e[i, c] + s[i, c]) + u[i] * coef[c]
 *
 * e and s are (m, k) blocks in row-major order, u m entries and coef k, all float32 or all
 * float64, each operation rounded to that type as numpy rounds ``e += s; e += u[:, None] *
 * coef``, so the result is the same bit for bit. One pass on OpenMP threads instead of three
 * passes of numpy on one.
 */
#define DEFINE_DEFLATED_UPDATE(NAME, T)                                                    \
    static void NAME(Py_ssize_t m, Py_ssize_t k, T *restrict e, const T *restrict s,       \
                     const T *restrict u, const T *restrict coef, int threads) {           \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                  \
        for (Py_ssize_t i = 0; i < m; i++)                                                 \
            for (Py_ssize_t c = 0; c < k; c++) {                                           \
                const T sum = e[i * k + c] + s[i * k + c];                                 \
                const T rank_one = u[i] * coef[c];                                         \
                e[i * k + c] = sum + rank_one;                                             \
            }                                                                              \
    }

DEFINE_DEFLATED_UPDATE(deflated_update_f32, float)
DEFINE_DEFLATED_UPDATE(deflated_update_f64, double)

static PyObject *deflated_update(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer e, s, u, coef;
    int threads;
    if (!PyArg_ParseTuple(args, "w*y*y*y*i", &e, &s, &u, &coef, &threads)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t item = e.itemsize;
    const Py_ssize_t m = item > 0 ? u.len / item : 0, k = item > 0 ? coef.len / item : 0;
    if (threads < 1 || (item != 4 && item != 8) || s.itemsize != item || u.itemsize != item ||
        coef.itemsize != item || k < 1 || e.len != m * k * item || s.len != e.len) {
        PyErr_SetString(PyExc_ValueError, "deflated_update: inconsistent buffer sizes or types");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (item == 4)
        deflated_update_f32(m, k, e.buf, s.buf, u.buf, coef.buf, threads);
    else
        deflated_update_f64(m, k, e.buf, s.buf, u.buf, coef.buf, threads);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&e);
    PyBuffer_Release(&s);
    PyBuffer_Release(&u);
    PyBuffer_Release(&coef);
    return result;
}

/* The transposed submatrix of the solver's set-up (glasnost.compute.peel).
 *
 * submatrix_t_count(indptr, indices, rows, position, counts, parts)
 * submatrix_t_fill(indptr, indices, data, rows, position, next, out_indices, out_data, parts)
 *
 * For the rows rows[r] of a CSR matrix (int32 indptr and indices, float64 data) and a map
 * position[column] (int64, -1 where the column is dropped), the first call counts the kept
 * entries per new column into counts (int64, parts x new columns); with next[q][c] = where
 * part q's entries of new column c start (the column's start plus the earlier parts' counts,
 * int64, parts x new columns), the second writes r and the value of every kept entry there.
 * The rows are cut into ``parts`` consecutive ranges, each counted and written by one OpenMP
 * thread; each part writes after the earlier ones within a column, so the transpose comes
 * out with sorted columns and the same for any number of threads: one counting pass instead
 * of a gather, a sort and a copy. The caller checks that indices lie within position, rows
 * within indptr, and the new columns within counts.
 */
static int submatrix_buffers_ok(Py_buffer *indptr, Py_buffer *indices, Py_buffer *rows,
                                Py_buffer *position) {
    return indptr->itemsize == 4 && indices->itemsize == 4 && rows->itemsize == 8 &&
           position->itemsize == 8;
}

static Py_ssize_t part_start(Py_ssize_t rows, int parts, int q) {
    return (Py_ssize_t)((long long)rows * q / parts);
}

static PyObject *submatrix_t_count(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, rows, position, counts;
    int parts;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*i", &indptr, &indices, &rows, &position, &counts,
                          &parts))
        return NULL;
    PyObject *result = NULL;
    if (!submatrix_buffers_ok(&indptr, &indices, &rows, &position) || counts.itemsize != 8 ||
        parts < 1 || counts.len % (8 * parts) != 0) {
        PyErr_SetString(PyExc_ValueError, "submatrix_t_count: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf;
    const int64_t *rw = rows.buf, *pos = position.buf;
    const Py_ssize_t nr = rows.len / 8, width = counts.len / 8 / parts;
    int64_t *all_counts = counts.buf;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(parts) schedule(static, 1)")
    for (int q = 0; q < parts; q++) {
        int64_t *cnt = all_counts + q * width;
        for (Py_ssize_t r = part_start(nr, parts, q); r < part_start(nr, parts, q + 1); r++)
            for (int32_t p = ip[rw[r]]; p < ip[rw[r] + 1]; p++) {
                const int64_t c = pos[ix[p]];
                if (c >= 0) cnt[c]++;
            }
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
    int parts;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*w*w*i", &indptr, &indices, &data, &rows, &position,
                          &next, &out_indices, &out_data, &parts))
        return NULL;
    PyObject *result = NULL;
    if (!submatrix_buffers_ok(&indptr, &indices, &rows, &position) || data.itemsize != 8 ||
        next.itemsize != 8 || parts < 1 || next.len % (8 * parts) != 0 ||
        out_indices.itemsize != 4 || out_data.itemsize != 8 ||
        out_data.len != 2 * out_indices.len) {
        PyErr_SetString(PyExc_ValueError, "submatrix_t_fill: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf;
    const double *dt = data.buf;
    const int64_t *rw = rows.buf, *pos = position.buf;
    int64_t *all_next = next.buf;
    int32_t *oi = out_indices.buf;
    double *od = out_data.buf;
    const Py_ssize_t nr = rows.len / 8, total = out_indices.len / 4, width = next.len / 8 / parts;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(parts) schedule(static, 1) reduction(| : overflow)")
    for (int q = 0; q < parts; q++) {
        int64_t *nx = all_next + q * width;
        for (Py_ssize_t r = part_start(nr, parts, q); r < part_start(nr, parts, q + 1) && !overflow; r++)
            for (int32_t p = ip[rw[r]]; p < ip[rw[r] + 1]; p++) {
                const int64_t c = pos[ix[p]];
                if (c < 0) continue;
                const int64_t k = nx[c]++;
                if (k < 0 || k >= total) {
                    overflow = 1;
                    break;
                }
                oi[k] = (int32_t)r;
                od[k] = dt[p];
            }
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

/* A submatrix by gathering rows (glasnost.compute.peel.submatrix_sorted).
 *
 * submatrix_rows(indptr, indices, data, rows, position, out_indptr, out_indices, out_data,
 *                sort, threads) -> kept
 *
 * Row r of the result is row rows[r] of a CSR matrix (int32 indptr and indices, float64
 * data; rows int64) with its columns relabelled by position (int32, -1: dropped), in the
 * stored order, or sorted where ``sort`` (relabelled columns come in a random order, and
 * sorting them cost twice the gather on 10^6 rows of ten: a mispredicted branch a step).
 * out_indptr (int32, rows + 1) comes holding where each row may start (the cumulative
 * lengths of the selected rows, so that out_indices and out_data hold them all); each row is
 * copied there (and sorted) by one OpenMP thread (insertion sort: rows of an input-output
 * table are short; a long row falls back to qsort), in one pass over the selected rows.
 * Where columns were dropped, the rows are then moved together and out_indptr becomes the
 * row pointer. Returns the number of entries kept. Reads each selected row once and writes
 * the result in order, where a counting transpose writes every entry to a scattered place.
 */
typedef struct {
    int32_t col;
    double value;
} entry_t;

static int entry_order(const void *a, const void *b) {
    const int32_t x = ((const entry_t *)a)->col, y = ((const entry_t *)b)->col;
    return (x > y) - (x < y);
}

static void sort_row(int32_t *cols, double *values, Py_ssize_t count) {
    if (count > 32) {
        entry_t *pairs = malloc(count * sizeof(entry_t));
        if (pairs) {
            for (Py_ssize_t i = 0; i < count; i++) pairs[i] = (entry_t){cols[i], values[i]};
            qsort(pairs, count, sizeof(entry_t), entry_order);
            for (Py_ssize_t i = 0; i < count; i++) {
                cols[i] = pairs[i].col;
                values[i] = pairs[i].value;
            }
            free(pairs);
            return;
        }
    }
    for (Py_ssize_t i = 1; i < count; i++) {
        const int32_t c = cols[i];
        const double v = values[i];
        Py_ssize_t j = i;
        for (; j > 0 && cols[j - 1] > c; j--) {
            cols[j] = cols[j - 1];
            values[j] = values[j - 1];
        }
        cols[j] = c;
        values[j] = v;
    }
}

static PyObject *submatrix_rows(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, data, rows, position, out_indptr, out_indices, out_data;
    int sort, threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*w*w*pi", &indptr, &indices, &data, &rows, &position,
                          &out_indptr, &out_indices, &out_data, &sort, &threads))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t nr = rows.len / 8, room = out_indices.len / 4;
    if (indptr.itemsize != 4 || indices.itemsize != 4 || data.itemsize != 8 || rows.itemsize != 8 ||
        position.itemsize != 4 || out_indptr.itemsize != 4 || out_indptr.len != 4 * (nr + 1) ||
        out_indices.itemsize != 4 || out_data.itemsize != 8 || out_data.len != 2 * out_indices.len ||
        ((const int32_t *)out_indptr.buf)[nr] != room) {
        PyErr_SetString(PyExc_ValueError, "submatrix_rows: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf, *pos = position.buf;
    const double *dt = data.buf;
    const int64_t *rw = rows.buf;
    int32_t *op = out_indptr.buf, *oi = out_indices.buf;
    double *od = out_data.buf;
    int32_t *kept = malloc((nr + 1) * sizeof(int32_t));
    if (!kept) {
        PyErr_NoMemory();
        goto done;
    }
    int bad = 0;
    int64_t total = 0;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(dynamic, 4096) reduction(| : bad)")
    for (Py_ssize_t r = 0; r < nr; r++) {
        const int32_t first = op[r];
        int32_t k = first;
        if (ip[rw[r] + 1] - ip[rw[r]] > op[r + 1] - first) bad = 1;
        for (int32_t p = ip[rw[r]]; p < ip[rw[r] + 1] && !bad; p++) {
            const int32_t c = pos[ix[p]];
            if (c < 0) continue;
            oi[k] = c;
            od[k++] = dt[p];
        }
        kept[r] = k - first;
        if (sort) sort_row(oi + first, od + first, k - first);
    }
    if (!bad) {  /* move the rows together where columns were dropped */
        int32_t end = 0;
        for (Py_ssize_t r = 0; r < nr; r++) {
            const int32_t first = op[r];
            if (first != end) {
                memmove(oi + end, oi + first, kept[r] * sizeof(int32_t));
                memmove(od + end, od + first, kept[r] * sizeof(double));
            }
            op[r] = end;
            end += kept[r];
        }
        op[nr] = end;
        total = end;
    }
    Py_END_ALLOW_THREADS
    free(kept);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "submatrix_rows: out_indptr leaves a row too little room");
        goto done;
    }
    result = PyLong_FromLongLong((long long)total);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&position);
    PyBuffer_Release(&out_indptr);
    PyBuffer_Release(&out_indices);
    PyBuffer_Release(&out_data);
    return result;
}

/* The levels of the solver's peeling (glasnost.compute.peel.peel_levels).
 *
 * peel(indptr, indices, users, order, starts, min_size) -> levels
 *
 * users (int64, one per product, changed in place) counts each product's users: entries in
 * its column of the off-diagonal CSR matrix off_t (int32 indptr and indices; row j holds the
 * inputs of product j). Level 0 is the products with no user; each product whose last user
 * is in level L joins level L + 1. The products of each level go to order (int32), sorted,
 * starting at starts[level] (int64, as many levels as it may hold, plus one); it stops when
 * starts is full, at an empty level, or after a level smaller than min_size. Returns the
 * number of levels: one pass over the peeled products' entries, where numpy scans every
 * product once a level.
 */
static int int32_order(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static PyObject *peel(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, users, order, starts;
    Py_ssize_t min_size;
    if (!PyArg_ParseTuple(args, "y*y*w*w*w*n", &indptr, &indices, &users, &order, &starts,
                          &min_size))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = users.len / 8, max_levels = starts.len / 8 - 1;
    if (indptr.itemsize != 4 || indptr.len != 4 * (n + 1) || indices.itemsize != 4 ||
        users.itemsize != 8 || order.itemsize != 4 || order.len != 4 * n || starts.itemsize != 8 ||
        max_levels < 0) {
        PyErr_SetString(PyExc_ValueError, "peel: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf;
    int64_t *left = users.buf, *st = starts.buf;
    int32_t *out = order.buf;
    Py_ssize_t levels = 0, end = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++)
        if (left[i] == 0) out[end++] = (int32_t)i;
    Py_ssize_t first = 0;
    st[0] = 0;
    while (levels < max_levels && end > first) {
        const Py_ssize_t last = end;  /* this level: out[first .. last) */
        qsort(out + first, last - first, sizeof(int32_t), int32_order);
        st[++levels] = last;
        if (last - first < min_size) break;
        for (Py_ssize_t k = first; k < last; k++)
            for (int32_t p = ip[out[k]]; p < ip[out[k] + 1]; p++)
                if (--left[ix[p]] == 0) out[end++] = ix[p];
        first = last;
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(levels);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&users);
    PyBuffer_Release(&order);
    PyBuffer_Release(&starts);
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

/* Two fused passes over the columns of the interior point of glasnost.compute.sifting.
 *
 * Columns j = 0..n-1 of A (rows x n, C order) with x in (0, 1), t = 1 - x, bound duals zl, zu,
 * prices y. With r1 = sm - x zl - dxa dzla and r2 = sm - t zu + dxa dzua (dxa, dzla, dzua
 * empty: zeros; the predictor), ipm_rhs forms h = c - A^T y - zl + zu - r1 / x + r2 / t, and,
 * when `normal` is given, theta = 1 / (zl / x + zu / t) and the normal matrix sum theta a a^T
 * (else theta is read); it sums rhs = A (theta h), A x, x zl + t zu and max |c - A^T y - zl + zu|
 * into out = [rhs (rows), A x (rows), comp, max dual residual]. ipm_step, given dy, forms
 * dx = theta (A^T dy - h), dzl = (r1 - zl dx) / x, dzu = (r2 + zu dx) / t and
 * out = [max -dx/x, max dx/t, max -dzl/zl, max -dzu/zu] (steps are 1 / these).
 * Sums are kept per chunk and added in chunk order (results independent of the threads). */
#define IPM_CHUNK 4096

static int ipm_sizes(Py_ssize_t rows, Py_ssize_t n, Py_buffer *vectors[], int count) {
    for (int i = 0; i < count; i++)
        if (vectors[i]->itemsize != 8 || (vectors[i]->len != n * 8 && !(i >= count - 3 && vectors[i]->len == 0)))
            return 0;
    return rows > 0 && n >= 0;
}

static PyObject *ipm_rhs(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer A, c, y, x, t, zl, zu, dxa, dzla, dzua, theta, h, normal, out;
    double sm;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*dy*y*y*w*w*w*w*i", &A, &c, &y, &x, &t, &zl, &zu, &sm, &dxa,
                          &dzla, &dzua, &theta, &h, &normal, &out, &threads))
        return NULL;
    PyObject *result = NULL;
    double *part = NULL;
    const Py_ssize_t rows = y.len / 8, n = x.len / 8;
    Py_buffer *vectors[] = {&c, &x, &t, &zl, &zu, &theta, &h, &dxa, &dzla, &dzua};
    const int with_normal = normal.len > 0;
    if (threads < 1 || y.itemsize != 8 || A.itemsize != 8 || A.len != rows * n * 8 ||
        !ipm_sizes(rows, n, vectors, 10) || (dxa.len != dzla.len || dxa.len != dzua.len) ||
        (with_normal && normal.len != rows * rows * 8) || out.len != (2 * rows + 2) * 8) {
        PyErr_SetString(PyExc_ValueError, "ipm_rhs: inconsistent buffer sizes or types");
        goto done;
    }
    const Py_ssize_t chunks = (n + IPM_CHUNK - 1) / IPM_CHUNK, width = rows * rows + 2 * rows + 2;
    part = PyMem_RawCalloc(chunks > 0 ? (size_t)(chunks * width) : 1, sizeof(double));
    if (part == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const double *a = A.buf, *cv = c.buf, *yv = y.buf, *xv = x.buf, *tv = t.buf, *zlv = zl.buf, *zuv = zu.buf;
    const double *da = dxa.len ? dxa.buf : NULL, *dla = dzla.buf, *dua = dzua.buf;
    double *th = theta.buf, *hv = h.buf;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(static)")
    for (Py_ssize_t q = 0; q < chunks; q++) {
        double *pn = part + q * width, *prhs = pn + rows * rows, *pax = prhs + rows;
        const Py_ssize_t end = (q + 1) * IPM_CHUNK < n ? (q + 1) * IPM_CHUNK : n;
        for (Py_ssize_t j = q * IPM_CHUNK; j < end; j++) {
            double aty = 0.0;
            for (Py_ssize_t i = 0; i < rows; i++) aty += a[i * n + j] * yv[i];
            const double xj = xv[j], tj = tv[j], zlj = zlv[j], zuj = zuv[j];
            const double rd = cv[j] - aty - zlj + zuj;
            double thj;
            if (with_normal) {
                thj = 1.0 / (zlj / xj + zuj / tj);
                th[j] = thj;
            } else {
                thj = th[j];
            }
            double r1 = sm - xj * zlj, r2 = sm - tj * zuj;
            if (da) {
                r1 -= da[j] * dla[j];
                r2 += da[j] * dua[j];
            }
            const double hj = rd - r1 / xj + r2 / tj;
            hv[j] = hj;
            const double w = thj * hj;
            for (Py_ssize_t i = 0; i < rows; i++) {
                const double ai = a[i * n + j];
                prhs[i] += ai * w;
                pax[i] += ai * xj;
                if (with_normal) {
                    const double tai = thj * ai;
                    for (Py_ssize_t k = 0; k <= i; k++) pn[i * rows + k] += tai * a[k * n + j];
                }
            }
            pax[rows] += xj * zlj + tj * zuj;
            const double ard = rd < 0 ? -rd : rd;
            if (ard > pax[rows + 1]) pax[rows + 1] = ard;
        }
    }
    Py_END_ALLOW_THREADS
    double *o = out.buf, *nm = with_normal ? normal.buf : NULL;
    for (Py_ssize_t i = 0; i < 2 * rows + 2; i++) o[i] = 0.0;
    if (nm)
        for (Py_ssize_t i = 0; i < rows * rows; i++) nm[i] = 0.0;
    for (Py_ssize_t q = 0; q < chunks; q++) {
        const double *pn = part + q * width, *rest = pn + rows * rows;
        if (nm)
            for (Py_ssize_t i = 0; i < rows; i++)
                for (Py_ssize_t k = 0; k <= i; k++) nm[i * rows + k] += pn[i * rows + k];
        for (Py_ssize_t i = 0; i < 2 * rows + 1; i++) o[i] += rest[i];
        if (rest[2 * rows + 1] > o[2 * rows + 1]) o[2 * rows + 1] = rest[2 * rows + 1];
    }
    if (nm)
        for (Py_ssize_t i = 0; i < rows; i++)
            for (Py_ssize_t k = 0; k < i; k++) nm[k * rows + i] = nm[i * rows + k];
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(part);
    PyBuffer_Release(&A);
    PyBuffer_Release(&c);
    PyBuffer_Release(&y);
    PyBuffer_Release(&x);
    PyBuffer_Release(&t);
    PyBuffer_Release(&zl);
    PyBuffer_Release(&zu);
    PyBuffer_Release(&dxa);
    PyBuffer_Release(&dzla);
    PyBuffer_Release(&dzua);
    PyBuffer_Release(&theta);
    PyBuffer_Release(&h);
    PyBuffer_Release(&normal);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *ipm_step(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer A, dy, theta, h, x, t, zl, zu, dxa, dzla, dzua, dx, dzl, dzu, out;
    double sm;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*dy*y*y*w*w*w*w*i", &A, &dy, &theta, &h, &x, &t, &zl, &zu, &sm,
                          &dxa, &dzla, &dzua, &dx, &dzl, &dzu, &out, &threads))
        return NULL;
    PyObject *result = NULL;
    double *part = NULL;
    const Py_ssize_t rows = dy.len / 8, n = x.len / 8;
    Py_buffer *vectors[] = {&theta, &h, &x, &t, &zl, &zu, &dx, &dzl, &dzu, &dxa, &dzla, &dzua};
    if (threads < 1 || dy.itemsize != 8 || A.itemsize != 8 || A.len != rows * n * 8 ||
        !ipm_sizes(rows, n, vectors, 12) || (dxa.len != dzla.len || dxa.len != dzua.len) || out.len != 4 * 8) {
        PyErr_SetString(PyExc_ValueError, "ipm_step: inconsistent buffer sizes or types");
        goto done;
    }
    const Py_ssize_t chunks = (n + IPM_CHUNK - 1) / IPM_CHUNK;
    part = PyMem_RawCalloc(chunks > 0 ? (size_t)(chunks * 4) : 1, sizeof(double));
    if (part == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const double *a = A.buf, *dyv = dy.buf, *th = theta.buf, *hv = h.buf, *xv = x.buf, *tv = t.buf;
    const double *zlv = zl.buf, *zuv = zu.buf, *da = dxa.len ? dxa.buf : NULL, *dla = dzla.buf, *dua = dzua.buf;
    double *dxv = dx.buf, *dzlv = dzl.buf, *dzuv = dzu.buf;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(static)")
    for (Py_ssize_t q = 0; q < chunks; q++) {
        double *p = part + 4 * q;
        const Py_ssize_t end = (q + 1) * IPM_CHUNK < n ? (q + 1) * IPM_CHUNK : n;
        for (Py_ssize_t j = q * IPM_CHUNK; j < end; j++) {
            double ady = 0.0;
            for (Py_ssize_t i = 0; i < rows; i++) ady += a[i * n + j] * dyv[i];
            const double xj = xv[j], tj = tv[j], zlj = zlv[j], zuj = zuv[j];
            double r1 = sm - xj * zlj, r2 = sm - tj * zuj;
            if (da) {
                r1 -= da[j] * dla[j];
                r2 += da[j] * dua[j];
            }
            const double d = th[j] * (ady - hv[j]);
            const double dl = (r1 - zlj * d) / xj, du = (r2 + zuj * d) / tj;
            dxv[j] = d;
            dzlv[j] = dl;
            dzuv[j] = du;
            const double s0 = -d / xj, s1 = d / tj, s2 = -dl / zlj, s3 = -du / zuj;
            if (s0 > p[0]) p[0] = s0;
            if (s1 > p[1]) p[1] = s1;
            if (s2 > p[2]) p[2] = s2;
            if (s3 > p[3]) p[3] = s3;
        }
    }
    Py_END_ALLOW_THREADS
    double *o = out.buf;
    o[0] = o[1] = o[2] = o[3] = 0.0;
    for (Py_ssize_t q = 0; q < chunks; q++)
        for (int i = 0; i < 4; i++)
            if (part[4 * q + i] > o[i]) o[i] = part[4 * q + i];
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(part);
    PyBuffer_Release(&A);
    PyBuffer_Release(&dy);
    PyBuffer_Release(&theta);
    PyBuffer_Release(&h);
    PyBuffer_Release(&x);
    PyBuffer_Release(&t);
    PyBuffer_Release(&zl);
    PyBuffer_Release(&zu);
    PyBuffer_Release(&dxa);
    PyBuffer_Release(&dzla);
    PyBuffer_Release(&dzua);
    PyBuffer_Release(&dx);
    PyBuffer_Release(&dzl);
    PyBuffer_Release(&dzu);
    PyBuffer_Release(&out);
    return result;
}

/* ---- the synthetic generator (glasnost.data.synthetic) ---- */

/* Draws of the generator's Zipf suppliers (glasnost.data.synthetic.zipf_suppliers).
 *
 * zipf_rows(cdf, start, u, perm, out, threads)
 *
 *     out[i] = perm[min(searchsorted(cdf, u[i], side="right"), n - 1)]
 *
 * for the increasing cdf (float64, n entries), draws u in [0, 1) (float64) and a permutation
 * perm (int64) into out (int32). start[b] (int32, a power of two B of buckets) is the number of
 * cdf entries at or below b / B, so the search starts at start[floor(u B)] and steps over
 * the few entries between there and u: the answer of a binary search, without one.
 */
static PyObject *zipf_rows(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer cdf, start, u, perm, out;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*i", &cdf, &start, &u, &perm, &out, &threads))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = cdf.len / 8, buckets = start.len / 4, size = u.len / 8;
    if (threads < 1 || cdf.itemsize != 8 || start.itemsize != 4 || u.itemsize != 8 ||
        perm.itemsize != 8 || out.itemsize != 4 || n < 1 || perm.len != 8 * n ||
        out.len != 4 * size || buckets < 1 || (buckets & (buckets - 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "zipf_rows: inconsistent buffer sizes or types");
        goto done;
    }
    const double *c = cdf.buf, *uv = u.buf;
    const int32_t *st = start.buf;
    const int64_t *pm = perm.buf;
    int32_t *ov = out.buf;
    const double scale = (double)buckets;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(static) reduction(|: bad)")
    for (Py_ssize_t i = 0; i < size; i++) {
        const double x = uv[i];
        const Py_ssize_t b = (Py_ssize_t)(x * scale);  /* exact: the scale is a power of two */
        if (!(x >= 0.0) || b >= buckets) {
            bad = 1;
            continue;
        }
        Py_ssize_t f = st[b];
        while (f < n && c[f] <= x) f++;
        ov[i] = (int32_t)pm[f < n ? f : n - 1];
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "zipf_rows: a draw outside [0, 1)");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&cdf);
    PyBuffer_Release(&start);
    PyBuffer_Release(&u);
    PyBuffer_Release(&perm);
    PyBuffer_Release(&out);
    return result;
}

/* The columns of the generator's input matrix, as scipy's COO to CSC conversion leaves them.
 *
 * merge_columns(rows, data, k, indptr, threads) -> nnz
 *
 * rows (int32) and data (float64) hold k entries per column, column after column. Each
 * column's entries are sorted by row, keeping the drawn order among equal rows (an insertion
 * sort: what scipy's sort of a row of at most 16 entries is), and the entries of a repeated row
 * summed in that order into one (as scipy's sum_duplicates does); the columns are then moved
 * together at the front of rows and data, in place, and indptr (int32, one more than the
 * columns) receives their starts. Returns the number of entries kept.
 */
static Py_ssize_t merge_column(int32_t *r, double *v, Py_ssize_t k) {
    for (Py_ssize_t a = 1; a < k; a++) {
        const int32_t key = r[a];
        const double val = v[a];
        Py_ssize_t b = a;
        for (; b > 0 && r[b - 1] > key; b--) {
            r[b] = r[b - 1];
            v[b] = v[b - 1];
        }
        r[b] = key;
        v[b] = val;
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t a = 0; a < k; kept++) {
        double sum = v[a];
        const int32_t key = r[a++];
        while (a < k && r[a] == key) sum += v[a++];
        r[kept] = key;
        v[kept] = sum;
    }
    return kept;
}

static PyObject *merge_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer rows, data, indptr;
    Py_ssize_t k;
    int threads;
    if (!PyArg_ParseTuple(args, "w*w*nw*i", &rows, &data, &k, &indptr, &threads)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t cols = indptr.len / 4 - 1;
    if (threads < 1 || k < 1 || cols < 0 || rows.itemsize != 4 || data.itemsize != 8 ||
        indptr.itemsize != 4 || rows.len != 4 * k * cols || data.len != 8 * k * cols ||
        k * cols > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "merge_columns: inconsistent buffer sizes or types");
        goto done;
    }
    int32_t *r = rows.buf, *ip = indptr.buf;
    double *v = data.buf;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(static)")
    for (Py_ssize_t j = 0; j < cols; j++) ip[j + 1] = (int32_t)merge_column(r + j * k, v + j * k, k);
    ip[0] = 0;
    for (Py_ssize_t j = 0; j < cols; j++) {  /* in place, front to back: a column only moves down */
        const int32_t count = ip[j + 1], to = ip[j];
        memmove(r + to, r + j * k, (size_t)count * sizeof(int32_t));
        memmove(v + to, v + j * k, (size_t)count * sizeof(double));
        ip[j + 1] = to + count;
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(ip[cols]);
done:
    PyBuffer_Release(&rows);
    PyBuffer_Release(&data);
    PyBuffer_Release(&indptr);
    return result;
}

/* Columns scaled and summed (glasnost.data.synthetic).
 *
 * scale_columns(indptr, data, factor, sums, threads)
 *
 *     data[p] *= factor[j] for the entries p of column j (int32 indptr, float64 data),
 *     sums[j] = the scaled entries of column j added from 0 in their stored order
 *
 * which is the sum scipy's csc_matvec forms for each column of ``ones @ A`` (A's column sums
 * through its CSR form), bit for bit.
 */
static PyObject *scale_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, data, factor, sums;
    int threads;
    if (!PyArg_ParseTuple(args, "y*w*y*w*i", &indptr, &data, &factor, &sums, &threads)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t cols = indptr.len / 4 - 1;
    if (threads < 1 || cols < 0 || indptr.itemsize != 4 || data.itemsize != 8 ||
        factor.itemsize != 8 || sums.itemsize != 8 || factor.len != 8 * cols ||
        sums.len != 8 * cols || ((const int32_t *)indptr.buf)[cols] > data.len / 8) {
        PyErr_SetString(PyExc_ValueError, "scale_columns: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf;
    const double *f = factor.buf;
    double *v = data.buf, *s = sums.buf;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(threads) schedule(static)")
    for (Py_ssize_t j = 0; j < cols; j++) {
        double sum = 0.0;
        for (int32_t p = ip[j]; p < ip[j + 1]; p++) {
            v[p] *= f[j];
            sum += v[p];
        }
        s[j] = sum;
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&data);
    PyBuffer_Release(&factor);
    PyBuffer_Release(&sums);
    return result;
}

/* Where each band of rows starts in every column of a CSC matrix (for csc_step).
 *
 * band_starts(indptr, indices, bands, starts)
 *
 * For a square CSC matrix of n columns with sorted rows in each column (int32 indptr and
 * indices) and bands + 1 row bounds lo_t = t n / bands, starts (int32, (bands + 1) n) receives
 * at t n + j the first entry of column j whose row is at least lo_t (so starts[j] = indptr[j]
 * and starts[bands n + j] = indptr[j + 1]).
 */
static PyObject *band_starts(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer indptr, indices, starts;
    int bands;
    if (!PyArg_ParseTuple(args, "y*y*iw*", &indptr, &indices, &bands, &starts)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = indptr.len / 4 - 1;
    if (bands < 1 || n < 0 || indptr.itemsize != 4 || indices.itemsize != 4 ||
        starts.itemsize != 4 || starts.len != 4 * (Py_ssize_t)(bands + 1) * n ||
        ((const int32_t *)indptr.buf)[n] > indices.len / 4) {
        PyErr_SetString(PyExc_ValueError, "band_starts: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ip = indptr.buf, *ix = indices.buf;
    int32_t *st = starts.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = 0; j < n; j++) {
        int32_t p = ip[j];
        for (int t = 0; t < bands; t++) {
            const Py_ssize_t lo = (Py_ssize_t)t * n / bands;
            while (p < ip[j + 1] && ix[p] < lo) p++;
            st[(Py_ssize_t)t * n + j] = p;
        }
        st[(Py_ssize_t)bands * n + j] = ip[j + 1];
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&starts);
    return result;
}

/* One step of the Neumann iteration x <- d + A x on the columns of A (glasnost.data.synthetic).
 *
 * csc_step(starts, indices, data, x, d, out, bands) -> (max |out - x|, max |out|)
 *
 *     out[i] = d[i] + sum_j A[i, j] x[j], the sum over the columns j in increasing order from 0
 *
 * for a square CSC matrix with sorted rows in each column (int32 indices, float64 data) and
 * starts from band_starts. Row i of A's CSR form holds its columns in increasing order, so
 * each row's sum is the one scipy's csr_matvec forms, bit for bit. Each of the ``bands``
 * OpenMP threads adds into its own band of rows; reading the columns in order spreads the
 * writes over the rows the Zipf draws favour, which stay in cache.
 */
static PyObject *csc_step(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer starts, indices, data, x, d, out;
    int bands;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*i", &starts, &indices, &data, &x, &d, &out, &bands))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = x.len / 8;
    if (bands < 1 || starts.itemsize != 4 || indices.itemsize != 4 || data.itemsize != 8 ||
        x.itemsize != 8 || d.itemsize != 8 || out.itemsize != 8 || d.len != 8 * n ||
        out.len != 8 * n || starts.len != 4 * (Py_ssize_t)(bands + 1) * n ||
        data.len != 2 * indices.len ||
        (n && ((const int32_t *)starts.buf)[(Py_ssize_t)bands * n + n - 1] > indices.len / 4)) {
        PyErr_SetString(PyExc_ValueError, "csc_step: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *st = starts.buf, *ix = indices.buf;
    const double *dt = data.buf, *xv = x.buf, *dv = d.buf;
    double *ov = out.buf;
    double diff = 0.0, size = 0.0;
    Py_BEGIN_ALLOW_THREADS
    _Pragma("omp parallel for num_threads(bands) schedule(static, 1) reduction(max: diff, size)")
    for (int t = 0; t < bands; t++) {
        const Py_ssize_t lo = (Py_ssize_t)t * n / bands, hi = (Py_ssize_t)(t + 1) * n / bands;
        const int32_t *first = st + (Py_ssize_t)t * n, *last = first + n;
        for (Py_ssize_t i = lo; i < hi; i++) ov[i] = 0.0;
        for (Py_ssize_t j = 0; j < n; j++) {
            const double xj = xv[j];
            for (int32_t p = first[j]; p < last[j]; p++) ov[ix[p]] += dt[p] * xj;
        }
        for (Py_ssize_t i = lo; i < hi; i++) {
            const double o = dv[i] + ov[i];
            ov[i] = o;
            const double a = fabs(o), e = fabs(o - xv[i]);
            if (e > diff) diff = e;
            if (a > size) size = a;
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("dd", diff, size);
done:
    PyBuffer_Release(&starts);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&x);
    PyBuffer_Release(&d);
    PyBuffer_Release(&out);
    return result;
}

/* The input rows of one process per product (glasnost.data.synthetic._inputs_by_process).
 *
 * append_columns(a_indptr, a_indices, a_data, l_indptr, l_indices, l_data, offset,
 *                out_indptr, out_indices, out_data, threads)
 *
 * Row j of the output is column j of A (a CSC matrix) followed by column j of L (another,
 * its row indices shifted by offset): int32 pointers and indices, float64 values; out_indptr
 * (int32, one more than the columns) receives the row starts. A copy per row, on threads.
 */
static PyObject *append_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer aip, aix, adt, lip, lix, ldt, oip, oix, odt;
    Py_ssize_t offset;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*nw*w*w*i", &aip, &aix, &adt, &lip, &lix, &ldt, &offset,
                          &oip, &oix, &odt, &threads))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = aip.len / 4 - 1;
    Py_buffer *ints[] = {&aip, &aix, &lip, &lix, &oip, &oix};
    int ok = threads >= 1 && n >= 0 && lip.len == aip.len && oip.len == aip.len &&
             adt.itemsize == 8 && ldt.itemsize == 8 && odt.itemsize == 8 &&
             adt.len == 2 * aix.len && ldt.len == 2 * lix.len && odt.len == 2 * oix.len &&
             offset >= 0 && offset <= INT32_MAX;
    for (int q = 0; q < 6; q++) ok = ok && ints[q]->itemsize == 4;
    if (ok) {
        const int32_t a_end = ((const int32_t *)aip.buf)[n], l_end = ((const int32_t *)lip.buf)[n];
        ok = a_end <= aix.len / 4 && l_end <= lix.len / 4 &&
             (Py_ssize_t)a_end + l_end <= oix.len / 4;
    }
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "append_columns: inconsistent buffer sizes or types");
        goto done;
    }
    const int32_t *ap = aip.buf, *ai = aix.buf, *lp = lip.buf, *li = lix.buf;
    const double *ad = adt.buf, *ld = ldt.buf;
    int32_t *op = oip.buf, *oi = oix.buf;
    double *od = odt.buf;
    const int32_t shift = (int32_t)offset;
    Py_BEGIN_ALLOW_THREADS
    op[0] = 0;
    for (Py_ssize_t j = 0; j < n; j++) op[j + 1] = op[j] + (ap[j + 1] - ap[j]) + (lp[j + 1] - lp[j]);
    _Pragma("omp parallel for num_threads(threads) schedule(static)")
    for (Py_ssize_t j = 0; j < n; j++) {
        int32_t to = op[j];
        for (int32_t p = ap[j]; p < ap[j + 1]; p++, to++) {
            oi[to] = ai[p];
            od[to] = ad[p];
        }
        for (int32_t p = lp[j]; p < lp[j + 1]; p++, to++) {
            oi[to] = li[p] + shift;
            od[to] = ld[p];
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&aip);
    PyBuffer_Release(&aix);
    PyBuffer_Release(&adt);
    PyBuffer_Release(&lip);
    PyBuffer_Release(&lix);
    PyBuffer_Release(&ldt);
    PyBuffer_Release(&oip);
    PyBuffer_Release(&oix);
    PyBuffer_Release(&odt);
    return result;
}


static PyMethodDef methods[] = {
    {"residual", residual, METH_VARARGS,
     "residual(indptr, indices, data, x, r, w, out, sums, threads): the fused CSR residual "
     "out = r - x + M x with ||out||^2 and w @ out; see the module source."},
    {"residual_block", residual_block, METH_VARARGS,
     "residual_block(indptr, indices, data, x, r, w, out, sums, k, threads): the fused CSR "
     "residuals of k vectors at once, x, r and out (m, k) row-major; see the module source."},
    {"deflated_update", deflated_update, METH_VARARGS,
     "deflated_update(e, s, u, coef, threads): e = (e + s) + u coef in place, for (m, k) "
     "blocks e and s; see the module source."},
    {"submatrix_t_count", submatrix_t_count, METH_VARARGS,
     "submatrix_t_count(indptr, indices, rows, position, counts, parts): entries per new "
     "column of a transposed submatrix, per part of the rows; see the module source."},
    {"submatrix_t_fill", submatrix_t_fill, METH_VARARGS,
     "submatrix_t_fill(indptr, indices, data, rows, position, next, out_indices, out_data, "
     "parts): the transposed submatrix's entries; see the module source."},
    {"submatrix_rows", submatrix_rows, METH_VARARGS,
     "submatrix_rows(indptr, indices, data, rows, position, out_indptr, out_indices, out_data, "
     "sort, threads): gathered rows with relabelled (and sorted) columns; returns how many "
     "entries; see the module source."},
    {"peel", peel, METH_VARARGS,
     "peel(indptr, indices, users, order, starts, min_size): the products of each level of the "
     "peeling, in order; returns how many levels; see the module source."},
    {"off_diagonal", off_diagonal, METH_VARARGS,
     "off_diagonal(indptr, indices, data, out_indptr, out_indices, out_data): the entries off "
     "the diagonal and not zero, row by row; returns how many; see the module source."},
    {"product", product, METH_VARARGS,
     "product(indptr, indices, data, x, out, threads): out = M x, each row summed in scipy's "
     "order, on OpenMP threads; see the module source."},
    {"ipm_rhs", ipm_rhs, METH_VARARGS,
     "ipm_rhs(A, c, y, x, t, zl, zu, sm, dxa, dzla, dzua, theta, h, normal, out, threads): the "
     "interior point's right-hand side (and normal matrix); see the module source."},
    {"ipm_step", ipm_step, METH_VARARGS,
     "ipm_step(A, dy, theta, h, x, t, zl, zu, sm, dxa, dzla, dzua, dx, dzl, dzu, out, threads): "
     "the interior point's direction and step ratios; see the module source."},
    {"zipf_rows", zipf_rows, METH_VARARGS,
     "zipf_rows(cdf, start, u, perm, out, threads): the generator's Zipf supplier draws; see the "
     "module source."},
    {"merge_columns", merge_columns, METH_VARARGS,
     "merge_columns(rows, data, k, indptr, threads) -> nnz: k drawn entries per column sorted "
     "and merged in place; see the module source."},
    {"scale_columns", scale_columns, METH_VARARGS,
     "scale_columns(indptr, data, factor, sums, threads): columns scaled, then summed in order; "
     "see the module source."},
    {"band_starts", band_starts, METH_VARARGS,
     "band_starts(indptr, indices, bands, starts): where each band of rows starts in every "
     "column; see the module source."},
    {"csc_step", csc_step, METH_VARARGS,
     "csc_step(starts, indices, data, x, d, out, bands) -> (max |out - x|, max |out|): "
     "out = d + A x on A's columns; see the module source."},
    {"append_columns", append_columns, METH_VARARGS,
     "append_columns(a_indptr, a_indices, a_data, l_indptr, l_indices, l_data, offset, "
     "out_indptr, out_indices, out_data, threads): rows of A's columns followed by L's; see the "
     "module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "The fused sparse residual of glasnost.compute.linear and the set-up's submatrix.",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
