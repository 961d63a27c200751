/* Value parsers of the compiled fast path (parsers/_fastsplit.c): the CLF time, the strict request
 * line, request times. Each accepts only text whose value it computes exactly as polars does in
 * parsers/access_convert.py and returns 0 for anything else, which the regex path then decides. */
#ifndef WEBTRAIL_FASTSPLIT_VALUES_H
#define WEBTRAIL_FASTSPLIT_VALUES_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_EXACT_DIGITS 15 /* a mantissa below 2^53 over 10^k (k <= 22) is correctly rounded */
/* The units of a request time (an OP_DURATION step's column): request_time_s, _ms or _us. */
enum { UNIT_SECONDS = 0, UNIT_MILLISECONDS = 1, UNIT_MICROSECONDS = 2 };

typedef struct {
    Py_ssize_t start, len;
    int present;
} Span;

static int is_tchar(unsigned char byte) {
    /* RFC 9110 token characters, as REQUEST_LINE_STRICT_RE's method class */
    if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9')) return 1;
    return byte != 0 && strchr("_!#$%'*+.^`|~-", byte) != NULL;
}

static int is_digit(unsigned char byte) { return byte >= '0' && byte <= '9'; }

static int64_t days_from_civil(int64_t year, int64_t month, int64_t day) {
    /* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm) */
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static int two_digits(const unsigned char *text, int *value) {
    if (!is_digit(text[0]) || !is_digit(text[1])) return 0;
    *value = (text[0] - '0') * 10 + (text[1] - '0');
    return 1;
}

/* "DD/Mon/YYYY:HH:MM:SS +HHMM" -> UTC epoch microseconds; 0 for anything else (the regex path and
 * polars' strptime then decide: lenient forms, lower-case months, leap seconds, impossible dates). */
static int parse_clf_time(const unsigned char *text, Py_ssize_t len, int64_t *micros) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int day, month = 0, century, year_low, hour, minute, second, offset_hours, offset_minutes;
    if (len < 26 || text[2] != '/' || text[6] != '/' || text[11] != ':' || text[14] != ':' || text[17] != ':' ||
        text[20] != ' ' || (text[21] != '+' && text[21] != '-'))
        return 0;
    if (!two_digits(text, &day) || !two_digits(text + 7, &century) || !two_digits(text + 9, &year_low) ||
        !two_digits(text + 12, &hour) || !two_digits(text + 15, &minute) || !two_digits(text + 18, &second) ||
        !two_digits(text + 22, &offset_hours) || !two_digits(text + 24, &offset_minutes))
        return 0;
    /* the three letters as one integer: 12 integer compares instead of 12 memcmp calls */
    uint32_t key = (uint32_t)text[3] | (uint32_t)text[4] << 8 | (uint32_t)text[5] << 16;
    for (int index = 0; index < 12 && !month; index++) {
        const unsigned char *name = (const unsigned char *)months + 3 * index;
        if (key == ((uint32_t)name[0] | (uint32_t)name[1] << 8 | (uint32_t)name[2] << 16)) month = index + 1;
    }
    int year = century * 100 + year_low;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 0 || day < 1 || day > month_days[month - 1] || (month == 2 && day == 29 && !leap)) return 0;
    if (hour > 23 || minute > 59 || second > 59 || offset_hours > 23 || offset_minutes > 59) return 0;
    int64_t offset = (int64_t)offset_hours * 3600 + offset_minutes * 60;
    if (text[21] == '-') offset = -offset;
    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
    *micros = seconds * 1000000;
    return 1;
}

/* METHOD SP target SP HTTP/d[.d] (REQUEST_LINE_STRICT_RE): method, path, query, protocol spans. */
static int split_request(const unsigned char *text, Py_ssize_t start, Py_ssize_t end, Span *parts) {
    Py_ssize_t pos = start;
    while (pos < end && is_tchar(text[pos])) pos++;
    if (pos == start || pos >= end || text[pos] != ' ') return 0;
    parts[0] = (Span){start, pos - start, 1};
    Py_ssize_t target = ++pos, question = -1;
    while (pos < end && text[pos] != ' ') {
        if (text[pos] == '?' && question < 0) question = pos;
        pos++;
    }
    if (pos == target || pos >= end) return 0;
    Py_ssize_t target_end = pos++;
    Py_ssize_t protocol = pos;
    if (end - pos < 6 || memcmp(text + pos, "HTTP/", 5) != 0 || !is_digit(text[pos + 5])) return 0;
    pos += 6;
    if (pos < end) {
        if (end - pos != 2 || text[pos] != '.' || !is_digit(text[pos + 1])) return 0;
        pos += 2;
    }
    Py_ssize_t path_end = question < 0 ? target_end : question;
    parts[1] = (Span){target, path_end - target, 1};
    parts[2] = question < 0 ? (Span){0, 0, 0} : (Span){question + 1, target_end - question - 1, 1};
    parts[3] = (Span){protocol, end - protocol, 1};
    return 1;
}

/* A request time, [0-9]+(.[0-9]+)? or '-', in milliseconds as access_convert._request_time_ms
 * computes it (the parsed double times 1000.0, as is, or over 1000.0). The parse is exact: at most
 * 15 digits make a mantissa that a double holds exactly, and one division by an exact power of ten
 * is correctly rounded, as polars' parse is. 0 for anything else (the regex path decides). */
static int parse_duration(const unsigned char *text, Py_ssize_t len, Py_ssize_t *pos, int unit, double *millis,
                          int *present) {
    static const double powers[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    Py_ssize_t start = *pos, at = *pos;
    int64_t mantissa = 0;
    int digits = 0, fraction = 0;
    *present = 0;
    if (at < len && text[at] == '-') {
        *pos = at + 1;
        return 1;
    }
    for (; at < len && is_digit(text[at]); at++, digits++)
        if (digits < MAX_EXACT_DIGITS) mantissa = mantissa * 10 + (text[at] - '0');
    if (at == start) return 0;
    if (at < len && text[at] == '.') {
        Py_ssize_t dot = at++;
        for (; at < len && is_digit(text[at]); at++, digits++, fraction++)
            if (digits < MAX_EXACT_DIGITS) mantissa = mantissa * 10 + (text[at] - '0');
        if (at == dot + 1) return 0;
    }
    if (digits > MAX_EXACT_DIGITS) return 0;
    double value = (double)mantissa / powers[fraction];
    *millis = unit == UNIT_SECONDS ? value * 1000.0 : unit == UNIT_MILLISECONDS ? value : value / 1000.0;
    *present = 1;
    *pos = at;
    return 1;
}

static int is_dash(const unsigned char *text, Span span) { return span.len == 1 && text[span.start] == '-'; }

#endif
