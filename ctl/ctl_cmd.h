/*
 * ctl_cmd.h: smimectl's table of commands.  Each command ("keystore
 * import", "config") has its usage line and the options it takes, written
 * once in ctl_cmd.c: `smimectl --help` prints them all, `smimectl COMMAND
 * --help` its own, and a usage error its own on stderr.  Before a command
 * does any work (reads the configuration, makes a directory), smimectl's
 * main() finds it here and checks its options: --help and -h answer at
 * once; an unknown option or a missing operand is a usage error.
 *
 * Read-only data and functions of argv: no state, any thread.
 */
#ifndef CTL_CMD_H
#define CTL_CMD_H

#include <stddef.h>
#include <stdio.h>

typedef struct ctl_cmd ctl_cmd_t;

/* What ctl_cmd_check() found in a command's arguments. */
typedef enum {
	CTL_CMD_RUN = 0,        /* no --help, every option known: run it */
	CTL_CMD_HELP,           /* --help or -h: print its usage, exit 0 */
	CTL_CMD_BAD             /* a usage error, said in why */
} ctl_cmd_verdict_t;

/*
 * The command that argv[0] (and argv[1]) name; *nwords: how many words
 * its name has.  NULL when argv names none.
 */
const ctl_cmd_t *ctl_cmd_find(int argc, char **argv, int *nwords);

/* The command's name: "keystore import". */
const char *ctl_cmd_name(const ctl_cmd_t *cmd);

/* 1 when word is the first word of some command's name ("keystore"). */
int ctl_cmd_is_group(const char *word);

/*
 * Looks through a command's arguments (after its name): a --help or -h
 * before "--" answers at once; else the first unknown option, option
 * without its value, or a count of operands the command does not take is
 * a usage error (why: "keystore export: unknown option --x").  An
 * option's value is never taken for an option; options may follow
 * operands.
 */
ctl_cmd_verdict_t ctl_cmd_check(const ctl_cmd_t *cmd, int argc, char **argv,
    char *why, size_t whylen);

/*
 * Prints the usage of the commands whose name is prefix or begins with
 * prefix and a space ("keystore": every keystore command), with their
 * notes; prefix NULL: smimectl's whole usage, every command listed as
 * "  NAME ARGS".
 */
void ctl_cmd_usage(FILE *fp, const char *prefix);

#endif
