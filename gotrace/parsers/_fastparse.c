/* The compiled core of the strace parser (optional; the pure path is gotrace/parsers/strace.py).
 *
 * classify(block, first_line) reads a block of log lines (bytes, "\n"-separated) in one pass
 * and places the lines of the common forms of gotrace's own capture (-f -ttt [-T] [-yy]):
 * "PID EPOCH.USEC " followed by a complete call, an "<unfinished ...>" head, a
 * "<... NAME resumed>" tail, a "--- SIG... {...} ---" signal or a "+++ ... +++" exit. For
 * these it produces exactly the record that strace.py's column-wide regexes produce (the
 * grammar of gotrace/parsers/grammar.py, followed the way the regex engine follows it:
 * leftmost-first). Every line where that is not certain (another form, a second ") ="
 * inside the line, a byte outside ASCII, a number out of range, ...) is handed back
 * unplaced, with its text, and the Python side reads it with the regexes as before.
 *
 * The records come back as one Arrow struct array through the Arrow C data interface
 * (a pair of PyCapsules, as __arrow_c_array__ returns them); its string columns are
 * Utf8View arrays whose long values point into one private copy of the block.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---------------------------------------------------------------- Arrow C data interface */
#define ARROW_FLAG_NULLABLE 2

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

/* The record columns, in strace.py's _RECORD_COLS order. */
enum {
    C_LINE, C_RK, C_PID1, C_COMM1, C_PID2, C_COMM2, C_TOD, C_REL2, C_NUM, C_NR, C_IP,
    C_NAME, C_ARGS, C_RET, C_TARGET, C_ERRNO, C_ERRMSG, C_EXTRA, C_DUR,
    C_SIG, C_INFO, C_STOPPED, C_STATUS, C_CORE, C_FORMER, C_TEXT, C_NEVER, C_REASON,
    C_END_LINE, C_RES_NUM, C_PAIRED, C_FD_NUM, C_FD_ANN, C_FD_KNOWN, C_SECRET,
    N_COLS
};
static const char *COL_NAMES[N_COLS] = {
    "line", "rk", "pid1", "comm1", "pid2", "comm2", "tod", "rel2", "num", "nr", "ip",
    "name", "args", "ret", "target", "errno", "errmsg", "extra", "dur",
    "sig", "info", "stopped", "status", "core", "former", "text", "never", "reason",
    "end_line", "res_num", "paired", "fd_num", "fd_ann", "fd_known", "secret",
};
/* 'l' int64, 'L' int64 with nulls, 'b' boolean, 'v' string (Utf8View) */
static const char COL_KIND[N_COLS] = {
    'l', 'v', 'v', 'v', 'v', 'v', 'v', 'v', 'v', 'v', 'v',
    'v', 'v', 'v', 'v', 'v', 'v', 'v', 'v',
    'v', 'v', 'b', 'v', 'b', 'v', 'v', 'b', 'v',
    'L', 'v', 'b', 'v', 'v', 'b', 'b',
};

/* ---------------------------------------------------------------- a pool of big buffers
 * Each block needs some 40 MB of fresh buffers; taking them from the system every time
 * costs more in page faults than the reading itself. Buffers polars hands back (when it
 * releases a column, maybe in another thread) wait here for the next block. */
#include <pthread.h>
#define POOL_SLOTS 64
#define POOL_MAX_BYTES ((size_t)48 << 20)
#define HEADER 64
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void *pool[POOL_SLOTS];
static size_t pool_bytes;

static inline size_t big_size(void *p) { return *(size_t *)((char *)p - HEADER); }

static void *big_alloc(size_t size, int zero) {
    if (size == 0) size = 1;
    void *got = NULL;
    pthread_mutex_lock(&pool_lock);
    for (int i = 0; i < POOL_SLOTS; i++) {
        if (pool[i] && big_size(pool[i]) >= size && big_size(pool[i]) <= 2 * size + 4096) {
            got = pool[i];
            pool[i] = NULL;
            pool_bytes -= big_size(got);
            break;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    if (!got) {
        char *raw = malloc(size + HEADER);
        if (!raw) return NULL;
        *(size_t *)raw = size;
        got = raw + HEADER;
    }
    if (zero) memset(got, 0, size);
    return got;
}

static void big_free(void *p) {
    if (!p) return;
    size_t size = big_size(p);
    pthread_mutex_lock(&pool_lock);
    if (pool_bytes + size <= POOL_MAX_BYTES) {
        for (int i = 0; i < POOL_SLOTS; i++) {
            if (!pool[i]) {
                pool[i] = p;
                pool_bytes += size;
                p = NULL;
                break;
            }
        }
    }
    pthread_mutex_unlock(&pool_lock);
    if (p) free((char *)p - HEADER);
}

/* the text block every long string value points into; freed with its last column */
typedef struct {
    char *data;
    int64_t size;
    void *map;           /* when data lies in a mapping of the log: the mapping */
    size_t map_len;
    char *joined;        /* the second data buffer: arguments of pairs joined here */
    int64_t joined_size;
    void *zeros; /* the views and validity of the columns that are all null */
    int refs;
} Shared;

static void shared_decref(Shared *sh) {
    if (__atomic_sub_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        if (sh->map) munmap(sh->map, sh->map_len);
        else big_free(sh->data);
        big_free(sh->joined);
        big_free(sh->zeros);
        free(sh);
    }
}

typedef struct {
    Shared *sh;
    void *validity;
    void *values;
    int64_t variadic_sizes[2];
    const void *buffers[5];
} ColPriv;

static void release_child(struct ArrowArray *a) {
    if (a->release == NULL) return;
    ColPriv *p = (ColPriv *)a->private_data;
    big_free(p->validity);
    big_free(p->values);
    if (p->sh) shared_decref(p->sh);
    free(p);
    a->release = NULL;
}

static void release_struct(struct ArrowArray *a) {
    if (a->release == NULL) return;
    for (int64_t i = 0; i < a->n_children; i++) {
        struct ArrowArray *c = a->children[i];
        if (c->release) c->release(c);
        free(c);
    }
    free(a->children);
    free((void *)a->buffers);
    a->release = NULL;
}

static void release_schema(struct ArrowSchema *s) {
    if (s->release == NULL) return;
    for (int64_t i = 0; i < s->n_children; i++) {
        struct ArrowSchema *c = s->children[i];
        if (c->release) c->release(c);
        free(c);
    }
    free(s->children);
    s->release = NULL;
}

static void release_child_schema(struct ArrowSchema *s) { s->release = NULL; }

static void capsule_schema_free(PyObject *cap) {
    struct ArrowSchema *s = PyCapsule_GetPointer(cap, "arrow_schema");
    if (s) {
        if (s->release) s->release(s);
        free(s);
    }
}

static void capsule_array_free(PyObject *cap) {
    struct ArrowArray *a = PyCapsule_GetPointer(cap, "arrow_array");
    if (a) {
        if (a->release) a->release(a);
        free(a);
    }
}

/* ---------------------------------------------------------------- column builders */
typedef struct {
    int64_t off;  /* into the block; -1: null */
    int32_t len;
} Span;

typedef struct {
    int64_t n;                /* rows placed */
    int64_t cap;
    int64_t *line;
    uint8_t *views[N_COLS];   /* string columns: 16-byte Utf8View views (NULL: all null) */
    uint8_t *valid[N_COLS];   /* their validity bits */
    int64_t nulls[N_COLS];
    uint8_t *b[N_COLS];       /* bool columns: validity-free bits */
    int64_t *end_line;        /* pairs merged here: the line of the resumed half */
    uint8_t *end_valid;
} Cols;

/* columns that can hold a value in placed lines */
static const int STRING_USED[] = {
    C_PID2, C_NUM, C_NAME, C_ARGS, C_RET, C_TARGET, C_ERRNO, C_ERRMSG, C_EXTRA, C_DUR,
    C_SIG, C_INFO, C_STATUS, C_FORMER,
};
#define N_STRING_USED ((int)(sizeof(STRING_USED) / sizeof(STRING_USED[0])))
static const int BOOL_USED[] = {C_STOPPED, C_CORE, C_NEVER, C_PAIRED, C_FD_KNOWN, C_SECRET};
#define N_BOOL_USED 6

static void cols_free(Cols *c) {
    big_free(c->line);
    big_free(c->end_line);
    big_free(c->end_valid);
    for (int i = 0; i < N_COLS; i++) {
        big_free(c->views[i]);
        big_free(c->valid[i]);
        big_free(c->b[i]);
    }
}

static int cols_init(Cols *c, int64_t cap) {
    memset(c, 0, sizeof(*c));
    if (cap < 1) cap = 1;
    c->cap = cap;
    int64_t bits = (cap + 7) / 8;
    c->line = big_alloc(sizeof(int64_t) * (size_t)cap, 0);
    if (!c->line) return -1;
    for (int k = 0; k <= N_STRING_USED; k++) {
        int col = k < N_STRING_USED ? STRING_USED[k] : C_RK;
        c->views[col] = big_alloc(16 * (size_t)cap, 0);
        c->valid[col] = big_alloc((size_t)bits, 1);
        if (!c->views[col] || !c->valid[col]) return -1;
    }
    c->views[C_RES_NUM] = big_alloc(16 * (size_t)cap, 1);
    c->valid[C_RES_NUM] = big_alloc((size_t)bits, 1);
    c->views[C_FD_NUM] = big_alloc(16 * (size_t)cap, 1);
    c->valid[C_FD_NUM] = big_alloc((size_t)bits, 1);
    c->views[C_FD_ANN] = big_alloc(16 * (size_t)cap, 1);
    c->valid[C_FD_ANN] = big_alloc((size_t)bits, 1);
    if (!c->views[C_FD_NUM] || !c->valid[C_FD_NUM] || !c->views[C_FD_ANN] || !c->valid[C_FD_ANN])
        return -1;
    c->end_line = big_alloc(sizeof(int64_t) * (size_t)cap, 1);
    c->end_valid = big_alloc((size_t)bits, 1);
    if (!c->views[C_RES_NUM] || !c->valid[C_RES_NUM] || !c->end_line || !c->end_valid) return -1;
    for (int k = 0; k < N_BOOL_USED; k++) {
        c->b[BOOL_USED[k]] = big_alloc((size_t)bits, 1);
        if (!c->b[BOOL_USED[k]]) return -1;
    }
    return 0;
}

/* row i of a string column: the value at base+off (len bytes), or null when off < 0 */
static inline void put_view(Cols *c, int col, int64_t i, const char *base, int64_t off,
                            int32_t len) {
    uint8_t *v = c->views[col] + 16 * i;
    if (off < 0) {
        memset(v, 0, 16);
        c->nulls[col]++;
        return;
    }
    c->valid[col][i >> 3] |= (uint8_t)(1u << (i & 7));
    const char *src = base + off;
    memcpy(v, &len, 4);
    if (len <= 12) {
        memset(v + 4, 0, 12);
        memcpy(v + 4, src, (size_t)len);
    } else {
        int32_t buf = 0;
        int32_t o = (int32_t)off;
        memcpy(v + 4, src, 4);
        memcpy(v + 8, &buf, 4);
        memcpy(v + 12, &o, 4);
    }
}

/* one line's fields while it is being read */
typedef struct {
    Span f[N_COLS];
    uint8_t stopped, core, never;
    const char *rk;
} Rec;

static inline void rec_clear(Rec *r) {
    for (int k = 0; k < N_STRING_USED; k++) r->f[STRING_USED[k]].off = -1;
    r->stopped = r->core = r->never = 0;
    r->rk = NULL;
}

static inline Span span(const char *base, const char *p, const char *q) {
    Span s;
    s.off = (int64_t)(p - base);
    s.len = (int32_t)(q - p);
    return s;
}

/* ---------------------------------------------------------------- the grammar */
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_LOWER(c) ((c) >= 'a' && (c) <= 'z')
#define IS_UPPER(c) ((c) >= 'A' && (c) <= 'Z')
#define IS_HEX(c) (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define IS_WORD(c) (IS_DIGIT(c) || IS_LOWER(c) || IS_UPPER(c) || (c) == '_')

static inline int ends_with(const char *p, const char *e, const char *suffix, size_t n) {
    return (size_t)(e - p) >= n && memcmp(e - n, suffix, n) == 0;
}

static inline int starts_with(const char *p, const char *e, const char *prefix, size_t n) {
    return (size_t)(e - p) >= n && memcmp(p, prefix, n) == 0;
}

#define UNFINISHED_NEVER " <unfinished ...>) = ?"
#define UNFINISHED_SUFFIX " <unfinished ...>"
#define DETACHED_SUFFIX " <detached ...>"

/* "<" DUR ">" at p running exactly to e: \d+(?:\.\d+)?|unavailable|detached \.\.\. */
static int read_dur(const char *p, const char *e, const char **v0, const char **v1) {
    if (p >= e || *p != '<') return 0;
    const char *q = p + 1;
    if (q < e && IS_DIGIT(*q)) {
        while (q < e && IS_DIGIT(*q)) q++;
        if (q + 1 < e && *q == '.' && IS_DIGIT(q[1])) {
            q++;
            while (q < e && IS_DIGIT(*q)) q++;
        }
    } else if (starts_with(q, e, "unavailable", 11)) {
        q += 11;
    } else if (starts_with(q, e, "detached ...", 12)) {
        q += 12;
    } else {
        return 0;
    }
    if (q + 1 != e || *q != '>') return 0;
    *v0 = p + 1;
    *v1 = q;
    return 1;
}

/* RET_TAIL matched at p (a ")" followed by spaces and "="), running to e. 1: matched, the
 * fields set; 0: not certain (the caller hands the line back). */
static int read_tail(const char *base, const char *p, const char *e, Rec *r) {
    const char *q = p + 1;
    while (q < e && *q == ' ') q++;
    if (q >= e || *q != '=') return 0;
    q++;
    if (q == e) return 1;
    if (*q != ' ') return 0;
    q++;
    if (q < e && *q == '<') {
        /* no return value: ") = <unavailable>" */
        const char *d0, *d1;
        if (!read_dur(q, e, &d0, &d1)) return 0;
        r->f[C_DUR] = span(base, d0, d1);
        return 1;
    }
    /* ret: \?|-?\d+|0x[0-9a-fA-F]+ (a decimal "0" followed by "x" cannot go on) */
    const char *r0 = q;
    if (q < e && *q == '?') {
        q++;
    } else if (q + 2 < e && q[0] == '0' && q[1] == 'x' && IS_HEX(q[2])) {
        q += 2;
        while (q < e && IS_HEX(*q)) q++;
    } else {
        if (q < e && *q == '-') q++;
        if (q >= e || !IS_DIGIT(*q)) return 0;
        while (q < e && IS_DIGIT(*q)) q++;
    }
    r->f[C_RET] = span(base, r0, q);
    if (q < e && *q == '<') {
        /* target: (?:->|[^<>]|<(?:->|[^<>])*>)* then ">", its first path */
        const char *t0 = ++q;
        for (;;) {
            if (q >= e) return 0;
            if (q + 1 < e && q[0] == '-' && q[1] == '>') {
                q += 2;
            } else if (*q == '>') {
                break;
            } else if (*q == '<') {
                q++;
                for (;;) {
                    if (q >= e) return 0;
                    if (q + 1 < e && q[0] == '-' && q[1] == '>') q += 2;
                    else if (*q == '>') break;
                    else if (*q == '<') return 0;
                    else q++;
                }
                q++;
            } else {
                q++;
            }
        }
        r->f[C_TARGET] = span(base, t0, q);
        q++;
    }
    if (q == e) return 1;
    if (*q != ' ' || q + 1 >= e) return 0;
    if (q[1] == 'E') {
        /* " E[A-Z0-9_]+ \([^()]*\)" */
        const char *e0 = q + 1;
        const char *x = e0 + 1;
        while (x < e && (IS_UPPER(*x) || IS_DIGIT(*x) || *x == '_')) x++;
        if (x == e0 + 1 || x + 1 >= e || x[0] != ' ' || x[1] != '(') return 0;
        const char *m0 = x + 2;
        const char *m = m0;
        while (m < e && *m != '(' && *m != ')') m++;
        if (m >= e || *m != ')') return 0;
        r->f[C_ERRNO] = span(base, e0, x);
        r->f[C_ERRMSG] = span(base, m0, m);
        q = m + 1;
        if (q == e) return 1;
        if (*q != ' ' || q + 1 >= e) return 0;
    }
    if (q[1] == '(') {
        /* " \((?P<extra>.*)\)" then (?: <dur>)?$ : the last ")" of the line */
        const char *last = NULL;
        for (const char *x = e - 1; x >= q + 2; x--) {
            if (*x == ')') {
                last = x;
                break;
            }
        }
        if (!last) return 0;
        const char *rest = last + 1;
        if (rest != e) {
            const char *d0, *d1;
            if (*rest != ' ' || !read_dur(rest + 1, e, &d0, &d1)) return 0;
            r->f[C_DUR] = span(base, d0, d1);
        }
        r->f[C_EXTRA] = span(base, q + 2, last);
        return 1;
    }
    if (q[1] == '<') {
        const char *d0, *d1;
        if (!read_dur(q + 1, e, &d0, &d1)) return 0;
        r->f[C_DUR] = span(base, d0, d1);
        return 1;
    }
    return 0;
}

/* the one ") +=" of a body; NULL when there is none; *many set when there are more */
static const char *find_tail(const char *p, const char *e, int *many) {
    const char *found = NULL;
    *many = 0;
    const char *x = p;
    while (x < e) {
        const char *c = memchr(x, ')', (size_t)(e - x));
        if (!c) break;
        const char *q = c + 1;
        if (q < e && *q == ' ') {
            while (q < e && *q == ' ') q++;
            if (q < e && *q == '=') {
                if (found) {
                    *many = 1;
                    return found;
                }
                found = c;
            }
        }
        x = c + 1;
    }
    return found;
}

/* --- SIG\w+ {...} ---   --- SIG\w+ ---   --- stopped by SIG\w+ --- */
static int read_signal(const char *base, const char *p, const char *e, Rec *r) {
    const char *q = p + 4;
    int stopped = 0;
    if (starts_with(q, e, "stopped by ", 11)) {
        q += 11;
        stopped = 1;
    }
    if (!starts_with(q, e, "SIG", 3)) return 0;
    const char *s0 = q;
    q += 3;
    if (q >= e || !IS_WORD(*q)) return 0;
    while (q < e && IS_WORD(*q)) q++;
    const char *s1 = q;
    if (stopped) {
        if (!((e - q == 4 && memcmp(q, " ---", 4) == 0) || (e - q == 3 && memcmp(q, "---", 3) == 0)))
            return 0;
        r->f[C_SIG] = span(base, s0, s1);
        r->stopped = 1;
        r->rk = "signal";
        return 1;
    }
    if (q >= e || *q != ' ') return 0;
    q++;
    if (e - q == 3 && memcmp(q, "---", 3) == 0) {
        r->f[C_SIG] = span(base, s0, s1);
        r->rk = "signal";
        return 1;
    }
    if (q >= e || *q != '{') return 0;
    const char *close = NULL;
    for (const char *x = e - 1; x > q; x--) {
        if (*x == '}') {
            close = x;
            break;
        }
    }
    if (!close) return 0;
    const char *rest = close + 1;
    if (!((e - rest == 4 && memcmp(rest, " ---", 4) == 0) || (e - rest == 3 && memcmp(rest, "---", 3) == 0)))
        return 0;
    r->f[C_SIG] = span(base, s0, s1);
    r->f[C_INFO] = span(base, q, close + 1);
    r->rk = "signal";
    return 1;
}

static int read_digits_to(const char *q, const char *e, const char *suffix, size_t n,
                          const char **d1) {
    const char *d = q;
    while (d < e && IS_DIGIT(*d)) d++;
    if (d == q || (size_t)(e - d) != n || memcmp(d, suffix, n) != 0) return 0;
    *d1 = d;
    return 1;
}

/* +++ exited with N +++, +++ killed by SIG... [(core dumped)] +++, +++ superseded by ... +++ */
static int read_exit(const char *base, const char *p, const char *e, Rec *r) {
    const char *q = p + 4;
    const char *d1;
    if (starts_with(q, e, "exited with ", 12)) {
        q += 12;
        if (!read_digits_to(q, e, " +++", 4, &d1)) return 0;
        r->f[C_STATUS] = span(base, q, d1);
        r->rk = "exit";
        return 1;
    }
    if (starts_with(q, e, "superseded by execve in pid ", 28)) {
        q += 28;
        if (!read_digits_to(q, e, " +++", 4, &d1)) return 0;
        r->f[C_FORMER] = span(base, q, d1);
        r->rk = "exec";
        return 1;
    }
    if (starts_with(q, e, "killed by ", 10)) {
        q += 10;
        const char *s0 = q;
        if (starts_with(q, e, "SIG", 3)) {
            q += 3;
            if (q >= e || !IS_WORD(*q)) return 0;
            while (q < e && IS_WORD(*q)) q++;
        } else {
            while (q < e && IS_DIGIT(*q)) q++;
            if (q == s0) return 0;
        }
        const char *s1 = q;
        if (e - q == 4 && memcmp(q, " +++", 4) == 0) {
            r->core = 0;
        } else if (e - q == 18 && memcmp(q, " (core dumped) +++", 18) == 0) {
            r->core = 1;
        } else {
            return 0;
        }
        r->f[C_SIG] = span(base, s0, s1);
        r->rk = "kill";
        return 1;
    }
    return 0;
}

/* a syscall name: [a-z_][a-z0-9_]*|\?\?\?\?? ; returns its end or NULL */
static const char *read_name(const char *q, const char *e) {
    if (q < e && (IS_LOWER(*q) || *q == '_')) {
        q++;
        while (q < e && (IS_LOWER(*q) || IS_DIGIT(*q) || *q == '_')) q++;
        return q;
    }
    if (e - q >= 3 && q[0] == '?' && q[1] == '?' && q[2] == '?') {
        q += 3;
        if (q < e && *q == '?') q++;
        return q;
    }
    return NULL;
}

/* the time checks of lines.IMPLAUSIBLE_TIME: ^\d{11}|\.\d{10} */
static int implausible_time(const char *p, const char *e) {
    const char *q = p;
    while (q < e && IS_DIGIT(*q)) q++;
    if (q - p >= 11) return 1;
    for (const char *x = p; x < e; x++) {
        if (*x == '.') {
            const char *y = x + 1;
            while (y < e && IS_DIGIT(*y)) y++;
            if (y - (x + 1) >= 10) return 1;
        }
    }
    return 0;
}

/* no byte of [p, e) is outside ASCII (8 bytes at a time) */
static inline int is_ascii(const char *p, const char *e) {
    uint64_t acc = 0;
    while (e - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        acc |= w;
        p += 8;
    }
    while (p < e) acc |= (uint8_t)*p++;
    return (acc & 0x8080808080808080ULL) == 0;
}

/* One line -> 1 placed (r filled), 0 not certain. */
static int read_line(const char *base, const char *p, const char *e, Rec *r) {
    rec_clear(r);
    /* the leader: \d+ +\d+\.\d+ (?:\(\+ *\d+\.\d+\) )? */
    const char *q = p;
    while (q < e && IS_DIGIT(*q)) q++;
    if (q == p || q - p > 10 || q >= e || *q != ' ') return 0;
    r->f[C_PID2] = span(base, p, q);
    while (q < e && *q == ' ') q++;
    const char *n0 = q;
    while (q < e && IS_DIGIT(*q)) q++;
    if (q == n0 || q >= e || *q != '.') return 0;
    q++;
    if (q >= e || !IS_DIGIT(*q)) return 0;
    while (q < e && IS_DIGIT(*q)) q++;
    if (q >= e || *q != ' ') return 0;
    if (implausible_time(n0, q)) return 0;
    r->f[C_NUM] = span(base, n0, q);
    q++;
    if (q + 1 < e && q[0] == '(' && q[1] == '+') {
        const char *x = q + 2;
        while (x < e && *x == ' ') x++;
        const char *d = x;
        while (x < e && IS_DIGIT(*x)) x++;
        if (x > d && x < e && *x == '.') {
            x++;
            const char *f = x;
            while (x < e && IS_DIGIT(*x)) x++;
            if (x > f && x + 1 < e && x[0] == ')' && x[1] == ' ') q = x + 2;
        }
    }
    const char *b = q; /* the body */
    if (b >= e) return 0;
    r->never = ends_with(b, e, UNFINISHED_NEVER, sizeof(UNFINISHED_NEVER) - 1) ||
               ends_with(b, e, DETACHED_SUFFIX, sizeof(DETACHED_SUFFIX) - 1);
    int many;
    const char *tail = find_tail(b, e, &many);
    if (many) return 0;
    if (b[0] == '-' && starts_with(b, e, "--- ", 4)) {
        if (tail) return 0;
        return read_signal(base, b, e, r);
    }
    if (b[0] == '+' && starts_with(b, e, "+++ ", 4)) {
        if (tail) return 0;
        return read_exit(base, b, e, r);
    }
    if (tail && !read_tail(base, tail, e, r)) return 0;
    if (b[0] == '<') {
        if (!starts_with(b, e, "<... ", 5)) return 0;
        const char *n = b + 5;
        const char *ne = read_name(n, e);
        if (!ne || !starts_with(ne, e, " resumed>", 9)) return 0;
        const char *h = ne + 9;
        if (starts_with(h, e, UNFINISHED_SUFFIX, sizeof(UNFINISHED_SUFFIX) - 1))
            h += sizeof(UNFINISHED_SUFFIX) - 1;
        if (!tail || tail < h) return 0;
        r->f[C_NAME] = span(base, n, ne);
        r->f[C_ARGS] = span(base, h, tail);
        r->rk = "resumed";
        return 1;
    }
    const char *ne = read_name(b, e);
    if (!ne || ne >= e || *ne != '(') return 0;
    r->f[C_NAME] = span(base, b, ne);
    const char *a0 = ne + 1;
    size_t unf = 0;
    if (ends_with(b, e, UNFINISHED_NEVER, sizeof(UNFINISHED_NEVER) - 1))
        unf = sizeof(UNFINISHED_NEVER) - 1;
    else if (ends_with(b, e, UNFINISHED_SUFFIX, sizeof(UNFINISHED_SUFFIX) - 1))
        unf = sizeof(UNFINISHED_SUFFIX) - 1;
    else if (ends_with(b, e, DETACHED_SUFFIX, sizeof(DETACHED_SUFFIX) - 1))
        unf = sizeof(DETACHED_SUFFIX) - 1;
    if (unf) {
        const char *a1 = e - unf;
        if (a1 < a0) return 0;
        r->f[C_ARGS] = span(base, a0, a1);
        r->rk = "unfinished";
        return 1;
    }
    if (!tail || tail < a0) return 0;
    r->f[C_ARGS] = span(base, a0, tail);
    r->rk = "call";
    return 1;
}

/* the number checks of lines.MAX_DIGITS and the dur check; 1 when a field is out of range */
static int bad_numbers(const Rec *r, const char *base) {
    const Span *d = &r->f[C_DUR];
    if (r->f[C_RET].off >= 0 && r->f[C_RET].len > 20) return 1;
    if (r->f[C_STATUS].off >= 0 && r->f[C_STATUS].len > 3) return 1;
    if (r->f[C_FORMER].off >= 0 && r->f[C_FORMER].len > 10) return 1;
    if (d->off >= 0 && implausible_time(base + d->off, base + d->off + d->len)) return 1;
    return 0;
}

/* ---------------------------------------------------------------- export */
/* A child array of the exported struct: its buffers are the ColPriv's, freed with it. */
static int leaf(struct ArrowArray *out, ColPriv *p, int64_t n, int64_t nulls, int64_t n_buffers) {
    out->length = n;
    out->null_count = nulls;
    out->offset = 0;
    out->n_buffers = n_buffers;
    out->n_children = 0;
    out->buffers = p->buffers;
    out->children = NULL;
    out->dictionary = NULL;
    out->release = release_child;
    out->private_data = p;
    return 0;
}

static int make_view_column(Cols *c, int col, Shared *sh, struct ArrowArray *out) {
    int64_t n = c->n;
    ColPriv *p = calloc(1, sizeof(ColPriv));
    if (!p) return -1;
    int64_t nulls;
    if (c->views[col]) {
        /* the column's buffers go to the array */
        p->values = c->views[col];
        p->validity = c->valid[col];
        c->views[col] = NULL;
        c->valid[col] = NULL;
        nulls = n;
        const uint8_t *v = p->validity;
        for (int64_t i = 0; i < n / 8; i++) nulls -= __builtin_popcount(v[i]);
        for (int64_t i = n / 8 * 8; i < n; i++) nulls -= (v[i >> 3] >> (i & 7)) & 1;
        p->buffers[0] = nulls ? p->validity : NULL;
        p->buffers[1] = p->values;
    } else {
        nulls = n;
        p->buffers[0] = sh->zeros;
        p->buffers[1] = sh->zeros;
    }
    p->sh = sh;
    __atomic_add_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL);
    p->variadic_sizes[0] = sh->size;
    p->variadic_sizes[1] = sh->joined_size;
    p->buffers[2] = sh->data;
    p->buffers[3] = sh->joined;
    p->buffers[4] = p->variadic_sizes;
    return leaf(out, p, n, nulls, 5);
}

static int make_fixed_column(Cols *c, int col, struct ArrowArray *out) {
    int64_t n = c->n;
    ColPriv *p = calloc(1, sizeof(ColPriv));
    if (!p) return -1;
    int64_t nulls = 0;
    if (COL_KIND[col] == 'l') {
        p->values = c->line;
        c->line = NULL;
    } else if (COL_KIND[col] == 'L') {
        p->values = c->end_line;
        p->validity = c->end_valid;
        c->end_line = NULL;
        c->end_valid = NULL;
        const uint8_t *v = p->validity;
        nulls = n;
        for (int64_t i = 0; i < n; i++) nulls -= (v[i >> 3] >> (i & 7)) & 1;
    } else {
        p->values = c->b[col];
        c->b[col] = NULL;
    }
    p->buffers[0] = nulls ? p->validity : NULL;
    p->buffers[1] = p->values;
    return leaf(out, p, n, nulls, 2);
}

static PyObject *export_struct(Cols *c, Shared *sh) {
    struct ArrowSchema *schema = calloc(1, sizeof(struct ArrowSchema));
    struct ArrowArray *array = calloc(1, sizeof(struct ArrowArray));
    if (!schema || !array) goto nomem;
    schema->children = calloc(N_COLS, sizeof(struct ArrowSchema *));
    array->children = calloc(N_COLS, sizeof(struct ArrowArray *));
    array->buffers = calloc(1, sizeof(void *));
    if (!schema->children || !array->children || !array->buffers) goto nomem;
    schema->format = "+s";
    schema->name = "";
    schema->n_children = N_COLS;
    schema->release = release_schema;
    array->length = c->n;
    array->n_buffers = 1;
    array->n_children = N_COLS;
    array->release = release_struct;
    for (int i = 0; i < N_COLS; i++) {
        struct ArrowSchema *cs = calloc(1, sizeof(struct ArrowSchema));
        struct ArrowArray *ca = calloc(1, sizeof(struct ArrowArray));
        if (!cs || !ca) {
            free(cs);
            free(ca);
            goto nomem;
        }
        schema->children[i] = cs;
        array->children[i] = ca;
        cs->format = (COL_KIND[i] == 'l' || COL_KIND[i] == 'L') ? "l" : COL_KIND[i] == 'b' ? "b" : "vu";
        cs->name = COL_NAMES[i];
        cs->flags = ARROW_FLAG_NULLABLE;
        cs->release = release_child_schema;
        int rc = COL_KIND[i] == 'v' ? make_view_column(c, i, sh, ca) : make_fixed_column(c, i, ca);
        if (rc < 0) goto nomem;
    }
    PyObject *s_cap = PyCapsule_New(schema, "arrow_schema", capsule_schema_free);
    if (!s_cap) goto fail;
    schema = NULL;
    PyObject *a_cap = PyCapsule_New(array, "arrow_array", capsule_array_free);
    if (!a_cap) {
        Py_DECREF(s_cap);
        goto fail;
    }
    return Py_BuildValue("(NN)", s_cap, a_cap);
nomem:
    PyErr_NoMemory();
fail:
    if (schema) {
        if (schema->children) {
            for (int i = 0; i < N_COLS; i++) free(schema->children[i]);
            free(schema->children);
        }
        free(schema);
    }
    if (array) {
        if (array->children) {
            for (int i = 0; i < N_COLS; i++) {
                struct ArrowArray *ca = array->children[i];
                if (ca && ca->release) ca->release(ca);
                free(ca);
            }
            free(array->children);
        }
        free((void *)array->buffers);
        free(array);
    }
    return NULL;
}

/* ---------------------------------------------------------------- stitching pairs
 * When every line of a block is placed and its stamps are epoch seconds, each
 * "<unfinished ...>" head and the "<... resumed>" tail that is the next half of the same
 * pid in the block are merged here, as strace.py's _stitch merges them: the head row
 * becomes the call (its arguments joined with the tail's, the tail's return, end_line,
 * res_num and paired set), the tail row goes. The merged row stays among the halves
 * that _stitch pairs (paired): a head carried from the block before is then paired, or
 * not, exactly as without this. */
static inline int bit_get(const uint8_t *b, int64_t i) { return (b[i >> 3] >> (i & 7)) & 1; }

static inline void bit_put(uint8_t *b, int64_t i, int on) {
    if (on) b[i >> 3] |= (uint8_t)(1u << (i & 7));
    else b[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

static inline void view_get(const uint8_t *v, const Shared *sh, const char **p, int32_t *len) {
    int32_t l;
    memcpy(&l, v, 4);
    *len = l;
    if (l <= 12) {
        *p = (const char *)v + 4;
    } else {
        int32_t bi, off;
        memcpy(&bi, v + 8, 4);
        memcpy(&off, v + 12, 4);
        *p = (bi == 0 ? sh->data : sh->joined) + off;
    }
}

static inline void view_set(uint8_t *v, const char *src, int32_t len, int32_t buf, int32_t off) {
    memcpy(v, &len, 4);
    if (len <= 12) {
        memset(v + 4, 0, 12);
        memcpy(v + 4, src, (size_t)len);
    } else {
        memcpy(v + 4, src, 4);
        memcpy(v + 8, &buf, 4);
        memcpy(v + 12, &off, 4);
    }
}

/* 1 unfinished (open), 2 unfinished (never returns), 3 resumed, 0 anything else */
static inline int half_kind(const Cols *c, int64_t i) {
    const uint8_t *v = c->views[C_RK] + 16 * i;
    int32_t len;
    memcpy(&len, v, 4);
    if (len == 10 && memcmp(v + 4, "unfinished", 10) == 0)
        return bit_get(c->b[C_NEVER], i) ? 2 : 1;
    if (len == 7 && memcmp(v + 4, "resumed", 7) == 0) return 3;
    return 0;
}

static int64_t row_pid(const Cols *c, const Shared *sh, int64_t i) {
    const char *p;
    int32_t len;
    view_get(c->views[C_PID2] + 16 * i, sh, &p, &len);
    int64_t v = 0;
    for (int32_t k = 0; k < len; k++) v = v * 10 + (p[k] - '0');
    return v;
}

/* the first row's stamp is past 1e8 seconds (so strace.py reads the clock as epoch) */
static int epoch_stamps(const Cols *c, const Shared *sh) {
    if (c->n == 0) return 0;
    const char *p;
    int32_t len;
    view_get(c->views[C_NUM], sh, &p, &len);
    int64_t v = 0;
    for (int32_t k = 0; k < len && p[k] != '.'; k++) v = v * 10 + (p[k] - '0');
    return v > 100000000;
}

static const int TAKEN[] = {C_RET, C_TARGET, C_ERRNO, C_ERRMSG, C_EXTRA, C_DUR};
/* every column a row has, for moving rows */
static const int ROW_VIEWS[] = {
    C_RK, C_PID2, C_NUM, C_NAME, C_ARGS, C_RET, C_TARGET, C_ERRNO, C_ERRMSG, C_EXTRA, C_DUR,
    C_SIG, C_INFO, C_STATUS, C_FORMER, C_RES_NUM,
};

static int merge_pairs(Cols *c, Shared *sh) {
    int64_t n = c->n;
    if (n < 2) return 0;
    int64_t cap = 1;
    while (cap < 2 * n) cap <<= 1;
    int64_t *keys = big_alloc(sizeof(int64_t) * (size_t)cap, 0);
    int64_t *last = big_alloc(sizeof(int64_t) * (size_t)cap, 0);
    uint8_t *gone = big_alloc((size_t)n, 1);
    int64_t joined_cap = 1 << 20; /* grows as needed; views hold offsets, not pointers */
    sh->joined = big_alloc((size_t)joined_cap, 0);
    if (!keys || !last || !gone || !sh->joined) {
        big_free(keys);
        big_free(last);
        big_free(gone);
        return -1;
    }
    for (int64_t i = 0; i < cap; i++) keys[i] = -1;
    sh->joined_size = 0;
    int64_t merged = 0;
    for (int64_t t = 0; t < n; t++) {
        int kind = half_kind(c, t);
        if (!kind) continue;
        int64_t pid = row_pid(c, sh, t);
        uint64_t slot = ((uint64_t)pid * 0x9E3779B97F4A7C15ULL) & (uint64_t)(cap - 1);
        while (keys[slot] != -1 && keys[slot] != pid) slot = (slot + 1) & (uint64_t)(cap - 1);
        int64_t h = keys[slot] == pid ? last[slot] : -1;
        keys[slot] = pid;
        last[slot] = t;
        if (h < 0 || kind != 3 || half_kind(c, h) != 1) continue;
        const char *hn, *tn;
        int32_t hl, tl;
        view_get(c->views[C_NAME] + 16 * h, sh, &hn, &hl);
        view_get(c->views[C_NAME] + 16 * t, sh, &tn, &tl);
        int same = (hl == tl && memcmp(hn, tn, (size_t)hl) == 0) ||
                   (tl == 3 && memcmp(tn, "???", 3) == 0) || (tl == 4 && memcmp(tn, "????", 4) == 0);
        if (!same) continue;
        /* merge t into h */
        const char *ha, *ta;
        int32_t hal, tal;
        view_get(c->views[C_ARGS] + 16 * h, sh, &ha, &hal);
        view_get(c->views[C_ARGS] + 16 * t, sh, &ta, &tal);
        char both[24];
        int32_t total = hal + tal;
        if (total <= 12) {
            memcpy(both, ha, (size_t)hal);
            memcpy(both + hal, ta, (size_t)tal);
            view_set(c->views[C_ARGS] + 16 * h, both, total, 0, 0);
        } else {
            if (sh->joined_size + total > joined_cap) {
                int64_t cap2 = 2 * joined_cap;
                while (cap2 < sh->joined_size + total) cap2 *= 2;
                char *bigger = big_alloc((size_t)cap2, 0);
                if (!bigger) {
                    big_free(keys);
                    big_free(last);
                    big_free(gone);
                    return -1;
                }
                memcpy(bigger, sh->joined, (size_t)sh->joined_size);
                big_free(sh->joined);
                sh->joined = bigger;
                joined_cap = cap2;
            }
            char *dst = sh->joined + sh->joined_size;
            memcpy(dst, ha, (size_t)hal);
            memcpy(dst + hal, ta, (size_t)tal);
            view_set(c->views[C_ARGS] + 16 * h, dst, total, 1, (int32_t)sh->joined_size);
            sh->joined_size += total;
        }
        view_set(c->views[C_RK] + 16 * h, "call", 4, 0, 0);
        for (size_t k = 0; k < sizeof(TAKEN) / sizeof(TAKEN[0]); k++) {
            int col = TAKEN[k];
            memcpy(c->views[col] + 16 * h, c->views[col] + 16 * t, 16);
            bit_put(c->valid[col], h, bit_get(c->valid[col], t));
        }
        memcpy(c->views[C_RES_NUM] + 16 * h, c->views[C_NUM] + 16 * t, 16);
        bit_put(c->valid[C_RES_NUM], h, 1);
        c->end_line[h] = c->line[t];
        bit_put(c->end_valid, h, 1);
        bit_put(c->b[C_PAIRED], h, 1);
        if (bit_get(c->b[C_SECRET], t)) bit_put(c->b[C_SECRET], h, 1);
        gone[t] = 1;
        merged++;
    }
    if (merged) {
        /* drop the tails, one column at a time (each array read and written in order): the
         * rows kept, src[j] >= j, are gathered forwards in place */
        int64_t m = 0, *src = (int64_t *)keys; /* (keys has room: cap >= 2n) */
        for (int64_t k = 0; k < n; k++)
            if (!gone[k]) src[m++] = k;
        for (int64_t j = 0; j < m; j++) {
            c->line[j] = c->line[src[j]];
            c->end_line[j] = c->end_line[src[j]];
        }
        for (size_t q = 0; q < sizeof(ROW_VIEWS) / sizeof(ROW_VIEWS[0]); q++) {
            uint8_t *v = c->views[ROW_VIEWS[q]];
            for (int64_t j = 0; j < m; j++) memcpy(v + 16 * j, v + 16 * src[j], 16);
        }
        uint8_t *bitmaps[sizeof(ROW_VIEWS) / sizeof(ROW_VIEWS[0]) + N_BOOL_USED + 1];
        size_t nb = 0;
        for (size_t q = 0; q < sizeof(ROW_VIEWS) / sizeof(ROW_VIEWS[0]); q++)
            bitmaps[nb++] = c->valid[ROW_VIEWS[q]];
        for (int q = 0; q < N_BOOL_USED; q++) bitmaps[nb++] = c->b[BOOL_USED[q]];
        bitmaps[nb++] = c->end_valid;
        for (size_t q = 0; q < nb; q++) {
            uint8_t *b = bitmaps[q];
            /* a bitmap all zeros or all ones over the n rows stays as it is */
            int zeros = 1, ones = 1;
            for (int64_t i = 0; i < n / 8 && (zeros || ones); i++) {
                zeros &= b[i] == 0;
                ones &= b[i] == 0xff;
            }
            for (int64_t i = n / 8 * 8; i < n; i++) {
                zeros &= !bit_get(b, i);
                ones &= bit_get(b, i);
            }
            if (zeros || ones) continue;
            for (int64_t j0 = 0; j0 < m; j0 += 8) {
                uint8_t byte = 0;
                for (int64_t i = 0; i < 8 && j0 + i < m; i++)
                    byte |= (uint8_t)(bit_get(b, src[j0 + i]) << i);
                b[j0 >> 3] = byte;
            }
        }
        c->n = m;
    }
    big_free(keys);
    big_free(last);
    big_free(gone);
    return 0;
}

/* ---------------------------------------------------------------- the fd of the first argument
 * strace.py's _FD_ARG_SIMPLE, then (as _fd_columns, when that misses) its _FD_ARG,
 * ^(-?\d+)<(ANNOTATION)>(?:,|$) with grammar.py's
 * ANNOTATION = (?:->|[^<>]|<(?:->|[^<>])*>)*, on each row's final arguments (after the merges
 * above): fd_num and fd_ann, fd_known set. The scan takes the path a backtracking (or
 * leftmost-first) matcher tries first: "->" before a lone "-", one more repetition before
 * stopping. When that path matches, it is the match the regex reports; when it does not
 * (the regex might still match by backtracking: "3<a->,b"), the row is left to the regexes
 * (fd_known unset), as are rows whose arguments _stitch changes later. */
/* sixteen bytes at a time (GCC's and clang's vector extensions: SSE2 on x86-64, NEON) */
typedef uint8_t v16 __attribute__((vector_size(16)));
typedef uint64_t v2x64 __attribute__((vector_size(16)));

/* the first '<' or '>' in a[t, n), or n */
static inline int32_t find_angle(const char *a, int32_t t, int32_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const v16 lt = {'<', '<', '<', '<', '<', '<', '<', '<', '<', '<', '<', '<', '<', '<', '<', '<'};
    const v16 gt = {'>', '>', '>', '>', '>', '>', '>', '>', '>', '>', '>', '>', '>', '>', '>', '>'};
    for (; t + 16 <= n; t += 16) {
        v16 x;
        memcpy(&x, a + t, 16);
        v2x64 m = (v2x64)((x == lt) | (x == gt));
        if (m[0]) return t + __builtin_ctzll(m[0]) / 8;
        if (m[1]) return t + 8 + __builtin_ctzll(m[1]) / 8;
    }
#endif
    while (t < n && a[t] != '<' && a[t] != '>') t++;
    return t;
}

static inline int32_t annotation_run(const char *a, int32_t t, int32_t n) {
    /* (?:->|[^<>])* from t, greedily: where it stops */
    while (t < n) {
        if (a[t] == '-' && t + 1 < n && a[t + 1] == '>') t += 2;
        else if (a[t] != '<' && a[t] != '>') t++;
        else break;
    }
    return t;
}

static void sub_view(uint8_t *dst, const uint8_t *src_view, const char *bytes, int32_t start,
                     int32_t len) {
    int32_t l;
    memcpy(&l, src_view, 4);
    if (l <= 12 || len <= 12) {
        view_set(dst, bytes + start, len, 0, 0);
        return;
    }
    int32_t bi, off;
    memcpy(&bi, src_view + 8, 4);
    memcpy(&off, src_view + 12, 4);
    view_set(dst, bytes + start, len, bi, off + start);
}

static void fd_columns(Cols *c, const Shared *sh) {
    for (int64_t i = 0; i < c->n; i++) {
        if (!bit_get(c->valid[C_ARGS], i)) {
            bit_put(c->b[C_FD_KNOWN], i, 1);
            continue;
        }
        const uint8_t *av = c->views[C_ARGS] + 16 * i;
        const char *a;
        int32_t n;
        view_get(av, sh, &a, &n);
        int32_t q = 0;
        if (q < n && a[q] == '-') q++;
        int32_t d0 = q;
        while (q < n && IS_DIGIT(a[q])) q++;
        if (q == d0 || q >= n || a[q] != '<') {
            bit_put(c->b[C_FD_KNOWN], i, 1); /* not an annotated fd: no match */
            continue;
        }
        int32_t t0 = q + 1, t = t0;
        /* first _FD_ARG_SIMPLE, ^(-?\d+)<([^<>]*)>(?:,|$), as _fd_columns does */
        t = find_angle(a, t, n);
        if (!(t < n && a[t] == '>' && (t + 1 == n || a[t + 1] == ',')))
            for (t = t0;;) {
                t = annotation_run(a, t, n);
                if (t >= n || a[t] != '<') break;
                int32_t u = annotation_run(a, t + 1, n); /* a nested <...> */
                if (u >= n || a[u] != '>') break;        /* (the first path fails here) */
                t = u + 1;
            }
        if (t < n && a[t] == '>' && (t + 1 == n || a[t + 1] == ',')) {
            sub_view(c->views[C_FD_NUM] + 16 * i, av, a, 0, q);
            bit_put(c->valid[C_FD_NUM], i, 1);
            sub_view(c->views[C_FD_ANN] + 16 * i, av, a, t0, t - t0);
            bit_put(c->valid[C_FD_ANN], i, 1);
            bit_put(c->b[C_FD_KNOWN], i, 1);
        }
    }
}

/* ---------------------------------------------------------------- lines that may hold a secret
 * The redaction's keywords (gotrace/redact.py's KEYWORDS, lower case, each with an anchor:
 * one of its bytes, or two neighbouring ones, that are rare in strace's text: strace.py's
 * _KEYWORD_ANCHORS) are looked for in the whole block at once: one pass, sixteen bytes at
 * a time, finds where any anchor starts (bytes folded to lower case by setting bit 0x20,
 * which also folds a few other bytes together: a superset), each keyword of that anchor is
 * compared around it (ASCII case-insensitively), and the line it lies in is marked. The
 * mark is a superset of what the keyword scan of the event columns finds: those columns
 * are pieces of the line. */
#define MAX_KEYWORDS 64
typedef struct {
    const char *word; /* lower case */
    int32_t len;
    int32_t anchor; /* where the anchor starts in word */
    int32_t anchor_len; /* 1 or 2 */
    char need, stop;    /* when need: it must follow in the line, before stop */
} Keyword;

static inline int lower_eq(const char *p, const char *word, int32_t len) {
    for (int32_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch + 32);
        if (ch != (unsigned char)word[i]) return 0;
    }
    return 1;
}

/* whether need comes in [p, end) before stop or the end of the line */
static inline int needed_after(const char *p, const char *end, char need, char stop) {
    for (; p < end && *p != '\n' && *p != stop; p++)
        if (*p == need) return 1;
    return 0;
}

/* the keywords by the folded first byte of their anchor (indices into the keywords) */
typedef struct {
    uint8_t n[256];
    uint8_t at[256][8];
} ByFirst;

/* whether the keyword w lies at at (with what it needs after it); if so its line is marked */
static inline int mark_keyword(const char *data, const char *end, const char *at,
                               const Keyword *w, const int64_t *starts, int64_t n_lines,
                               uint8_t *out) {
    if (at < data || at + w->len > end || !lower_eq(at, w->word, w->len)) return 0;
    if (w->need && !needed_after(at + w->len, end, w->need, w->stop)) return 0;
    /* the line holding it: the last start <= at (a keyword has no newline) */
    int64_t lo = 0, hi = n_lines - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (starts[mid] <= at - data) lo = mid;
        else hi = mid - 1;
    }
    out[lo] = 1;
    return 1;
}

/* the keywords whose anchor may start at hit: mark the line of the first one found there */
static void check_anchor(const char *data, const char *end, const char *hit,
                         const int64_t *starts, int64_t n_lines, const Keyword *kw,
                         const ByFirst *by, uint8_t *out) {
    unsigned char a = (unsigned char)(hit[0] | 0x20);
    unsigned char b = hit + 1 < end ? (unsigned char)(hit[1] | 0x20) : 0;
    for (int j = 0; j < by->n[a]; j++) {
        const Keyword *w = &kw[by->at[a][j]];
        if (w->anchor_len == 2 && ((unsigned char)w->word[w->anchor + 1] | 0x20) != b) continue;
        if (mark_keyword(data, end, hit - w->anchor, w, starts, n_lines, out)) return;
    }
}

/* the anchors the scan compares with: up to four single bytes and four pairs in fixed
 * slots (unrolled, held in registers); a slot not used holds 0, which no folded byte is
 * (folding sets bit 0x20) */
#define SLOTS 4
static inline v16 splat(uint8_t a) {
    v16 v;
    for (int i = 0; i < 16; i++) v[i] = a;
    return v;
}

static void secret_lines(const char *data, int64_t size, const int64_t *starts, int64_t n_lines,
                         const Keyword *kw, int n_kw, uint8_t *out) {
    const char *end = data + size;
    ByFirst by;
    memset(by.n, 0, sizeof(by.n));
    uint8_t single[MAX_KEYWORDS], first[MAX_KEYWORDS], second[MAX_KEYWORDS];
    int n_single = 0, n_pairs = 0, slotted = 1;
    for (int k = 0; k < n_kw; k++) {
        uint8_t a = (uint8_t)(kw[k].word[kw[k].anchor] | 0x20);
        if (by.n[a] < 8) by.at[a][by.n[a]++] = (uint8_t)k;
        else slotted = 0; /* (more than 8 keywords on one byte: the slow way below) */
        int seen = 0;
        if (kw[k].anchor_len == 1) {
            for (int j = 0; j < n_single && !seen; j++) seen = single[j] == a;
            if (!seen) single[n_single++] = a;
            continue;
        }
        uint8_t b = (uint8_t)(kw[k].word[kw[k].anchor + 1] | 0x20);
        for (int j = 0; j < n_pairs && !seen; j++) seen = first[j] == a && second[j] == b;
        if (!seen) {
            first[n_pairs] = a;
            second[n_pairs++] = b;
        }
    }
    if (!slotted || n_single > SLOTS || n_pairs > SLOTS) {
        /* every byte is tried as an anchor's first byte: right for any keywords, slower */
        for (int64_t i = 0; i < size; i++) {
            unsigned char a = (unsigned char)(data[i] | 0x20);
            for (int k = 0; k < n_kw; k++)
                if (((unsigned char)kw[k].word[kw[k].anchor] | 0x20) == a)
                    mark_keyword(data, end, data + i - kw[k].anchor, &kw[k], starts, n_lines, out);
        }
        return;
    }
    v16 s[SLOTS], f[SLOTS], g[SLOTS];
    for (int j = 0; j < SLOTS; j++) {
        s[j] = splat(j < n_single ? single[j] : 0);
        f[j] = splat(j < n_pairs ? first[j] : 0);
        g[j] = splat(j < n_pairs ? second[j] : 0);
    }
    const v16 fold = splat(0x20);
    int64_t i = 0;
    for (; i + 17 <= size; i += 16) {
        v16 x, y;
        memcpy(&x, data + i, 16);
        memcpy(&y, data + i + 1, 16);
        x |= fold;
        y |= fold;
        v16 m = (v16)((x == s[0]) | (x == s[1]) | (x == s[2]) | (x == s[3]));
        m |= (v16)(((x == f[0]) & (y == g[0])) | ((x == f[1]) & (y == g[1])) |
                   ((x == f[2]) & (y == g[2])) | ((x == f[3]) & (y == g[3])));
        v2x64 any = (v2x64)m;
        if (!(any[0] | any[1])) continue;
        for (int q = 0; q < 16; q++)
            if (m[q]) check_anchor(data, end, data + i + q, starts, n_lines, kw, &by, out);
    }
    for (; i < size; i++) check_anchor(data, end, data + i, starts, n_lines, kw, &by, out);
}

/* ---------------------------------------------------------------- classify() */
PyDoc_STRVAR(classify_doc,
"classify(block: bytes | tuple[int, int, int], first_line: int, merge: int = 0,\n"
"         keywords: tuple = None) -> tuple | None\n\n"
"Read a block of strace lines (bytes, or the (fd, offset, length) of a range of a\n"
"regular file, mapped rather than copied); return (capsules, lines, unplaced_lines, unplaced_texts,\n"
"n_lines): the records of the placed lines as an Arrow struct array (schema and array\n"
"capsules), and the 1-based numbers and text of the lines left to the regexes. keywords:\n"
"(lower-case bytes, offset, length of the 1 or 2 bytes to look for[, a byte needed after\n"
"it, a byte it must come before]) tuples; a placed line that holds one (ASCII\n"
"case-insensitively, with what it needs) has its secret column set. None when\n"
"the block does not suit the compiled reader (an unplaced line is not UTF-8, it holds a\n"
"CR, a 0x1f or a byte-order mark, or it is too large).");

/* the reading itself, without the GIL: fills c, and the [start, end) offsets and line
 * numbers of the lines left unplaced (un, 3 per line), given where the n_lines lines start
 * (line_starts) and each line's mark from secret_lines; returns how many are unplaced */
static int64_t place_lines(const char *copy, int64_t size, const int64_t *starts,
                           int64_t n_lines, long long first_line, Cols *c, int64_t *un,
                           const uint8_t *secret) {
    Rec r;
    int64_t n_un = 0;
    const char *end = copy + size;
    for (int64_t idx = 0; idx < n_lines; idx++) {
        const char *x = copy + starts[idx];
        /* the line ends at the next one's newline, the last at the block's (or its end) */
        const char *e = idx + 1 < n_lines ? copy + starts[idx + 1] - 1
                        : end[-1] == '\n'   ? end - 1
                                            : end;
        if (is_ascii(x, e) && read_line(copy, x, e, &r) && !bad_numbers(&r, copy)) {
            int64_t k = c->n++;
            c->line[k] = first_line + idx;
            put_view(c, C_RK, k, r.rk, 0, (int32_t)strlen(r.rk));
            for (int j = 0; j < N_STRING_USED; j++) {
                int col = STRING_USED[j];
                put_view(c, col, k, copy, r.f[col].off, r.f[col].len);
            }
            uint8_t bit = (uint8_t)(1u << (k & 7));
            if (r.stopped) c->b[C_STOPPED][k >> 3] |= bit;
            if (r.core) c->b[C_CORE][k >> 3] |= bit;
            if (r.never) c->b[C_NEVER][k >> 3] |= bit;
            if (secret[idx]) c->b[C_SECRET][k >> 3] |= bit;
        } else {
            un[3 * n_un] = x - copy;
            un[3 * n_un + 1] = e - copy;
            un[3 * n_un + 2] = first_line + idx;
            n_un++;
        }
    }
    return n_un;
}

/* where each line of data[0, size) starts (one pass; the lines are split at "\n" only), in
 * a buffer of big_alloc's; NULL when out of memory. *n: how many lines */
static int64_t *line_starts(const char *data, int64_t size, int64_t *n) {
    int64_t cap = size / 64 + 16, k = 0;
    int64_t *starts = big_alloc(sizeof(int64_t) * (size_t)cap, 0);
    for (const char *x = data, *e = data + size; starts && x < e;) {
        if (k == cap) {
            int64_t *more = big_alloc(sizeof(int64_t) * (size_t)(2 * cap), 0);
            if (more) memcpy(more, starts, sizeof(int64_t) * (size_t)cap);
            big_free(starts);
            starts = more;
            cap *= 2;
            if (!starts) break;
        }
        starts[k++] = x - data;
        const char *nl = memchr(x, '\n', (size_t)(e - x));
        if (!nl) break;
        x = nl + 1;
    }
    *n = k;
    return starts;
}

#define RELEASE_VIEW()                          \
    do {                                        \
        if (map_fd < 0) PyBuffer_Release(&view); \
    } while (0)

static PyObject *classify(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    long long first_line;
    int merge = 0;
    PyObject *src, *kw_obj = NULL;
    if (!PyArg_ParseTuple(args, "OL|iO", &src, &first_line, &merge, &kw_obj)) return NULL;
    /* the block: bytes, or (fd, offset, length) of a regular file, read through a mapping of
     * that range (no copy; the mapping goes with the block's last column) */
    long long map_fd = -1, map_off = 0, map_size = 0;
    if (PyTuple_Check(src)) {
        if (!PyArg_ParseTuple(src, "LLL", &map_fd, &map_off, &map_size)) return NULL;
        if (map_fd < 0 || map_off < 0 || map_size < 0) {
            PyErr_SetString(PyExc_ValueError, "block: (fd, offset, length), none negative");
            return NULL;
        }
        memset(&view, 0, sizeof(view));
        view.len = (Py_ssize_t)map_size;
    } else if (PyObject_GetBuffer(src, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    /* the keywords (bytes objects: their buffers stay valid without the GIL) */
    Keyword kws[MAX_KEYWORDS];
    int n_kw = 0;
    if (kw_obj && kw_obj != Py_None) {
        if (!PyTuple_Check(kw_obj) || PyTuple_GET_SIZE(kw_obj) > MAX_KEYWORDS) {
            RELEASE_VIEW();
            PyErr_SetString(PyExc_TypeError, "keywords: a tuple of (bytes, offset, length)");
            return NULL;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kw_obj); i++) {
            const char *word;
            Py_ssize_t len;
            int anchor, anchor_len;
            const char *need = "", *stop = "";
            Py_ssize_t need_len = 0, stop_len = 0;
            if (!PyArg_ParseTuple(PyTuple_GET_ITEM(kw_obj, i), "y#ii|y#y#", &word, &len, &anchor,
                                  &anchor_len, &need, &need_len, &stop, &stop_len) ||
                len < 1 || len > 64 || anchor_len < 1 || anchor_len > 2 || anchor < 0 ||
                anchor + anchor_len > len || need_len > 1 || stop_len > 1 ||
                (need_len == 1 && (need[0] == '\n' || need[0] == 0))) {
                RELEASE_VIEW();
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError,
                                    "keywords: 1-64 bytes, an anchor of 1 or 2 inside, then"
                                    " at most a byte needed after it and a byte it must come"
                                    " before");
                return NULL;
            }
            kws[n_kw++] = (Keyword){word, (int32_t)len, (int32_t)anchor, (int32_t)anchor_len,
                                    need_len ? need[0] : 0, stop_len ? stop[0] : '\n'};
        }
    }
    int64_t size = view.len;
    if (size >= INT32_MAX) {
        RELEASE_VIEW();
        Py_RETURN_NONE;
    }
    Shared *sh = calloc(1, sizeof(Shared));
    if (!sh) {
        RELEASE_VIEW();
        return PyErr_NoMemory();
    }
    sh->size = size;
    sh->refs = 1;
    Cols c;
    memset(&c, 0, sizeof(c));
    int64_t *un = NULL, *starts = NULL;
    uint8_t *secret = NULL;
    int64_t n_lines = 0, n_un = -1;
    PyObject *un_lines = NULL, *un_texts = NULL, *result = NULL;

    int map_errno = 0, special = 0;
    Py_BEGIN_ALLOW_THREADS
    if (map_fd >= 0) {
        long page = sysconf(_SC_PAGESIZE);
        long long base = map_off - map_off % (page > 0 ? page : 4096);
        sh->map_len = (size_t)(map_off - base + size);
        int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
        flags |= MAP_POPULATE;
#endif
        void *m = sh->map_len ? mmap(NULL, sh->map_len, PROT_READ, flags, (int)map_fd, (off_t)base)
                              : MAP_FAILED;
        if (m == MAP_FAILED) {
            map_errno = sh->map_len ? errno : EINVAL;
            sh->map_len = 0;
        } else {
            sh->map = m;
            sh->data = (char *)m + (map_off - base);
        }
    } else {
        sh->data = big_alloc((size_t)size, 0);
        if (sh->data) memcpy(sh->data, view.buf, (size_t)size);
    }
    /* split_lines treats these specially (a CR before a newline, the unit separator, a
     * byte-order mark); the core splits at "\n" only: such a block is not for it */
    if (sh->data && (memchr(sh->data, '\r', (size_t)size) || memchr(sh->data, 0x1f, (size_t)size) ||
                     (size >= 3 && memcmp(sh->data, "\xef\xbb\xbf", 3) == 0)))
        special = 1;
    if (sh->data && !special) starts = line_starts(sh->data, size, &n_lines);
    if (starts) {
        sh->zeros = big_alloc(16 * (size_t)(n_lines ? n_lines : 1), 1);
        un = big_alloc(3 * sizeof(int64_t) * (size_t)(n_lines ? n_lines : 1), 0);
        secret = big_alloc((size_t)(n_lines ? n_lines : 1), 1);
        if (secret && n_kw && n_lines) secret_lines(sh->data, size, starts, n_lines, kws, n_kw, secret);
        if (sh->zeros && un && secret && cols_init(&c, n_lines) == 0) {
            n_un = place_lines(sh->data, size, starts, n_lines, first_line, &c, un, secret);
            /* merge: 1 the clock is epoch seconds, 2 it is not known yet */
            if (n_un == 0 && (merge == 1 || (merge == 2 && epoch_stamps(&c, sh))) &&
                merge_pairs(&c, sh) < 0)
                n_un = -1;
            if (!sh->joined) sh->joined = big_alloc(1, 0);
            if (!sh->joined) n_un = -1;
            else fd_columns(&c, sh);
        }
    }
    Py_END_ALLOW_THREADS
    RELEASE_VIEW();
    if (map_errno) {
        errno = map_errno;
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    if (special) {
        Py_INCREF(Py_None);
        result = Py_None;
        goto done;
    }
    if (n_un < 0) {
        PyErr_NoMemory();
        goto done;
    }
    un_lines = PyList_New(n_un);
    un_texts = PyList_New(n_un);
    if (!un_lines || !un_texts) goto done;
    for (int64_t i = 0; i < n_un; i++) {
        PyObject *num = PyLong_FromLongLong(un[3 * i + 2]);
        if (!num) goto done;
        PyList_SET_ITEM(un_lines, i, num);
        PyObject *txt = PyUnicode_DecodeUTF8(sh->data + un[3 * i],
                                             (Py_ssize_t)(un[3 * i + 1] - un[3 * i]), NULL);
        if (!txt) {
            /* not UTF-8: the whole block goes the pure way (polars reads it leniently) */
            PyErr_Clear();
            Py_INCREF(Py_None);
            result = Py_None;
            goto done;
        }
        PyList_SET_ITEM(un_texts, i, txt);
    }
    {
        PyObject *caps = export_struct(&c, sh);
        if (!caps) goto done;
        result = Py_BuildValue("(NOOL)", caps, un_lines, un_texts, (long long)n_lines);
    }
done:
    cols_free(&c);
    big_free(un);
    big_free(starts);
    big_free(secret);
    Py_XDECREF(un_lines);
    Py_XDECREF(un_texts);
    shared_decref(sh);
    return result;
}

static PyMethodDef methods[] = {
    {"classify", classify, METH_VARARGS, classify_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastparse",
    "The compiled core of gotrace's strace parser (see classify).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastparse(void) { return PyModule_Create(&module); }
