/*
 * _lpparse: C accelerator for pe_engine.lineprotocol.parse.
 *
 * parse(body: bytes, factor: int, default_time: int, error_message,
 *       max_errors: int = -1, limits: tuple | None = None) -> (tables, errors, error_count)
 *   tables: list of (name, rows, line_numbers, times, tags, fields, index) in
 *           first-seen order; tags = {key: list}, fields = {key: (field_type_int,
 *           list)}, index = {key: bytes of int64 row numbers} for sparse columns.
 *           A column holds only the values present: a column every row has is
 *           dense (no index entry), any other one lists its rows in index, so
 *           memory follows the cells of the body, not rows x columns.
 *   errors: list of (line_number, raw_line_bytes (cut to ERROR_RAW_MAX), message),
 *           at most max_errors of them (all when negative); error_count counts
 *           every rejected line.
 *   limits: (database, max_tables, max_columns, known_tables, columns_of): stop
 *           a body at what the catalog can take. columns_of(table) gives the
 *           catalog's columns of a table (time included) or None for a new table;
 *           a dict key -> kind (-1 tag, -2 time, else the field type) also fixes
 *           the types, so a line that disagrees with the catalog is rejected here. A line that would create a table past max_tables or give its
 *           table more than max_columns columns is rejected (0 = no limit).
 *
 * The grammar is the one documented in parse.py; parse_lp_python is the
 * reference and a hypothesis differential test keeps the two identical. For a
 * line this code rejects for a syntax reason it calls error_message(stripped
 * line bytes, factor) so the wording comes from the reference implementation.
 * Type-conflict messages (which depend on earlier lines) are produced here.
 *
 * Speed comes from: one pass over the bytes, no per-line Python objects except
 * the values themselves, a per-body intern table (repeated tag values and keys
 * share one str), per-position caches of the previous line's keys, exact fast
 * float conversion (Clinger, Eisel-Lemire) before falling back to CPython's
 * strtod, and column arrays that are turned into lists once at the end.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

enum { KIND_TIME = -2, KIND_TAG = -1, FT_FLOAT = 0, FT_INT = 1, FT_UINT = 2, FT_STRING = 3, FT_BOOL = 4 };

/* ---------------------------------------------------------------- classes */

#define C_COMMA 1
#define C_SPACE 2
#define C_EQ 4
#define C_BSL 8
#define C_DIGIT 16

static unsigned char cls[256];

#define STOP_MEAS (C_COMMA | C_SPACE | C_BSL)
#define STOP_KEY (C_COMMA | C_SPACE | C_EQ | C_BSL)
#define STOP_TAGVAL (C_COMMA | C_SPACE | C_BSL)
#define ESC_MEAS (C_COMMA | C_SPACE | C_BSL)
#define ESC_KEY (C_COMMA | C_SPACE | C_EQ | C_BSL)

#define IS_DIGIT(c) (cls[(unsigned char)(c)] & C_DIGIT)

static void init_classes(void)
{
    memset(cls, 0, sizeof(cls));
    cls[(unsigned char)','] = C_COMMA;
    cls[(unsigned char)' '] = C_SPACE;
    cls[(unsigned char)'='] = C_EQ;
    cls[(unsigned char)'\\'] = C_BSL;
    for (int c = '0'; c <= '9'; c++)
        cls[c] = C_DIGIT;
}

/* ---------------------------------------------------------------- ObjVec */

/* A growable array of owned references, turned into a list at the end. */
typedef struct {
    PyObject **items;
    Py_ssize_t len, cap;
} ObjVec;

static int vec_reserve(ObjVec *v, Py_ssize_t need)
{
    if (need <= v->cap)
        return 0;
    Py_ssize_t cap = v->cap ? v->cap : 16;
    while (cap < need)
        cap *= 2;
    PyObject **items = PyMem_Realloc(v->items, (size_t)cap * sizeof(PyObject *));
    if (items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->items = items;
    v->cap = cap;
    return 0;
}

/* Steals o (also on failure). */
static inline int vec_push(ObjVec *v, PyObject *o)
{
    if (v->len == v->cap && vec_reserve(v, v->len + 1) < 0) {
        Py_DECREF(o);
        return -1;
    }
    v->items[v->len++] = o;
    return 0;
}

/* Moves the references into a new list (the vector is left empty). */
static PyObject *vec_to_list(ObjVec *v)
{
    PyObject *list = PyList_New(v->len);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < v->len; i++)
        PyList_SET_ITEM(list, i, v->items[i]);
    v->len = 0;
    return list;
}

static void vec_free(ObjVec *v)
{
    for (Py_ssize_t i = 0; i < v->len; i++)
        Py_DECREF(v->items[i]);
    PyMem_Free(v->items);
    v->items = NULL;
    v->len = v->cap = 0;
}

/* ---------------------------------------------------------------- intern */

typedef struct {
    const char *p; /* UTF-8 bytes of obj (owned by obj) */
    Py_ssize_t n;
    uint64_t h;
    PyObject *obj; /* owned; NULL = empty slot */
    Py_ssize_t table; /* index of the table with this name, or -1 */
} IEntry;

typedef struct {
    IEntry *slots;
    size_t mask, used;
    uint64_t seed;
} Intern;

static uint64_t hash_seed;

static inline uint64_t hash_bytes(const char *p, Py_ssize_t n, uint64_t seed)
{
    uint64_t h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, p, (size_t)n);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
    }
    h *= 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    return h;
}

static int intern_init(Intern *in)
{
    in->mask = 255;
    in->used = 0;
    in->seed = hash_seed;
    in->slots = PyMem_Calloc(in->mask + 1, sizeof(IEntry));
    if (in->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void intern_free(Intern *in)
{
    if (in->slots == NULL)
        return;
    for (size_t i = 0; i <= in->mask; i++)
        Py_XDECREF(in->slots[i].obj);
    PyMem_Free(in->slots);
    in->slots = NULL;
}

static int intern_grow(Intern *in)
{
    size_t nmask = in->mask * 2 + 1;
    IEntry *ns = PyMem_Calloc(nmask + 1, sizeof(IEntry));
    if (ns == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= in->mask; i++) {
        IEntry *e = &in->slots[i];
        if (e->obj == NULL)
            continue;
        size_t j = (size_t)e->h & nmask;
        while (ns[j].obj != NULL)
            j = (j + 1) & nmask;
        ns[j] = *e;
    }
    PyMem_Free(in->slots);
    in->slots = ns;
    in->mask = nmask;
    return 0;
}

static PyObject *make_str(const char *p, Py_ssize_t n, int ascii)
{
    if (ascii) {
        PyObject *o = PyUnicode_New(n, 127);
        if (o != NULL && n > 0)
            memcpy(PyUnicode_DATA(o), p, (size_t)n);
        return o;
    }
    return PyUnicode_DecodeUTF8(p, n, "strict");
}

/*
 * Find or create the str for bytes p[0:n]. Returns the entry (valid only until
 * the next intern_get call, which may grow the table) or NULL with an exception.
 */
static IEntry *intern_get(Intern *in, const char *p, Py_ssize_t n, int ascii)
{
    uint64_t h = hash_bytes(p, n, in->seed);
    size_t j = (size_t)h & in->mask;
    for (;;) {
        IEntry *e = &in->slots[j];
        if (e->obj == NULL)
            break;
        if (e->h == h && e->n == n && memcmp(e->p, p, (size_t)n) == 0)
            return e;
        j = (j + 1) & in->mask;
    }
    if ((in->used + 1) * 2 > in->mask + 1) {
        if (intern_grow(in) < 0)
            return NULL;
        j = (size_t)h & in->mask;
        while (in->slots[j].obj != NULL)
            j = (j + 1) & in->mask;
    }
    PyObject *o = make_str(p, n, ascii);
    if (o == NULL)
        return NULL;
    Py_ssize_t sz;
    const char *data = PyUnicode_AsUTF8AndSize(o, &sz);
    if (data == NULL) {
        Py_DECREF(o);
        return NULL;
    }
    IEntry *e = &in->slots[j];
    e->p = data;
    e->n = sz;
    e->h = h;
    e->obj = o;
    e->table = -1;
    in->used++;
    return e;
}

/* ---------------------------------------------------------------- tables */

typedef struct {
    PyObject *key; /* owned */
    int kind;      /* KIND_TAG or a field type */
    ObjVec vals;   /* values present, in row order */
    int64_t *idx;  /* row of each value; NULL while the column is dense (value i is row i) */
    Py_ssize_t idxcap;
} Column;

typedef struct {
    PyObject *name; /* owned */
    Py_ssize_t rows;
    ObjVec lines, times;
    Column *cols;
    Py_ssize_t ncols, capcols;
    PyObject *colmap; /* key -> index, built once the table gets wide */
    PyObject *known;  /* owned: the catalog's column names (limits only), or NULL */
    Py_ssize_t nknown; /* columns the catalog has, time included (1 for a new table) */
    Py_ssize_t nfresh; /* columns of this body the catalog does not have */
} Table;

#define COLMAP_THRESHOLD 32

static void table_free(Table *t)
{
    Py_XDECREF(t->name);
    vec_free(&t->lines);
    vec_free(&t->times);
    for (Py_ssize_t i = 0; i < t->ncols; i++) {
        Py_XDECREF(t->cols[i].key);
        vec_free(&t->cols[i].vals);
        PyMem_Free(t->cols[i].idx);
    }
    PyMem_Free(t->cols);
    Py_XDECREF(t->colmap);
    Py_XDECREF(t->known);
}

/* The column turns sparse: give its values so far rows 0..len-1. */
static int col_make_sparse(Column *col, Py_ssize_t need)
{
    Py_ssize_t cap = col->vals.len + 1 > need ? col->vals.len + 1 : need;
    if (cap < 4)
        cap = 4;
    int64_t *idx = PyMem_Malloc((size_t)cap * sizeof(int64_t));
    if (idx == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < col->vals.len; i++)
        idx[i] = i;
    col->idx = idx;
    col->idxcap = cap;
    return 0;
}

/* Append the value v (stolen, also on failure) of row `row`. */
static inline int col_push(Column *col, Py_ssize_t row, PyObject *v)
{
    if (col->idx == NULL) {
        if (col->vals.len == row)
            return vec_push(&col->vals, v);
        if (col_make_sparse(col, col->vals.len + 1) < 0) {
            Py_DECREF(v);
            return -1;
        }
    }
    if (col->vals.len == col->idxcap) {
        Py_ssize_t cap = col->idxcap * 2;
        int64_t *idx = PyMem_Realloc(col->idx, (size_t)cap * sizeof(int64_t));
        if (idx == NULL) {
            Py_DECREF(v);
            PyErr_NoMemory();
            return -1;
        }
        col->idx = idx;
        col->idxcap = cap;
    }
    col->idx[col->vals.len] = row;
    return vec_push(&col->vals, v);
}

/* Column index of key in t, or -1 (or -2 with an exception set). */
static Py_ssize_t find_col(Table *t, PyObject *key, Py_ssize_t *hint)
{
    Py_ssize_t h = *hint;
    if (h < t->ncols && t->cols[h].key == key) {
        *hint = h + 1;
        return h;
    }
    if (t->colmap != NULL) {
        PyObject *idx = PyDict_GetItemWithError(t->colmap, key);
        if (idx == NULL)
            return PyErr_Occurred() ? -2 : -1;
        Py_ssize_t i = PyLong_AsSsize_t(idx);
        *hint = i + 1;
        return i;
    }
    for (Py_ssize_t i = 0; i < t->ncols; i++) {
        if (t->cols[i].key == key) {
            *hint = i + 1;
            return i;
        }
    }
    return -1;
}

static Py_ssize_t add_col(Table *t, PyObject *key, int kind)
{
    if (t->ncols == t->capcols) {
        Py_ssize_t cap = t->capcols ? t->capcols * 2 : 8;
        Column *cols = PyMem_Realloc(t->cols, (size_t)cap * sizeof(Column));
        if (cols == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->cols = cols;
        t->capcols = cap;
    }
    Py_ssize_t i = t->ncols;
    if (t->colmap == NULL && i >= COLMAP_THRESHOLD) {
        t->colmap = PyDict_New();
        if (t->colmap == NULL)
            return -1;
        for (Py_ssize_t k = 0; k < i; k++) {
            PyObject *idx = PyLong_FromSsize_t(k);
            if (idx == NULL)
                return -1;
            int rc = PyDict_SetItem(t->colmap, t->cols[k].key, idx);
            Py_DECREF(idx);
            if (rc < 0)
                return -1;
        }
    }
    if (t->colmap != NULL) {
        PyObject *idx = PyLong_FromSsize_t(i);
        if (idx == NULL)
            return -1;
        int rc = PyDict_SetItem(t->colmap, key, idx);
        Py_DECREF(idx);
        if (rc < 0)
            return -1;
    }
    Column *c = &t->cols[i];
    Py_INCREF(key);
    c->key = key;
    c->kind = kind;
    c->vals.items = NULL;
    c->vals.len = c->vals.cap = 0;
    c->idx = NULL;
    c->idxcap = 0;
    t->ncols++;
    return i;
}

/* ---------------------------------------------------------------- tokens */

typedef struct {
    const char *p;
    Py_ssize_t n;
    int esc; /* contains a backslash: unescape before use */
} Span;

typedef struct {
    Span key, val;
    PyObject *k; /* borrowed from the intern table */
    Py_ssize_t col;
} TagTok;

typedef struct {
    Span key, s; /* s: raw string contents for FT_STRING */
    PyObject *k;
    Py_ssize_t col;
    int type;
    double d;
    long long i;
    unsigned long long u;
} FieldTok;

/* Previous line's key at the same position: raw bytes equal => same object. */
typedef struct {
    const char *p;
    Py_ssize_t n;
    PyObject *obj; /* borrowed from the intern table */
} KeyCache;

#define KEY_CACHE 16

typedef struct {
    Intern in;
    Table *tables;
    Py_ssize_t ntables, captables;
    PyObject *errors;
    PyObject *errcb;
    PyObject *time_key;     /* interned "time", borrowed */
    PyObject *default_time; /* owned */
    long long factor;
    char *scratch;
    Py_ssize_t scratch_cap;
    TagTok *tags;
    Py_ssize_t ntags, captags;
    FieldTok *fields;
    Py_ssize_t nfields, capfields;
    int ascii;
    Py_ssize_t lineno;
    int has_ts;
    long long ts;
    PyObject *last_name; /* borrowed: measurement of the last table used */
    Py_ssize_t last_table;
    KeyCache meas_cache;
    KeyCache tagkey_cache[KEY_CACHE];
    KeyCache tagval_cache[KEY_CACHE];
    KeyCache fieldkey_cache[KEY_CACHE];
    Py_ssize_t max_errors; /* errors kept in full; negative = all */
    Py_ssize_t nerrors;    /* every rejected line */
    PyObject *columns_of;  /* borrowed: limits callback, or NULL */
    PyObject *dbname;      /* borrowed */
    Py_ssize_t max_tables, max_columns, known_tables, new_tables;
} Ctx;

static int grow_tags(Ctx *c)
{
    Py_ssize_t cap = c->captags ? c->captags * 2 : 16;
    TagTok *t = PyMem_Realloc(c->tags, (size_t)cap * sizeof(TagTok));
    if (t == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    c->tags = t;
    c->captags = cap;
    return 0;
}

static int grow_fields(Ctx *c)
{
    Py_ssize_t cap = c->capfields ? c->capfields * 2 : 16;
    FieldTok *f = PyMem_Realloc(c->fields, (size_t)cap * sizeof(FieldTok));
    if (f == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    c->fields = f;
    c->capfields = cap;
    return 0;
}

static int ensure_scratch(Ctx *c, Py_ssize_t n)
{
    if (n <= c->scratch_cap)
        return 0;
    Py_ssize_t cap = c->scratch_cap ? c->scratch_cap : 256;
    while (cap < n)
        cap *= 2;
    char *s = PyMem_Realloc(c->scratch, (size_t)cap);
    if (s == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    c->scratch = s;
    c->scratch_cap = cap;
    return 0;
}

/* ---------------------------------------------------------------- scanning */

/* Advance over an escaped name; stops at a stop char (not escaped) or e. */
static inline const char *scan_name(const char *q, const char *e, int stopmask, int escmask, int *esc)
{
    for (;;) {
        while (q < e && !(cls[(unsigned char)*q] & stopmask))
            q++;
        if (q >= e || *q != '\\')
            return q;
        *esc = 1;
        if (q + 1 < e && (cls[(unsigned char)q[1]] & escmask))
            q += 2;
        else
            q += 1; /* literal backslash */
    }
}

static Py_ssize_t unescape_name(const char *p, Py_ssize_t n, int escmask, char *out)
{
    const char *e = p + n;
    Py_ssize_t j = 0;
    while (p < e) {
        if (*p == '\\' && p + 1 < e && (cls[(unsigned char)p[1]] & escmask)) {
            out[j++] = p[1];
            p += 2;
        }
        else {
            out[j++] = *p++;
        }
    }
    return j;
}

static Py_ssize_t unescape_string(const char *p, Py_ssize_t n, char *out)
{
    const char *e = p + n;
    Py_ssize_t j = 0;
    while (p < e) {
        if (*p == '\\' && p + 1 < e && (p[1] == '"' || p[1] == '\\')) {
            out[j++] = p[1];
            p += 2;
        }
        else {
            out[j++] = *p++;
        }
    }
    return j;
}

/* -?[0-9]+ -> 0 ok, 1 not that syntax, 2 out of int64 range. */
static int parse_i64(const char *p, const char *e, long long *out)
{
    int neg = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= e)
        return 1;
    uint64_t v = 0;
    int over = 0;
    for (; p < e; p++) {
        if (!IS_DIGIT(*p))
            return 1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = 1;
        else
            v = v * 10 + d;
    }
    if (over)
        return 2;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return 2;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(long long)v;
    }
    else {
        if (v > (uint64_t)INT64_MAX)
            return 2;
        *out = (long long)v;
    }
    return 0;
}

/* [0-9]+ -> 0 ok, 1 not that syntax, 2 out of uint64 range. */
static int parse_u64(const char *p, const char *e, unsigned long long *out)
{
    if (p >= e)
        return 1;
    uint64_t v = 0;
    int over = 0;
    for (; p < e; p++) {
        if (!IS_DIGIT(*p))
            return 1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = 1;
        else
            v = v * 10 + d;
    }
    if (over)
        return 2;
    *out = v;
    return 0;
}

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * Eisel-Lemire: exact conversion of w * 10^q for 19-digit w using a 128-bit
 * truncated mantissa of 10^q. It reports failure whenever the truncation could
 * change the rounding (or the result is subnormal/overflows); the caller then
 * uses CPython's correctly rounded strtod. Table from set_pow10_table().
 */
#define POW10_MIN (-342)
#define POW10_MAX 308
#define POW10_COUNT (POW10_MAX - POW10_MIN + 1)

static uint64_t pow10_hi[POW10_COUNT], pow10_lo[POW10_COUNT];
static int32_t pow10_e2[POW10_COUNT]; /* floor(log2(10^q)) */
static int have_pow10 = 0;

static int eisel_lemire(uint64_t w, long long q, double *out)
{
    if (!have_pow10 || w == 0 || q < POW10_MIN || q > POW10_MAX)
        return 0;
    Py_ssize_t idx = (Py_ssize_t)(q - POW10_MIN);
    int lz = __builtin_clzll(w);
    w <<= lz;
    unsigned __int128 z = (unsigned __int128)w * pow10_hi[idx];
    uint64_t hi = (uint64_t)(z >> 64), lo = (uint64_t)z;
    if ((hi & 0x1FF) == 0x1FF && lo + w < lo) {
        /* the bits that decide rounding may be off: add the next 64 bits of 10^q */
        unsigned __int128 z2 = (unsigned __int128)w * pow10_lo[idx];
        uint64_t hi2 = (uint64_t)(z2 >> 64), lo2 = (uint64_t)z2;
        uint64_t sum = lo + hi2;
        if (sum < lo)
            hi++;
        lo = sum;
        if ((hi & 0x1FF) == 0x1FF && lo == UINT64_MAX && lo2 + w < lo2)
            return 0;
    }
    int upper = (int)(hi >> 63);
    uint64_t m = hi >> (upper + 9); /* 54 bits: 53 + one rounding bit */
    if (lo == 0 && (hi & 0x1FF) == 0 && (m & 3) == 1)
        return 0; /* looks like an exact tie: let strtod decide */
    long long e = 63 + upper + (long long)pow10_e2[idx] - lz;
    m += m & 1;
    m >>= 1;
    if (m >> 53) {
        m = 1ull << 52;
        e++;
    }
    long long be = e + 1023;
    if (be < 1 || be > 0x7FE)
        return 0;
    uint64_t bits = (m & ~(1ull << 52)) | ((uint64_t)be << 52);
    memcpy(out, &bits, sizeof(bits));
    return 1;
}

static PyObject *lp_set_pow10_table(PyObject *self, PyObject *arg)
{
    if (!PyBytes_Check(arg) || PyBytes_GET_SIZE(arg) != POW10_COUNT * 20) {
        PyErr_SetString(PyExc_ValueError, "expected bytes of 20 * (POW10_MAX - POW10_MIN + 1)");
        return NULL;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(arg);
    for (Py_ssize_t i = 0; i < POW10_COUNT; i++, b += 20) {
        uint64_t hi = 0, lo = 0;
        uint32_t e = 0;
        for (int k = 7; k >= 0; k--) {
            hi = (hi << 8) | b[k];
            lo = (lo << 8) | b[8 + k];
        }
        for (int k = 3; k >= 0; k--)
            e = (e << 8) | b[16 + k];
        pow10_hi[i] = hi;
        pow10_lo[i] = lo;
        pow10_e2[i] = (int32_t)e;
    }
    have_pow10 = 1;
    Py_RETURN_NONE;
}

/*
 * -?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)? -> finite double.
 * Returns 0 ok, 1 rejected, -1 exception. Results equal Python's float():
 * short decimals use Clinger's exact fast path, up to 19 significant digits
 * Eisel-Lemire, and everything else (or anything ambiguous) goes to
 * PyOS_string_to_double, which float() itself uses.
 */
static int parse_float(const char *p, const char *e, double *out)
{
    const char *start = p;
    int neg = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    uint64_t m = 0;
    int nd = 0, digits = 0, slow = 0;
    long long exp10 = 0;
    for (; p < e && IS_DIGIT(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        digits = 1;
        if (m == 0 && d == 0)
            continue;
        if (nd < 19) {
            m = m * 10 + d;
            nd++;
        }
        else {
            slow = 1;
        }
    }
    if (p < e && *p == '.') {
        p++;
        for (; p < e && IS_DIGIT(*p); p++) {
            unsigned d = (unsigned)(*p - '0');
            digits = 1;
            if (m == 0 && d == 0) {
                exp10--;
                continue;
            }
            if (nd < 19) {
                m = m * 10 + d;
                nd++;
                exp10--;
            }
            else {
                slow = 1;
            }
        }
    }
    if (!digits)
        return 1;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (p < e && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p >= e || !IS_DIGIT(*p))
            return 1;
        long long ev = 0;
        for (; p < e && IS_DIGIT(*p); p++) {
            if (ev < 100000000)
                ev = ev * 10 + (*p - '0');
        }
        exp10 += eneg ? -ev : ev;
    }
    if (p != e)
        return 1;
    if (!slow) {
        if (m == 0) {
            *out = neg ? -0.0 : 0.0;
            return 0;
        }
        if (m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
            double d = (double)m;
            d = exp10 >= 0 ? d * pow10_exact[exp10] : d / pow10_exact[-exp10];
            *out = neg ? -d : d;
            return 0;
        }
        double d;
        if (eisel_lemire(m, exp10, &d)) {
            *out = neg ? -d : d;
            return 0;
        }
    }
    /* slow path: needs a NUL-terminated copy */
    Py_ssize_t n = e - start;
    char stackbuf[128];
    char *buf = stackbuf;
    if (n + 1 > (Py_ssize_t)sizeof(stackbuf)) {
        buf = PyMem_Malloc((size_t)n + 1);
        if (buf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    memcpy(buf, start, (size_t)n);
    buf[n] = '\0';
    char *endp = NULL;
    double d = PyOS_string_to_double(buf, &endp, NULL);
    int rc = 0;
    if (d == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            rc = 1;
        }
        else {
            rc = -1;
        }
    }
    else if (endp != buf + n || isinf(d) || isnan(d)) {
        rc = 1;
    }
    else {
        *out = d;
    }
    if (buf != stackbuf)
        PyMem_Free(buf);
    return rc;
}

static int parse_bool(const char *p, Py_ssize_t n, int *out)
{
    switch (n) {
    case 1:
        if (*p == 't' || *p == 'T') {
            *out = 1;
            return 1;
        }
        if (*p == 'f' || *p == 'F') {
            *out = 0;
            return 1;
        }
        return 0;
    case 4:
        if (!memcmp(p, "true", 4) || !memcmp(p, "True", 4) || !memcmp(p, "TRUE", 4)) {
            *out = 1;
            return 1;
        }
        return 0;
    case 5:
        if (!memcmp(p, "false", 5) || !memcmp(p, "False", 5) || !memcmp(p, "FALSE", 5)) {
            *out = 0;
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

/* Field value token (not a string) -> 0 ok, 1 rejected, -1 exception. */
static int parse_scalar(const char *p, const char *e, FieldTok *f)
{
    Py_ssize_t n = e - p;
    char last = e[-1];
    if (last == 'i') {
        int rc = parse_i64(p, e - 1, &f->i);
        if (rc == 0) {
            f->type = FT_INT;
            return 0;
        }
        if (rc == 2)
            return 1;
    }
    else if (last == 'u') {
        int rc = parse_u64(p, e - 1, &f->u);
        if (rc == 0) {
            f->type = FT_UINT;
            return 0;
        }
        if (rc == 2)
            return 1;
    }
    int b;
    if (parse_bool(p, n, &b)) {
        f->type = FT_BOOL;
        f->i = b;
        return 0;
    }
    int rc = parse_float(p, e, &f->d);
    if (rc == 0)
        f->type = FT_FLOAT;
    return rc;
}

/*
 * Tokenize one line [s, e) (stripped, not a comment) into c->tags / c->fields.
 * Returns 0 ok, 1 syntax error, -1 exception. meas receives the measurement span.
 */
static int tokenize(Ctx *c, const char *s, const char *e, Span *meas)
{
    const char *q = s;
    int esc = 0;
    q = scan_name(q, e, STOP_MEAS, ESC_MEAS, &esc);
    if (q == s)
        return 1;
    meas->p = s;
    meas->n = q - s;
    meas->esc = esc;

    c->ntags = 0;
    while (q < e && *q == ',') {
        const char *ks = ++q;
        esc = 0;
        q = scan_name(q, e, STOP_KEY, ESC_KEY, &esc);
        if (q == ks || q >= e || *q != '=')
            return 1;
        if (c->ntags == c->captags && grow_tags(c) < 0)
            return -1;
        TagTok *t = &c->tags[c->ntags];
        t->key.p = ks;
        t->key.n = q - ks;
        t->key.esc = esc;
        const char *vs = ++q;
        esc = 0;
        q = scan_name(q, e, STOP_TAGVAL, ESC_KEY, &esc);
        if (q == vs)
            return 1;
        t->val.p = vs;
        t->val.n = q - vs;
        t->val.esc = esc;
        c->ntags++;
    }
    while (q < e && *q == ' ')
        q++;
    if (q >= e)
        return 1;

    c->nfields = 0;
    for (;;) {
        const char *ks = q;
        esc = 0;
        q = scan_name(q, e, STOP_KEY, ESC_KEY, &esc);
        if (q == ks || q >= e || *q != '=')
            return 1;
        if (c->nfields == c->capfields && grow_fields(c) < 0)
            return -1;
        FieldTok *f = &c->fields[c->nfields];
        f->key.p = ks;
        f->key.n = q - ks;
        f->key.esc = esc;
        q++;
        if (q < e && *q == '"') {
            const char *vs = ++q;
            int sesc = 0;
            for (;;) {
                while (q < e && *q != '"' && *q != '\\')
                    q++;
                if (q >= e)
                    return 1; /* unterminated */
                if (*q == '"')
                    break;
                if (q + 1 < e && (q[1] == '"' || q[1] == '\\')) {
                    sesc = 1;
                    q += 2;
                }
                else {
                    q += 1;
                }
            }
            f->s.p = vs;
            f->s.n = q - vs;
            f->s.esc = sesc;
            f->type = FT_STRING;
            q++; /* closing quote */
            if (q < e && *q != ',' && *q != ' ')
                return 1;
        }
        else {
            const char *vs = q;
            while (q < e && !(cls[(unsigned char)*q] & (C_COMMA | C_SPACE)))
                q++;
            if (q == vs)
                return 1;
            int rc = parse_scalar(vs, q, f);
            if (rc != 0)
                return rc;
        }
        c->nfields++;
        if (q < e && *q == ',') {
            q++;
            continue;
        }
        break;
    }

    c->has_ts = 0;
    while (q < e && *q == ' ')
        q++;
    if (q < e) {
        const char *ts = q;
        while (q < e && *q != ' ')
            q++;
        long long raw;
        if (parse_i64(ts, q, &raw) != 0)
            return 1;
        if (__builtin_mul_overflow(raw, c->factor, &c->ts))
            return 1;
        c->has_ts = 1;
        while (q < e && *q == ' ')
            q++;
        if (q < e)
            return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- objects */

/* Borrowed str for an escaped-or-not name span (cached by position). */
static PyObject *name_obj(Ctx *c, const Span *sp, int escmask, KeyCache *kc)
{
    if (kc != NULL && kc->obj != NULL && kc->n == sp->n && memcmp(kc->p, sp->p, (size_t)sp->n) == 0)
        return kc->obj;
    IEntry *ent;
    if (sp->esc) {
        Py_ssize_t n = unescape_name(sp->p, sp->n, escmask, c->scratch);
        ent = intern_get(&c->in, c->scratch, n, c->ascii);
    }
    else {
        ent = intern_get(&c->in, sp->p, sp->n, c->ascii);
    }
    if (ent == NULL)
        return NULL;
    if (kc != NULL) {
        kc->p = sp->p;
        kc->n = sp->n;
        kc->obj = ent->obj;
    }
    return ent->obj;
}

#define STRING_INTERN_MAX 64

static PyObject *field_value_obj(Ctx *c, FieldTok *f)
{
    switch (f->type) {
    case FT_FLOAT:
        return PyFloat_FromDouble(f->d);
    case FT_INT:
        return PyLong_FromLongLong(f->i);
    case FT_UINT:
        return PyLong_FromUnsignedLongLong(f->u);
    case FT_BOOL:
        return Py_NewRef(f->i ? Py_True : Py_False);
    default: {
        const char *p = f->s.p;
        Py_ssize_t n = f->s.n;
        if (f->s.esc) {
            n = unescape_string(p, n, c->scratch);
            p = c->scratch;
        }
        if (n <= STRING_INTERN_MAX) {
            IEntry *ent = intern_get(&c->in, p, n, c->ascii);
            return ent == NULL ? NULL : Py_NewRef(ent->obj);
        }
        return make_str(p, n, c->ascii);
    }
    }
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case KIND_TAG:
        return "iox::column_type::tag";
    case KIND_TIME:
        return "iox::column_type::timestamp";
    case FT_FLOAT:
        return "iox::column_type::field::float";
    case FT_INT:
        return "iox::column_type::field::integer";
    case FT_UINT:
        return "iox::column_type::field::uinteger";
    case FT_STRING:
        return "iox::column_type::field::string";
    default:
        return "iox::column_type::field::boolean";
    }
}

/* Bytes of a rejected line kept for its report: enough for MAX_ERROR_LINE (256) characters. */
#define ERROR_RAW_MAX (4 * 256 + 4)

/* Is this rejected line past the errors kept in full? Counts it either way. */
static inline int error_dropped(Ctx *c)
{
    c->nerrors++;
    return c->max_errors >= 0 && PyList_GET_SIZE(c->errors) >= c->max_errors;
}

static int add_error(Ctx *c, const char *raw, const char *e, PyObject *msg /* stolen */)
{
    if (msg == NULL)
        return -1;
    Py_ssize_t n = e - raw;
    if (n > ERROR_RAW_MAX)
        n = ERROR_RAW_MAX;
    PyObject *tup = Py_BuildValue("(ny#N)", c->lineno, raw, n, msg);
    if (tup == NULL)
        return -1;
    int rc = PyList_Append(c->errors, tup);
    Py_DECREF(tup);
    return rc;
}

/* Ask the reference implementation for the wording of a syntax error. */
static int syntax_error(Ctx *c, const char *raw, const char *s, const char *e)
{
    if (error_dropped(c))
        return 0;
    PyObject *msg = PyObject_CallFunction(c->errcb, "y#L", s, (Py_ssize_t)(e - s), c->factor);
    if (msg == NULL)
        return -1;
    if (msg == Py_None) {
        Py_DECREF(msg);
        msg = PyUnicode_FromString(
            "internal error: the C and Python line-protocol parsers disagree about this line");
    }
    return add_error(c, raw, e, msg);
}

static inline int is_ascii(const char *p, Py_ssize_t n)
{
    const char *e = p + n;
    uint64_t acc = 0;
    while (e - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        acc |= w;
        p += 8;
    }
    while (p < e)
        acc |= (unsigned char)*p++;
    return (acc & 0x8080808080808080ull) == 0;
}

/* Keys of one line: any duplicate, reserved 'time', or tag/field clash? */
static int keys_invalid(Ctx *c)
{
    Py_ssize_t nt = c->ntags, nf = c->nfields;
    for (Py_ssize_t i = 0; i < nt; i++)
        if (c->tags[i].k == c->time_key)
            return 1;
    for (Py_ssize_t i = 0; i < nf; i++)
        if (c->fields[i].k == c->time_key)
            return 1;
    if (nt + nf <= 24) {
        for (Py_ssize_t i = 0; i < nt; i++) {
            PyObject *k = c->tags[i].k;
            for (Py_ssize_t j = i + 1; j < nt; j++)
                if (c->tags[j].k == k)
                    return 1;
            for (Py_ssize_t j = 0; j < nf; j++)
                if (c->fields[j].k == k)
                    return 1;
        }
        for (Py_ssize_t i = 0; i < nf; i++) {
            PyObject *k = c->fields[i].k;
            for (Py_ssize_t j = i + 1; j < nf; j++)
                if (c->fields[j].k == k)
                    return 1;
        }
        return 0;
    }
    /* wide line: a set keeps this linear */
    PyObject *seen = PySet_New(NULL);
    if (seen == NULL)
        return -1;
    int result = 0;
    for (Py_ssize_t i = 0; i < nt + nf && result == 0; i++) {
        PyObject *k = i < nt ? c->tags[i].k : c->fields[i - nt].k;
        int has = PySet_Contains(seen, k);
        if (has != 0)
            result = has < 0 ? -1 : 1;
        else if (PySet_Add(seen, k) < 0)
            result = -1;
    }
    Py_DECREF(seen);
    return result;
}

static Py_ssize_t new_table(Ctx *c, PyObject *name)
{
    if (c->ntables == c->captables) {
        Py_ssize_t cap = c->captables ? c->captables * 2 : 8;
        Table *t = PyMem_Realloc(c->tables, (size_t)cap * sizeof(Table));
        if (t == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        c->tables = t;
        c->captables = cap;
    }
    Table *t = &c->tables[c->ntables];
    memset(t, 0, sizeof(Table));
    Py_INCREF(name);
    t->name = name;
    return c->ntables++;
}

/* Parse, check and commit one line. Returns 0 (accepted or recorded as error) or -1. */
static int handle_line(Ctx *c, const char *raw, const char *s, const char *e)
{
    Py_ssize_t n = e - s;
    c->ascii = is_ascii(s, n);
    if (!c->ascii) {
        PyObject *probe = PyUnicode_DecodeUTF8(s, n, "strict");
        if (probe == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
                return -1;
            PyErr_Clear();
            return syntax_error(c, raw, s, e);
        }
        Py_DECREF(probe);
    }
    if (ensure_scratch(c, n) < 0)
        return -1;

    Span meas;
    int rc = tokenize(c, s, e, &meas);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return syntax_error(c, raw, s, e);

    /* names -> interned str objects */
    PyObject *name = name_obj(c, &meas, ESC_MEAS, &c->meas_cache);
    if (name == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < c->ntags; i++) {
        TagTok *t = &c->tags[i];
        t->k = name_obj(c, &t->key, ESC_KEY, i < KEY_CACHE ? &c->tagkey_cache[i] : NULL);
        if (t->k == NULL)
            return -1;
    }
    for (Py_ssize_t i = 0; i < c->nfields; i++) {
        FieldTok *f = &c->fields[i];
        f->k = name_obj(c, &f->key, ESC_KEY, i < KEY_CACHE ? &c->fieldkey_cache[i] : NULL);
        if (f->k == NULL)
            return -1;
    }
    rc = keys_invalid(c);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return syntax_error(c, raw, s, e);

    /* table and column types */
    IEntry *ent = NULL;
    Py_ssize_t ti;
    if (name == c->last_name) {
        ti = c->last_table;
    }
    else {
        Py_ssize_t nlen;
        const char *nb = PyUnicode_AsUTF8AndSize(name, &nlen);
        if (nb == NULL || (ent = intern_get(&c->in, nb, nlen, c->ascii)) == NULL)
            return -1;
        ti = ent->table;
    }
    PyObject *known = NULL; /* a table new to the body: owned catalog columns, or NULL */
    Py_ssize_t nknown = 1, nfresh = 0;
    int catalog_new = 0, any_new = 0; /* any_new: a column this body does not have yet */
    if (ti >= 0) {
        Table *t = &c->tables[ti];
        c->last_name = name;
        c->last_table = ti;
        nknown = t->nknown;
        nfresh = t->nfresh;
        Py_ssize_t hint = 0;
        for (Py_ssize_t i = 0; i < c->ntags; i++) {
            TagTok *tk = &c->tags[i];
            tk->col = find_col(t, tk->k, &hint);
            if (tk->col == -2)
                return -1;
            if (tk->col < 0)
                any_new = 1;
            else if (t->cols[tk->col].kind != KIND_TAG)
                return error_dropped(c) ? 0 : add_error(c, raw, e,
                                 PyUnicode_FromFormat("invalid column type for column '%U', expected %s, got %s",
                                                      tk->k, kind_name(t->cols[tk->col].kind),
                                                      kind_name(KIND_TAG)));
        }
        for (Py_ssize_t i = 0; i < c->nfields; i++) {
            FieldTok *f = &c->fields[i];
            f->col = find_col(t, f->k, &hint);
            if (f->col == -2)
                return -1;
            if (f->col < 0)
                any_new = 1;
            else if (t->cols[f->col].kind != f->type)
                return error_dropped(c) ? 0 : add_error(c, raw, e,
                                 PyUnicode_FromFormat("invalid column type for column '%U', expected %s, got %s",
                                                      f->k, kind_name(t->cols[f->col].kind),
                                                      kind_name(f->type)));
        }
    }
    else {
        any_new = 1;
        for (Py_ssize_t i = 0; i < c->ntags; i++)
            c->tags[i].col = -1;
        for (Py_ssize_t i = 0; i < c->nfields; i++)
            c->fields[i].col = -1;
        if (c->columns_of != NULL) {
            PyObject *r = PyObject_CallOneArg(c->columns_of, name);
            if (r == NULL)
                return -1;
            if (r == Py_None) {
                Py_DECREF(r);
                catalog_new = 1;
                if (c->max_tables > 0 && c->known_tables + c->new_tables >= c->max_tables) {
                    if (error_dropped(c))
                        return 0;
                    return add_error(c, raw, e,
                                     PyUnicode_FromFormat("table '%U' cannot be created: database '%U' has "
                                                          "reached the limit of %zd tables",
                                                          name, c->dbname, c->max_tables));
                }
            }
            else {
                known = r;
                nknown = PyObject_Length(r);
                if (nknown < 0) {
                    Py_DECREF(r);
                    return -1;
                }
            }
        }
    }

    /* types of the columns new to the body: the catalog's (a dict key -> kind) decide */
    PyObject *kn = ti >= 0 ? c->tables[ti].known : known;
    if (any_new && kn != NULL && PyDict_Check(kn)) {
        for (Py_ssize_t i = 0; i < c->ntags + c->nfields; i++) {
            int is_tag = i < c->ntags;
            Py_ssize_t col = is_tag ? c->tags[i].col : c->fields[i - c->ntags].col;
            PyObject *k = is_tag ? c->tags[i].k : c->fields[i - c->ntags].k;
            int got = is_tag ? KIND_TAG : c->fields[i - c->ntags].type;
            int have;
            if (col >= 0) {
                continue;
            }
            else {
                PyObject *v = PyDict_GetItemWithError(kn, k);
                if (v == NULL) {
                    if (PyErr_Occurred()) {
                        Py_XDECREF(known);
                        return -1;
                    }
                    continue;
                }
                long kv = PyLong_AsLong(v);
                if (kv == -1 && PyErr_Occurred()) {
                    Py_XDECREF(known);
                    return -1;
                }
                have = (int)kv;
            }
            if (have != got) {
                Py_XDECREF(known);
                if (error_dropped(c))
                    return 0;
                return add_error(c, raw, e,
                                 PyUnicode_FromFormat("invalid column type for column '%U', expected %s, got %s", k,
                                                      kind_name(have), kind_name(got)));
            }
        }
    }

    /* the column limit: count the columns this line adds to what the catalog has */
    Py_ssize_t fresh = 0;
    if (any_new && c->max_columns > 0) {
        for (Py_ssize_t i = 0; i < c->ntags + c->nfields; i++) {
            Py_ssize_t col = i < c->ntags ? c->tags[i].col : c->fields[i - c->ntags].col;
            if (col >= 0)
                continue;
            if (kn != NULL) {
                PyObject *k = i < c->ntags ? c->tags[i].k : c->fields[i - c->ntags].k;
                int has = PySequence_Contains(kn, k);
                if (has < 0) {
                    Py_XDECREF(known);
                    return -1;
                }
                if (has)
                    continue;
            }
            fresh++;
        }
        if (fresh > 0 && nknown + nfresh + fresh > c->max_columns) {
            Py_XDECREF(known);
            if (error_dropped(c))
                return 0;
            return add_error(c, raw, e,
                             PyUnicode_FromFormat("table '%U' would have %zd columns, over the limit of %zd",
                                                  name, nknown + nfresh + fresh, c->max_columns));
        }
    }
    if (ti < 0) {
        ti = new_table(c, name);
        if (ti < 0) {
            Py_XDECREF(known);
            return -1;
        }
        ent->table = ti; /* ent is still valid: no intern_get since */
        c->tables[ti].known = known;
        c->tables[ti].nknown = nknown;
        c->new_tables += catalog_new;
        c->last_name = name;
        c->last_table = ti;
    }

    /* commit */
    Table *t = &c->tables[ti];
    t->nfresh += fresh;
    Py_ssize_t row = t->rows;
    for (Py_ssize_t i = 0; i < c->ntags; i++) {
        TagTok *tk = &c->tags[i];
        KeyCache *kc = i < KEY_CACHE ? &c->tagval_cache[i] : NULL;
        PyObject *v = name_obj(c, &tk->val, ESC_KEY, kc);
        if (v == NULL)
            return -1;
        Py_ssize_t ci = tk->col;
        if (ci < 0 && (ci = add_col(t, tk->k, KIND_TAG)) < 0)
            return -1;
        if (col_push(&t->cols[ci], row, Py_NewRef(v)) < 0)
            return -1;
    }
    for (Py_ssize_t i = 0; i < c->nfields; i++) {
        FieldTok *f = &c->fields[i];
        PyObject *v = field_value_obj(c, f);
        if (v == NULL)
            return -1;
        Py_ssize_t ci = f->col;
        if (ci < 0 && (ci = add_col(t, f->k, f->type)) < 0) {
            Py_DECREF(v);
            return -1;
        }
        if (col_push(&t->cols[ci], row, v) < 0)
            return -1;
    }
    PyObject *ln = PyLong_FromSsize_t(c->lineno);
    if (ln == NULL || vec_push(&t->lines, ln) < 0)
        return -1;
    PyObject *ts = c->has_ts ? PyLong_FromLongLong(c->ts) : Py_NewRef(c->default_time);
    if (ts == NULL || vec_push(&t->times, ts) < 0)
        return -1;
    t->rows = row + 1;
    return 0;
}

static PyObject *build_tables(Ctx *c)
{
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t ti = 0; ti < c->ntables; ti++) {
        Table *t = &c->tables[ti];
        PyObject *tags = PyDict_New();
        PyObject *fields = PyDict_New();
        PyObject *index = PyDict_New();
        PyObject *lines = NULL, *times = NULL, *tup = NULL;
        if (tags == NULL || fields == NULL || index == NULL)
            goto fail;
        for (Py_ssize_t i = 0; i < t->ncols; i++) {
            Column *col = &t->cols[i];
            if (col->idx == NULL && col->vals.len < t->rows && col_make_sparse(col, col->vals.len) < 0)
                goto fail;
            if (col->idx != NULL) {
                PyObject *rows = PyBytes_FromStringAndSize((const char *)col->idx,
                                                           col->vals.len * (Py_ssize_t)sizeof(int64_t));
                if (rows == NULL)
                    goto fail;
                int rc = PyDict_SetItem(index, col->key, rows);
                Py_DECREF(rows);
                if (rc < 0)
                    goto fail;
            }
            PyObject *list = vec_to_list(&col->vals);
            if (list == NULL)
                goto fail;
            int rc;
            if (col->kind == KIND_TAG) {
                rc = PyDict_SetItem(tags, col->key, list);
                Py_DECREF(list);
            }
            else {
                PyObject *pair = Py_BuildValue("(iN)", col->kind, list);
                if (pair == NULL)
                    goto fail;
                rc = PyDict_SetItem(fields, col->key, pair);
                Py_DECREF(pair);
            }
            if (rc < 0)
                goto fail;
        }
        lines = vec_to_list(&t->lines);
        if (lines == NULL)
            goto fail;
        times = vec_to_list(&t->times);
        if (times == NULL)
            goto fail;
        tup = Py_BuildValue("(OnNNNNN)", t->name, t->rows, lines, times, tags, fields, index);
        lines = times = tags = fields = index = NULL; /* stolen by "N", even on failure */
        if (tup == NULL)
            goto fail;
        if (PyList_Append(out, tup) < 0)
            goto fail;
        Py_DECREF(tup);
        continue;
    fail:
        Py_XDECREF(tags);
        Py_XDECREF(fields);
        Py_XDECREF(index);
        Py_XDECREF(lines);
        Py_XDECREF(times);
        Py_XDECREF(tup);
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static void ctx_free(Ctx *c)
{
    for (Py_ssize_t i = 0; i < c->ntables; i++)
        table_free(&c->tables[i]);
    PyMem_Free(c->tables);
    intern_free(&c->in);
    Py_XDECREF(c->errors);
    Py_XDECREF(c->default_time);
    PyMem_Free(c->scratch);
    PyMem_Free(c->tags);
    PyMem_Free(c->fields);
}

#define YIELD_LINES 4096 /* lines between two offers of the GIL to other threads */

static PyObject *lp_parse(PyObject *self, PyObject *args)
{
    PyObject *body, *errcb, *limits = Py_None;
    long long factor, default_time;
    Py_ssize_t max_errors = -1;
    if (!PyArg_ParseTuple(args, "O!LLO|nO:parse", &PyBytes_Type, &body, &factor, &default_time, &errcb,
                          &max_errors, &limits))
        return NULL;
    if (factor < 1) {
        PyErr_SetString(PyExc_ValueError, "factor must be >= 1");
        return NULL;
    }
    Ctx c;
    memset(&c, 0, sizeof(c));
    c.errcb = errcb;
    c.factor = factor;
    c.max_errors = max_errors;
    if (limits != Py_None) {
        if (!PyArg_ParseTuple(limits, "UnnnO:limits", &c.dbname, &c.max_tables, &c.max_columns, &c.known_tables,
                              &c.columns_of))
            return NULL;
        if (c.columns_of == Py_None)
            c.columns_of = NULL;
    }
    PyObject *result = NULL;
    if (intern_init(&c.in) < 0)
        goto done;
    c.errors = PyList_New(0);
    c.default_time = PyLong_FromLongLong(default_time);
    if (c.errors == NULL || c.default_time == NULL)
        goto done;
    IEntry *te = intern_get(&c.in, "time", 4, 1);
    if (te == NULL)
        goto done;
    c.time_key = te->obj;

    const char *p = PyBytes_AS_STRING(body);
    const char *end = p + PyBytes_GET_SIZE(body);
    for (;;) {
        c.lineno++;
        if ((c.lineno & (YIELD_LINES - 1)) == 0) {
            /* let the event loop's thread run: a 64 MiB body parses for a good fraction of a second */
            Py_BEGIN_ALLOW_THREADS
            Py_END_ALLOW_THREADS
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *raw = p;
        if (le > p && le[-1] == '\r')
            le--;
        const char *s = p;
        while (s < le && (*s == ' ' || *s == '\t'))
            s++;
        if (s < le && *s != '#') {
            if (handle_line(&c, raw, s, le) < 0)
                goto done;
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    PyObject *tables = build_tables(&c);
    if (tables == NULL)
        goto done;
    result = Py_BuildValue("(NOn)", tables, c.errors, c.nerrors);
done:
    ctx_free(&c);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", lp_parse, METH_VARARGS,
     "parse(body: bytes, factor: int, default_time: int, error_message, max_errors=-1, limits=None) -> "
     "(tables, errors, error_count)"},
    {"set_pow10_table", lp_set_pow10_table, METH_O,
     "set_pow10_table(table: bytes): 128-bit mantissas of powers of ten for the fast float path"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lpparse", "C accelerator for the line-protocol parser.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__lpparse(void)
{
    init_classes();
    /* Seed the intern hash from Python's randomized str hash (per process). */
    PyObject *probe = PyUnicode_FromString("pe_engine.lineprotocol._lpparse");
    if (probe == NULL)
        return NULL;
    Py_hash_t h = PyObject_Hash(probe);
    Py_DECREF(probe);
    if (h == -1 && PyErr_Occurred())
        return NULL;
    hash_seed = (uint64_t)h ^ 0x243F6A8885A308D3ull;
    return PyModule_Create(&module);
}
