/* Compiled fast path of the access-log parser (parsers/fast_path.py drives it).
 *
 * It walks each line once with a small program compiled in Python from the format's token list
 * (parsers/log_format.py), so the format is still defined in one place. A line is "taken" only when
 * every step matches exactly the way the format's regex would and every value converts exactly the
 * way parsers/access_convert.py converts it; any other line is left for the regex path, so rows are
 * identical by construction. Strings are returned as Arrow string_view entries that point into the
 * input's own data buffers: no text is copied. Every read is bounds-checked against the buffers
 * Python handed in (log content is hostile), and the GIL is released while the lines are walked so
 * the pipeline's other threads keep running.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_fastsplit_lines.h"
#include "_fastsplit_values.h"

enum { OP_LITERAL = 0, OP_TOKEN = 1, OP_QUOTED = 2, OP_TIME = 3, OP_STATUS = 4, OP_BYTES = 5, OP_DURATION = 6 };
/* String output columns; the first five come from format fields, the last four from the request. */
enum {
    COL_CLIENT, COL_REMOTE_USER, COL_REQUEST, COL_REFERER, COL_USER_AGENT,
    COL_METHOD, COL_PATH, COL_QUERY, COL_PROTOCOL, STRING_COLUMNS
};
#define MAX_OPS 64
#define VIEW_BYTES 16
#define INLINE_BYTES 12
#define MAX_DIGITS 18 /* more may not fit an int64: the regex path decides those lines */

typedef struct {
    int op;
    int column; /* output column of a token or quoted field, -1 when the field is not kept */
    const unsigned char *literal;
    Py_ssize_t literal_len;
} Step;

typedef struct {
    const unsigned char *data;
    Py_ssize_t len;
    int32_t buffer_index;
    int64_t offset; /* of the line in its data buffer */
} Line;

typedef struct {
    unsigned char *views[STRING_COLUMNS];
    unsigned char *valid[STRING_COLUMNS];
    int64_t *times;
    int32_t *status;
    int64_t *bytes;
    unsigned char *bytes_valid;
    double *duration;
    unsigned char *duration_valid;
    unsigned char *taken;
} Outputs;


static void set_bit(unsigned char *bitmap, Py_ssize_t row, int value) {
    if (value) bitmap[row >> 3] |= (unsigned char)(1u << (row & 7));
    else bitmap[row >> 3] &= (unsigned char)~(1u << (row & 7));
}

/* An Arrow string_view entry for bytes [start, start+len) of the line. */
static void write_view(unsigned char *view, const Line *line, Py_ssize_t start, Py_ssize_t len) {
    int32_t length = (int32_t)len;
    memset(view, 0, VIEW_BYTES);
    memcpy(view, &length, 4);
    if (len <= INLINE_BYTES) {
        memcpy(view + 4, line->data + start, (size_t)len);
        return;
    }
    int32_t offset = (int32_t)(line->offset + start);
    memcpy(view + 4, line->data + start, 4);
    memcpy(view + 8, &line->buffer_index, 4);
    memcpy(view + 12, &offset, 4);
}


/* Walk one line; on success fill output row ``row`` and return 1. */
static int parse_line(const Step *steps, int step_count, const Line *line, Outputs *out, Py_ssize_t row) {
    const unsigned char *text = line->data;
    Py_ssize_t pos = 0, len = line->len;
    Span spans[STRING_COLUMNS] = {{0, 0, 0}};
    int64_t micros = 0, byte_count = 0;
    int status = 0, have_time = 0, have_status = 0, have_bytes = 0, have_duration = 0;
    double duration = 0;
    for (int index = 0; index < step_count; index++) {
        const Step *step = &steps[index];
        Py_ssize_t start = pos;
        switch (step->op) {
        case OP_LITERAL:
            /* separators are a few bytes: a loop beats a memcmp call */
            if (len - pos < step->literal_len) return 0;
            for (Py_ssize_t offset = 0; offset < step->literal_len; offset++)
                if (text[pos + offset] != step->literal[offset]) return 0;
            pos += step->literal_len;
            continue;
        case OP_TOKEN:
            while (pos < len && text[pos] != ' ' && text[pos] != '\t') pos++;
            if (pos == start) return 0;
            break;
        case OP_QUOTED:
            /* memchr (vectorised in libc) to the next quote, then any backslash before it escapes
             * the byte after it: most fields have none, so each costs two scans, not a byte loop */
            for (;;) {
                const unsigned char *quote = memchr(text + pos, '"', (size_t)(len - pos));
                if (!quote) return 0;
                const unsigned char *escape = memchr(text + pos, '\\', (size_t)(quote - (text + pos)));
                if (!escape) {
                    pos = quote - text;
                    break;
                }
                pos = escape - text + 1;
                if (pos >= len || text[pos] == '\n') return 0;
                pos++; /* the escaped byte, a quote included */
            }
            break;
        case OP_TIME:
            if (!parse_clf_time(text + pos, len - pos, &micros)) return 0;
            pos += 26;
            have_time = 1;
            continue;
        case OP_STATUS:
            if (len - pos < 3 || !is_digit(text[pos]) || !is_digit(text[pos + 1]) || !is_digit(text[pos + 2]))
                return 0;
            status = (text[pos] - '0') * 100 + (text[pos + 1] - '0') * 10 + (text[pos + 2] - '0');
            if (status < 100 || status > 599) return 0; /* bad_status: the regex path rejects it */
            pos += 3;
            have_status = 1;
            continue;
        case OP_BYTES:
            if (pos < len && text[pos] == '-') {
                pos++;
                continue;
            }
            while (pos < len && is_digit(text[pos])) {
                if (pos - start < MAX_DIGITS) byte_count = byte_count * 10 + (text[pos] - '0');
                pos++;
            }
            if (pos == start || pos - start > MAX_DIGITS) return 0;
            have_bytes = 1;
            continue;
        case OP_DURATION:
            if (!parse_duration(text, len, &pos, step->column, &duration, &have_duration)) return 0;
            continue;
        default:
            return 0;
        }
        if (step->column >= 0) spans[step->column] = (Span){start, pos - start, 1};
    }
    if (pos != len || !have_time || !have_status) return 0;
    Span client = spans[COL_CLIENT], request = spans[COL_REQUEST];
    if (!client.present || is_dash(text, client) || !request.present) return 0; /* missing_client, ... */
    if (!split_request(text, request.start, request.start + request.len, spans + COL_METHOD)) return 0;
    for (int column = 0; column < STRING_COLUMNS; column++) {
        /* '-' is the servers' "no value" for user, referer and agent (access_convert._dash_null) */
        int dash_null = column == COL_REMOTE_USER || column == COL_REFERER || column == COL_USER_AGENT;
        int present = spans[column].present && !(dash_null && is_dash(text, spans[column]));
        unsigned char *view = out->views[column] + row * VIEW_BYTES;
        if (present) write_view(view, line, spans[column].start, spans[column].len);
        else memset(view, 0, VIEW_BYTES);
        set_bit(out->valid[column], row, present);
    }
    out->times[row] = micros;
    out->status[row] = status;
    out->bytes[row] = have_bytes ? byte_count : 0;
    set_bit(out->bytes_valid, row, have_bytes);
    out->duration[row] = have_duration ? duration : 0;
    set_bit(out->duration_valid, row, have_duration);
    return 1;
}

/* The line ``index`` of a string_view array, or 0 when it is inline, null or out of bounds. */
static int read_line(const unsigned char *views, const unsigned char *validity, Py_buffer *data, Py_ssize_t data_count,
                     Py_ssize_t index, Line *line) {
    if (validity && !(validity[index >> 3] & (1u << (index & 7)))) return 0;
    const unsigned char *view = views + index * VIEW_BYTES;
    int32_t length, buffer_index, offset;
    memcpy(&length, view, 4);
    memcpy(&buffer_index, view + 8, 4);
    memcpy(&offset, view + 12, 4);
    if (length <= INLINE_BYTES || buffer_index < 0 || buffer_index >= data_count || offset < 0) return 0;
    if ((int64_t)offset + length > (int64_t)data[buffer_index].len || (int64_t)offset + length > INT32_MAX) return 0;
    line->data = (const unsigned char *)data[buffer_index].buf + offset;
    line->len = length;
    line->buffer_index = buffer_index;
    line->offset = offset;
    return 1;
}

static int compile_steps(PyObject *program, Step *steps, int *step_count) {
    Py_ssize_t count = PyList_Size(program);
    if (count < 0) return 0;
    if (count > MAX_OPS) {
        PyErr_SetString(PyExc_ValueError, "format program too long");
        return 0;
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        PyObject *item = PyList_GetItem(program, index);
        const char *literal;
        Py_ssize_t literal_len;
        if (!PyArg_ParseTuple(item, "iiy#", &steps[index].op, &steps[index].column, &literal, &literal_len)) return 0;
        int op = steps[index].op, column = steps[index].column;
        if (op < OP_LITERAL || op > OP_DURATION || column < -1 || column > COL_USER_AGENT ||
            (op == OP_DURATION && (column < UNIT_SECONDS || column > UNIT_MICROSECONDS))) {
            PyErr_SetString(PyExc_ValueError, "bad format program step");
            return 0;
        }
        steps[index].literal = (const unsigned char *)literal; /* kept alive by ``program`` */
        steps[index].literal_len = literal_len;
    }
    *step_count = (int)count;
    return 1;
}

/* A new output buffer in ``result``. Rows past the taken count are never read (the arrays are
 * that long), so only bitmaps, whose last byte is shared with such rows, are zeroed. */
static PyObject *new_output(PyObject *result, const char *name, Py_ssize_t size, unsigned char **pointer) {
    PyObject *buffer = PyByteArray_FromStringAndSize(NULL, size);
    if (!buffer) return NULL;
    if (strstr(name, "_valid")) memset(PyByteArray_AS_STRING(buffer), 0, (size_t)size);
    *pointer = (unsigned char *)PyByteArray_AS_STRING(buffer);
    int failed = PyDict_SetItemString(result, name, buffer);
    Py_DECREF(buffer);
    return failed ? NULL : buffer;
}

static const char *COLUMN_NAMES[STRING_COLUMNS] = {
    "client_ip", "remote_user", "request", "referer", "user_agent", "method", "path", "query", "protocol"};

static PyObject *split_lines(PyObject *self, PyObject *args) {
    PyObject *program, *data_list, *validity_object, *result = NULL;
    Py_buffer views = {0}, validity = {0}, *data = NULL;
    Py_ssize_t count, data_count = 0, taken = 0, max_bytes = -1;
    Step steps[MAX_OPS];
    int step_count = 0;
    Outputs out;
    char name[64];
    if (!PyArg_ParseTuple(args, "O!ny*OO!|n", &PyList_Type, &program, &count, &views, &validity_object, &PyList_Type,
                          &data_list, &max_bytes))
        return NULL;
    if (!compile_steps(program, steps, &step_count)) goto done;
    if (count < 0 || count > PY_SSIZE_T_MAX / VIEW_BYTES || views.len < count * VIEW_BYTES) {
        PyErr_SetString(PyExc_ValueError, "views buffer shorter than the line count");
        goto done;
    }
    if (validity_object != Py_None) {
        if (PyObject_GetBuffer(validity_object, &validity, PyBUF_SIMPLE) < 0) goto done;
        if (validity.len < (count + 7) / 8) {
            PyErr_SetString(PyExc_ValueError, "validity bitmap shorter than the line count");
            goto done;
        }
    }
    data_count = PyList_Size(data_list);
    data = PyMem_Calloc((size_t)(data_count ? data_count : 1), sizeof(Py_buffer));
    if (!data) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t index = 0; index < data_count; index++)
        if (PyObject_GetBuffer(PyList_GetItem(data_list, index), &data[index], PyBUF_SIMPLE) < 0) {
            data_count = index;
            goto done;
        }
    result = PyDict_New();
    if (!result) goto done;
    Py_ssize_t bitmap = (count + 7) / 8;
    for (int column = 0; column < STRING_COLUMNS; column++) {
        snprintf(name, sizeof name, "%s", COLUMN_NAMES[column]);
        if (!new_output(result, name, count * VIEW_BYTES, &out.views[column])) goto fail;
        snprintf(name, sizeof name, "%s_valid", COLUMN_NAMES[column]);
        if (!new_output(result, name, bitmap, &out.valid[column])) goto fail;
    }
    if (!new_output(result, "requested_at", count * 8, (unsigned char **)&out.times) ||
        !new_output(result, "status", count * 4, (unsigned char **)&out.status) ||
        !new_output(result, "bytes", count * 8, (unsigned char **)&out.bytes) ||
        !new_output(result, "bytes_valid", bitmap, &out.bytes_valid) ||
        !new_output(result, "request_time_ms", count * 8, (unsigned char **)&out.duration) ||
        !new_output(result, "request_time_ms_valid", bitmap, &out.duration_valid) ||
        !new_output(result, "taken", count, &out.taken))
        goto fail;
    const unsigned char *validity_bits = validity_object != Py_None ? validity.buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t index = 0; index < count; index++) {
        Line line;
        /* a line over max_bytes is the parser's line_too_long, whatever it holds */
        int ok = read_line(views.buf, validity_bits, data, data_count, index, &line) &&
                 (max_bytes < 0 || line.len <= max_bytes) && parse_line(steps, step_count, &line, &out, taken);
        out.taken[index] = (unsigned char)ok;
        taken += ok;
    }
    Py_END_ALLOW_THREADS
    PyObject *rows = PyLong_FromSsize_t(taken);
    if (!rows || PyDict_SetItemString(result, "rows", rows) < 0) {
        Py_XDECREF(rows);
        goto fail;
    }
    Py_DECREF(rows);
    goto done;
fail:
    Py_CLEAR(result);
done:
    for (Py_ssize_t index = 0; index < data_count; index++) PyBuffer_Release(&data[index]);
    PyMem_Free(data);
    if (validity.obj) PyBuffer_Release(&validity);
    PyBuffer_Release(&views);
    return result;
}

/* Whether a block holds a C0 control byte other than TAB, LF and CR-before-LF, or DEL (the reader's
 * junk pre-test, parsers/line_reader.py). Each 256-byte stretch is first tested without branches,
 * which the compiler vectorises; only a stretch with a candidate (a CRLF file: every line) is
 * scanned byte by byte. */
static int block_has_control(const unsigned char *bytes, Py_ssize_t len) {
    for (Py_ssize_t start = 0; start < len; start += 256) {
        Py_ssize_t end = len - start > 256 ? start + 256 : len;
        unsigned char candidate = 0;
        for (Py_ssize_t pos = start; pos < end; pos++) {
            unsigned char byte = bytes[pos];
            candidate |= (unsigned char)(((byte < 0x20) & (byte != '\t') & (byte != '\n')) | (byte == 0x7f));
        }
        if (!candidate) continue;
        for (Py_ssize_t pos = start; pos < end; pos++) {
            unsigned char byte = bytes[pos];
            if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7f) return 1;
            if (byte == '\r' && (pos + 1 >= len || bytes[pos + 1] != '\n')) return 1;
        }
    }
    return 0;
}

static PyObject *has_control_bytes(PyObject *self, PyObject *args) {
    Py_buffer block;
    int found;
    if (!PyArg_ParseTuple(args, "y*", &block)) return NULL;
    Py_BEGIN_ALLOW_THREADS
    found = block_has_control(block.buf, block.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&block);
    return PyBool_FromLong(found);
}

/* split_block(block) -> (line count, string_view entries into ``block``, 0-based indexes of the lines
 * holding control bytes), or None when the block is not valid UTF-8 (_fastsplit_lines.h). */
static PyObject *split_block(PyObject *self, PyObject *args) {
    Py_buffer block;
    PyObject *views = NULL, *control_list = NULL, *result = NULL;
    unsigned char *control = NULL;
    if (!PyArg_ParseTuple(args, "y*", &block)) return NULL;
    const unsigned char *text = block.buf;
    Py_ssize_t len = block.len, count = 0;
    int valid, scan_control = 0;
    if (len > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "block longer than a string_view offset");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    valid = block_scan(text, len, &count, &scan_control);
    Py_END_ALLOW_THREADS
    if (!valid) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    views = PyByteArray_FromStringAndSize(NULL, count * LINE_VIEW_BYTES);
    control = PyMem_Malloc((size_t)(count ? count : 1));
    control_list = PyList_New(0);
    if (!views || !control || !control_list) {
        if (!control) PyErr_NoMemory();
        goto done;
    }
    unsigned char *view_bytes = (unsigned char *)PyByteArray_AS_STRING(views);
    Py_BEGIN_ALLOW_THREADS
    block_line_views(text, len, view_bytes, control, scan_control);
    Py_END_ALLOW_THREADS
    for (Py_ssize_t line = 0; scan_control && line < count; line++) {
        if (!control[line]) continue;
        PyObject *index = PyLong_FromSsize_t(line);
        int failed = !index || PyList_Append(control_list, index) < 0;
        Py_XDECREF(index);
        if (failed) goto done;
    }
    result = Py_BuildValue("nOO", count, views, control_list);
done:
    Py_XDECREF(views);
    Py_XDECREF(control_list);
    PyMem_Free(control);
    PyBuffer_Release(&block);
    return result;
}

static PyMethodDef methods[] = {
    {"split_block", split_block, METH_VARARGS,
     "split_block(block) -> (line count, string_view entries, control line indexes), or None if not UTF-8"},
    {"has_control_bytes", has_control_bytes, METH_VARARGS,
     "has_control_bytes(block) -> whether it holds a control byte, DEL or a CR not before LF"},
    {"split_lines", split_lines, METH_VARARGS,
     "split_lines(program, count, views, validity, data_buffers[, max_bytes]) -> dict of output buffers and 'rows'"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastsplit", "Compiled access-log line splitter.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fastsplit(void) { return PyModule_Create(&module); }
