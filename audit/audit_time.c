/*
 * audit_time.c: RFC 3339 times, as the log writes them (UTC, "Z", whole
 * seconds) and as people type them on smimectl's command line (a date, or
 * a date-time with any offset and optional fractions).
 *
 * Threads: pure functions (gmtime_r, timegm).
 */
#include "audit/audit_int.h"

#include <string.h>
#include <time.h>

void
audit_time_format(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		if (outlen > 0)
			out[0] = '\0';
	}
}

/* n decimal digits at *s into *v; advances *s.  0 or -1. */
static int
digits(const char **s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return -1;
		*v = *v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	return 0;
}

static int
expect(const char **s, char c)
{
	if (**s != c)
		return -1;
	(*s)++;
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

static int
parse_date(const char **s, struct tm *tm)
{
	int y, m, d;

	if (digits(s, 4, &y) < 0 || expect(s, '-') < 0 || digits(s, 2, &m) < 0 ||
	    expect(s, '-') < 0 || digits(s, 2, &d) < 0)
		return -1;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	tm->tm_year = y - 1900;
	tm->tm_mon = m - 1;
	tm->tm_mday = d;
	return 0;
}

/* "HH:MM:SS[.frac]" then "Z" or "+HH:MM"/"-HH:MM"; *offset in seconds. */
static int
parse_clock(const char **s, struct tm *tm, long *offset)
{
	int h, mi, se, oh, om, sign;

	if (digits(s, 2, &h) < 0 || expect(s, ':') < 0 || digits(s, 2, &mi) < 0 ||
	    expect(s, ':') < 0 || digits(s, 2, &se) < 0 || h > 23 || mi > 59 || se > 60)
		return -1;
	if (**s == '.') {
		(*s)++;
		if (**s < '0' || **s > '9')
			return -1;
		while (**s >= '0' && **s <= '9')
			(*s)++;
	}
	tm->tm_hour = h;
	tm->tm_min = mi;
	tm->tm_sec = se == 60 ? 59 : se;
	*offset = 0;
	if (**s == 'Z' || **s == 'z') {
		(*s)++;
		return 0;
	}
	if (**s != '+' && **s != '-')
		return -1;
	sign = **s == '-' ? -1 : 1;
	(*s)++;
	if (digits(s, 2, &oh) < 0 || expect(s, ':') < 0 || digits(s, 2, &om) < 0 ||
	    oh > 23 || om > 59)
		return -1;
	*offset = sign * (oh * 3600L + om * 60L);
	return 0;
}

int
audit_time_parse(const char *s, int end_of_day, time_t *t)
{
	struct tm tm;
	long offset = 0;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (parse_date(&s, &tm) < 0)
		return -1;
	if (*s == '\0' && end_of_day) {
		tm.tm_hour = 23;
		tm.tm_min = 59;
		tm.tm_sec = 59;
	} else if (*s != '\0') {
		if (*s != 'T' && *s != 't' && *s != ' ')
			return -1;
		s++;
		if (parse_clock(&s, &tm, &offset) < 0 || *s != '\0')
			return -1;
	}
	*t = timegm(&tm) - offset;
	return 0;
}
