/*
 * ctl_policy.h: `smimectl policy explain ...`, called by smimectl's
 * dispatcher with argv[0] "explain".
 */
#ifndef CTL_POLICY_H
#define CTL_POLICY_H

#include "conf/conf.h"

/*
 * Explains, per recipient, what the policy of conf (PolicyFile) decides
 * for an outbound message, which rule decided and why.  Prints on stdout,
 * errors on stderr ("smimectl: ...").  Returns 0, 1 (an error) or 2 (usage).
 */
int ctl_policy(int argc, char **argv, const conf_t *conf);

#endif
