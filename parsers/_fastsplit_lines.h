/* The reader's block pass of the compiled fast path (parsers/_fastsplit.c, parsers/line_reader.py):
 * a block of lines -> Arrow string_view entries, one per line, pointing into the block itself.
 *
 * A block is whole lines each ending with '\n', or a file's last line without one. A line is split
 * on '\n' only, and one '\r' right before its end (CRLF, or a last line ending in '\r') is not part
 * of it, as the regex path has always stripped it. The block must be valid UTF-8 (the reader decodes
 * an invalid block line by line instead, with U+FFFD replacement), and every line holding a C0
 * control byte other than TAB, or DEL (JUNK_RE of parsers/access_convert.py: a CR inside a line
 * included) is reported, so the parser searches those lines only.
 */
#ifndef WEBTRAIL_FASTSPLIT_LINES_H
#define WEBTRAIL_FASTSPLIT_LINES_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#define LINE_VIEW_BYTES 16
#define LINE_INLINE_BYTES 12

#define EVERY_BYTE 0x0101010101010101ull
#define HIGH_BITS 0x8080808080808080ull

/* One ASCII byte of the block scan: count a newline; note a byte that would make a line junk (a C0
 * control other than TAB, LF and a CR before LF, or DEL), as block_has_control does. */
static void scan_ascii(const unsigned char *text, Py_ssize_t len, Py_ssize_t pos, Py_ssize_t *newlines, int *control) {
    unsigned char byte = text[pos];
    if (byte == '\n') (*newlines)++;
    else if ((byte < 0x20 && byte != '\t' && byte != '\r') || byte == 0x7f) *control = 1;
    else if (byte == '\r' && (pos + 1 >= len || text[pos + 1] != '\n')) *control = 1;
}

/* One pass over a block: whether it is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF, as Arrow's full validation decides), its number of lines
 * (its newlines, plus a last line without one) and whether any line may hold a control byte.
 * Logs are nearly all ASCII: eight bytes are tested at a time, and only a word holding a byte
 * below 0x20 (a newline, mostly) or DEL is looked at byte by byte. */
static int block_scan(const unsigned char *text, Py_ssize_t len, Py_ssize_t *lines, int *control) {
    Py_ssize_t pos = 0, newlines = 0;
    *control = 0;
    while (pos < len) {
        if (len - pos >= 8) {
            uint64_t word;
            memcpy(&word, text + pos, 8);
            if (!(word & HIGH_BITS)) {
                /* "has a byte below n" and "has a zero byte" tests (exact for ASCII words) */
                uint64_t below_space = (word - EVERY_BYTE * 0x20) & ~word & HIGH_BITS;
                uint64_t del = word ^ (EVERY_BYTE * 0x7f);
                del = (del - EVERY_BYTE) & ~del & HIGH_BITS;
                if (below_space | del)
                    for (int index = 0; index < 8; index++) scan_ascii(text, len, pos + index, &newlines, control);
                pos += 8;
                continue;
            }
        }
        unsigned char byte = text[pos];
        if (byte < 0x80) {
            scan_ascii(text, len, pos, &newlines, control);
            pos++;
            continue;
        }
        int extra;
        unsigned char low = 0x80, high = 0xBF; /* bounds of the first continuation byte */
        if (byte >= 0xC2 && byte <= 0xDF) extra = 1;
        else if (byte >= 0xE0 && byte <= 0xEF) {
            extra = 2;
            if (byte == 0xE0) low = 0xA0;      /* overlong */
            else if (byte == 0xED) high = 0x9F; /* UTF-16 surrogates */
        } else if (byte >= 0xF0 && byte <= 0xF4) {
            extra = 3;
            if (byte == 0xF0) low = 0x90;      /* overlong */
            else if (byte == 0xF4) high = 0x8F; /* above U+10FFFF */
        } else
            return 0;
        if (len - pos <= extra) return 0;
        if (text[pos + 1] < low || text[pos + 1] > high) return 0;
        for (int index = 2; index <= extra; index++)
            if ((text[pos + index] & 0xC0) != 0x80) return 0;
        pos += extra + 1;
    }
    *lines = newlines + (len > 0 && text[len - 1] != '\n');
    return 1;
}

/* Whether bytes [start, end) hold a byte JUNK_RE matches: C0 controls except TAB, and DEL. */
static int line_has_control(const unsigned char *text, Py_ssize_t start, Py_ssize_t end) {
    for (Py_ssize_t pos = start; pos < end; pos++) {
        unsigned char byte = text[pos];
        if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return 1;
    }
    return 0;
}

/* Fill ``views`` (LINE_VIEW_BYTES per line, data buffer 0 is the block) with the block's lines; set
 * ``control[line]`` to 1 for a line holding a control byte when ``scan_control`` (the caller found a
 * candidate in the block), else leave it 0. Returns the number of lines written. */
static Py_ssize_t block_line_views(const unsigned char *text, Py_ssize_t len, unsigned char *views,
                                   unsigned char *control, int scan_control) {
    Py_ssize_t line = 0, pos = 0;
    while (pos < len) {
        const unsigned char *newline = memchr(text + pos, '\n', (size_t)(len - pos));
        Py_ssize_t end = newline ? newline - text : len, next = newline ? end + 1 : len;
        if (end > pos && text[end - 1] == '\r') end--;
        int32_t length = (int32_t)(end - pos), offset = (int32_t)pos, buffer_index = 0;
        unsigned char *view = views + line * LINE_VIEW_BYTES;
        memset(view, 0, LINE_VIEW_BYTES);
        memcpy(view, &length, 4);
        if (length <= LINE_INLINE_BYTES) {
            memcpy(view + 4, text + pos, (size_t)length);
        } else {
            memcpy(view + 4, text + pos, 4);
            memcpy(view + 8, &buffer_index, 4);
            memcpy(view + 12, &offset, 4);
        }
        control[line] = (unsigned char)(scan_control && line_has_control(text, pos, end));
        line++;
        pos = next;
    }
    return line;
}

#endif
