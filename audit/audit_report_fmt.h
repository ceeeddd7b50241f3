/*
 * audit_report_fmt.h: the report written as text, CSV and JSON.
 *
 * Internal to audit/: declares audit_report_fmt.c's functions only; each
 * file of audit/ includes the headers of the files it calls.
 */
#ifndef AUDIT_REPORT_FMT_H
#define AUDIT_REPORT_FMT_H

#include <stdio.h>
#include <time.h>

#include "audit/audit.h"
#include "audit/audit_view.h"

audit_status_t audit_report_text(const audit_view_t *v, time_t gen, FILE *out,
    audit_err_t *err);
audit_status_t audit_report_csv(const audit_view_t *v, time_t gen, FILE *out,
    audit_err_t *err);
audit_status_t audit_report_json(const audit_view_t *v, time_t gen, FILE *out,
    audit_err_t *err);

#endif
