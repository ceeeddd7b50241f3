/*
 * audit_html.h: the report written as one self-contained HTML page.
 *
 * Internal to audit/: declares audit_html.c's functions only; each file
 * of audit/ includes the headers of the files it calls.
 */
#ifndef AUDIT_HTML_H
#define AUDIT_HTML_H

#include <stdio.h>
#include <time.h>

#include "audit/audit.h"
#include "audit/audit_view.h"

audit_status_t audit_report_html(const audit_view_t *v, time_t gen, FILE *out,
    audit_err_t *err);

#endif
