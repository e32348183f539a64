/*  notify.h — tell systemd how a daemon is doing (sd_notify, libsystemd):
    one-line calls for the programs, so none of them includes systemd's
    header or checks NOTIFY_SOCKET itself.

    Both are a no-op when NOTIFY_SOCKET is unset (run by hand, by a test,
    or by a unit that is not Type=notify), and never fail the caller: a
    message systemd cannot take is lost, the daemon runs on.  The units in
    deploy/systemd/ are Type=notify for the programs that call these
    (docs/OPERATIONS.md, "Services").  */
#ifndef PINGYI_NOTIFY_H
#define PINGYI_NOTIFY_H

/*  READY=1: the daemon does its job from now on (the broker listens, a
    worker has opened its shards and a broker granted them, the aggregator
    serves HTTP).  Sent once per process: later calls do nothing.  */
void pingyi_notify_ready (void);

/*  STOPPING=1: a stop signal was taken, the daemon is finishing (a worker
    commits and acknowledges its batches).  Sent once per process.  */
void pingyi_notify_stopping (void);

#endif
