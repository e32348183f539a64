/*  notify.c — sd_notify readiness and stopping (notify.h).  */
#include "notify.h"

#include <stdbool.h>
#include <systemd/sd-daemon.h>

static bool s_ready, s_stopping;

void
pingyi_notify_ready (void)
{
    if (s_ready || s_stopping)
        return;
    s_ready = true;
    (void) sd_notify (0, "READY=1");
}

void
pingyi_notify_stopping (void)
{
    if (s_stopping)
        return;
    s_stopping = true;
    (void) sd_notify (0, "STOPPING=1");
}
