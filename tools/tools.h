/*  tools.h — the subcommands of the `pingyi` admin command.  */
#ifndef PINGYI_TOOLS_H
#define PINGYI_TOOLS_H

#include "common.h"

int pingyi_cmd_check (int argc, char **argv);
int pingyi_cmd_init (int argc, char **argv);
int pingyi_cmd_gen_election (int argc, char **argv);
int pingyi_cmd_fingerprint (int argc, char **argv);
int pingyi_cmd_tally (int argc, char **argv);
int pingyi_cmd_pubkey (int argc, char **argv);
int pingyi_cmd_stats (int argc, char **argv);

/*  Parse an unsigned decimal flag value; exits 2 with a message if bad.  */
unsigned long pingyi_arg_ulong (const char *flag, const char *value, unsigned long min, unsigned long max);

#endif
