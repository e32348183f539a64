/*  cli_log.h — inside the cli module only: the log flags' parsing
    (cli_log.c) as pingyi_cli_parse uses it (cli.h, pingyi_cli_log_options).  */
#ifndef PINGYI_CLI_LOG_H
#define PINGYI_CLI_LOG_H

#include "cli.h"

/*  The log flags back at their defaults, before a parse.  */
void pingyi_cli_log_reset (void);

/*  After a parse of a program with cli->logs: check the values and apply
    them.  0; or -1 with *status and the message printed on cli->err.  */
int pingyi_cli_log_apply (const pingyi_cli_t *cli, int *status);

#endif
