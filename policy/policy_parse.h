/*
 * policy_parse.h: the built-in rules of the policy parser, which the
 * decision (policy_decide.c) applies where a file has none.
 *
 * Internal to policy/: declares what policy_parse.c defines besides the
 * public policy_load(); each file of policy/ includes the headers of the
 * files it uses.
 */
#ifndef POLICY_PARSE_H
#define POLICY_PARSE_H

#include "policy/policy_int.h"

extern const policy_rule_t policy_rule_defaults;
extern const policy_rule_t policy_rule_calendar;
extern const policy_rule_t policy_rule_encrypted;
extern const policy_rule_t policy_rule_inbound;
extern const policy_rule_t policy_rule_internal;

#endif
