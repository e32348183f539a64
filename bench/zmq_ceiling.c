/*  zmq_ceiling.c — pingyi-zmq-ceiling: how fast ZeroMQ alone can carry the
    count's traffic on this box.  Ceiling (b) of docs/PERFORMANCE.md.

    The same shape as a pipeline run, with nothing but ZeroMQ in it:
    --venues CURVE DEALERs (each its own key pair, in one thread, as the
    load generator) send SUBMIT frames of --batch envelopes of
    --envelope-bytes each, keeping --window envelopes in flight per venue;
    a ROUTER/DEALER proxy (zmq_proxy, CURVE server on both sides) passes
    them to --workers DEALERs, which answer each with a real ACK frame of
    --batch results.  Each role has its own context (one I/O thread), as the
    separate processes of the pipeline do.  No decode, no crypto beyond
    CURVE, no disk: what is left when everything else is free.

    The rate counted is envelopes acknowledged per second, first send to
    last ACK.  The last line on stdout is one JSON object.  */
#define _GNU_SOURCE
#include "link.h"
#include "msg.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    uint8_t server_public[PINGYI_KEY_LEN];
    uint8_t server_secret[PINGYI_KEY_LEN];
    char frontend[128];
    char backend[128];
    size_t batch;
    size_t envelope_bytes;
    int hwm;
    volatile int ready; /* the proxy is bound */
} shared_t;

typedef struct {
    shared_t *shared;
    void *ctx;
    void *frontend, *backend, *control;
    char err[PINGYI_ERR_MAX];
    int rc;
} proxy_t;

typedef struct {
    shared_t *shared;
    size_t index;
    volatile int *stop;
    uint64_t answered;
    char err[PINGYI_ERR_MAX];
    int rc;
} worker_t;

static double
now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int
set_int (void *sock, int option, int value)
{
    return zmq_setsockopt (sock, option, &value, sizeof value);
}

static void *
server_socket (shared_t *sh, void *ctx, int type, char *endpoint, size_t cap)
{
    void *s = zmq_socket (ctx, type);
    int64_t maxmsg = PINGYI_FRAME_MAX;
    size_t len = cap;
    if (!s || set_int (s, ZMQ_CURVE_SERVER, 1) ||
        zmq_setsockopt (s, ZMQ_CURVE_SECRETKEY, sh->server_secret, PINGYI_KEY_LEN) ||
        set_int (s, ZMQ_SNDHWM, sh->hwm) || set_int (s, ZMQ_RCVHWM, sh->hwm) || set_int (s, ZMQ_LINGER, 0) ||
        zmq_setsockopt (s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) || zmq_bind (s, "tcp://127.0.0.1:*") ||
        zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, endpoint, &len)) {
        if (s)
            zmq_close (s);
        return NULL;
    }
    return s;
}

/*  The proxy: what the broker is with the routing taken out.  */
static void *
proxy_main (void *arg)
{
    proxy_t *p = arg;
    shared_t *sh = p->shared;
    p->frontend = server_socket (sh, p->ctx, ZMQ_ROUTER, sh->frontend, sizeof sh->frontend);
    p->backend = server_socket (sh, p->ctx, ZMQ_DEALER, sh->backend, sizeof sh->backend);
    p->control = zmq_socket (p->ctx, ZMQ_SUB);
    if (!p->frontend || !p->backend || !p->control || zmq_setsockopt (p->control, ZMQ_SUBSCRIBE, "", 0) ||
        zmq_connect (p->control, "inproc://control")) {
        p->rc = pingyi_fail (p->err, "proxy sockets: %s", zmq_strerror (zmq_errno ()));
        sh->ready = -1;
        return NULL;
    }
    sh->ready = 1;
    zmq_proxy_steerable (p->frontend, p->backend, NULL, p->control);
    zmq_close (p->frontend);
    zmq_close (p->backend);
    zmq_close (p->control);
    return NULL;
}

/*  A worker: answers every SUBMIT with an ACK of as many results, at once.  */
static void *
worker_main (void *arg)
{
    worker_t *w = arg;
    shared_t *sh = w->shared;
    void *ctx = zmq_ctx_new ();
    uint8_t pub[PINGYI_KEY_LEN], sec[PINGYI_KEY_LEN];
    crypto_box_keypair (pub, sec);
    pingyi_link_options_t lo = {.hwm = sh->hwm};
    void *sock = pingyi_link_dealer (ctx, sh->backend, sh->server_public, pub, sec, &lo, w->err);
    if (!sock) {
        w->rc = -1;
        zmq_ctx_term (ctx);
        return NULL;
    }
    pingyi_writer_t ack;
    pingyi_writer_init (&ack);
    pingyi_msg_ack_begin (&ack, 1, (uint32_t) sh->batch);
    for (size_t i = 0; i < sh->batch; i++) {
        uint8_t id[PINGYI_BALLOT_ID_LEN];
        randombytes_buf (id, sizeof id);
        pingyi_msg_ack_result (&ack, id, PINGYI_ACK_ACCEPTED, 0, "", "0123456789abcdef");
    }
    static const uint8_t ack_key[32]; /* the MAC costs the same under any key */
    pingyi_msg_ack_end (&ack, ack_key);
    zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
    while (!*w->stop) {
        if (zmq_poll (&item, 1, 100) <= 0)
            continue;
        for (;;) {
            zmq_msg_t route, frame;
            zmq_msg_init (&route);
            zmq_msg_init (&frame);
            if (zmq_msg_recv (&route, sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&route);
                zmq_msg_close (&frame);
                break;
            }
            if (zmq_msg_more (&route))
                zmq_msg_recv (&frame, sock, 0);
            /* ACK frames are small: a blocking send only waits on the HWM */
            zmq_msg_send (&route, sock, ZMQ_SNDMORE);
            zmq_send (sock, ack.sbuf.data, ack.sbuf.size, 0);
            zmq_msg_close (&route);
            zmq_msg_close (&frame);
            w->answered++;
        }
    }
    pingyi_writer_fini (&ack);
    zmq_close (sock);
    zmq_ctx_term (ctx);
    return NULL;
}

/*  One venue: take its ACKs, fill its window, until it has nothing to read.  */
static void
serve (void *sock, size_t *inflight, size_t window, const pingyi_writer_t *submit, uint64_t messages,
       uint64_t *sent, uint64_t *answered, double *start)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init (&m);
        while (zmq_msg_recv (&m, sock, ZMQ_DONTWAIT) >= 0) {
            (*inflight)--;
            (*answered)++;
        }
        zmq_msg_close (&m);
        while (*inflight < window && *sent < messages &&
               zmq_send (sock, submit->sbuf.data, submit->sbuf.size, ZMQ_DONTWAIT) >= 0) {
            if (!*start)
                *start = now_s ();
            (*inflight)++;
            (*sent)++;
        }
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt (sock, ZMQ_EVENTS, &events, &len) || !(events & ZMQ_POLLIN))
            return;
    }
}

static void
usage (FILE *out)
{
    fprintf (out, "usage: pingyi-zmq-ceiling --ballots N [--venues 120] [--workers 2] [--batch 256]\n"
                  "                          [--window 4096] [--envelope-bytes 210] [--hwm 10000]\n");
}

static unsigned long long
arg_num (const char *flag, const char *v, unsigned long long min, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull (v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max) {
        fprintf (stderr, "pingyi-zmq-ceiling: %s %s: expected %llu..%llu\n", flag, v, min, max);
        exit (2);
    }
    return x;
}

int
main (int argc, char **argv)
{
    uint64_t ballots = 0;
    size_t venues = 120, workers = 2, window = 4096;
    shared_t sh = {.batch = 256, .envelope_bytes = 210, .hwm = 10000};
    static const struct option longs[] = {
        {"ballots", required_argument, NULL, 'n'},
        {"venues", required_argument, NULL, 'v'},
        {"workers", required_argument, NULL, 'w'},
        {"batch", required_argument, NULL, 'b'},
        {"window", required_argument, NULL, 'W'},
        {"envelope-bytes", required_argument, NULL, 'e'},
        {"hwm", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long (argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'n':
            ballots = arg_num ("--ballots", optarg, 1, 1000000000);
            break;
        case 'v':
            venues = arg_num ("--venues", optarg, 1, 65535);
            break;
        case 'w':
            workers = arg_num ("--workers", optarg, 1, 64);
            break;
        case 'b':
            sh.batch = arg_num ("--batch", optarg, 1, PINGYI_BATCH_MAX);
            break;
        case 'W':
            window = arg_num ("--window", optarg, 1, 1 << 20);
            break;
        case 'e':
            sh.envelope_bytes = arg_num ("--envelope-bytes", optarg, 16, PINGYI_ENVELOPE_MAX);
            break;
        case 'H':
            sh.hwm = (int) arg_num ("--hwm", optarg, 1, 1000000);
            break;
        case 'h':
            usage (stdout);
            return 0;
        default:
            usage (stderr);
            return 2;
        }
    }
    if (optind != argc || !ballots) {
        usage (stderr);
        return 2;
    }
    if (window < sh.batch)
        window = sh.batch;
    size_t per_venue_submits = window / sh.batch; /* SUBMITs in flight per venue */
    if (sodium_init () < 0)
        return 1;
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    crypto_box_keypair (sh.server_public, sh.server_secret);

    /* the proxy in its own context, steered over inproc to stop */
    proxy_t proxy = {.shared = &sh, .ctx = zmq_ctx_new ()};
    void *control = zmq_socket (proxy.ctx, ZMQ_PUB);
    zmq_bind (control, "inproc://control");
    pthread_t proxy_thread;
    pthread_create (&proxy_thread, NULL, proxy_main, &proxy);
    while (!sh.ready)
        zmq_poll (NULL, 0, 1);
    if (sh.ready < 0) {
        fprintf (stderr, "pingyi-zmq-ceiling: %s\n", proxy.err);
        return 1;
    }

    volatile int stop = 0;
    worker_t *ws = calloc (workers, sizeof *ws);
    pthread_t *wt = calloc (workers, sizeof *wt);
    for (size_t i = 0; i < workers; i++) {
        ws[i] = (worker_t){.shared = &sh, .index = i, .stop = &stop};
        pthread_create (&wt[i], NULL, worker_main, &ws[i]);
    }

    /* the venues: one SUBMIT frame each, of real size, sent over and over */
    void *ctx = zmq_ctx_new ();
    zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, (int) venues + 64);
    void **socks = calloc (venues, sizeof *socks);
    size_t *inflight = calloc (venues, sizeof *inflight);
    pingyi_writer_t submit;
    pingyi_writer_init (&submit);
    uint8_t fp[PINGYI_FP_LEN] = {0};
    uint8_t *env = malloc (sh.envelope_bytes);
    randombytes_buf (env, sh.envelope_bytes);
    pingyi_msg_submit_begin (&submit, 1, fp, "v1", (uint32_t) sh.batch);
    for (size_t i = 0; i < sh.batch; i++)
        pingyi_msg_envelope (&submit, env, sh.envelope_bytes);
    char err[PINGYI_ERR_MAX];
    pingyi_link_options_t lo = {.hwm = (int) per_venue_submits + 16};
    for (size_t v = 0; v < venues; v++) {
        uint8_t pub[PINGYI_KEY_LEN], sec[PINGYI_KEY_LEN];
        crypto_box_keypair (pub, sec);
        socks[v] = pingyi_link_dealer (ctx, sh.frontend, sh.server_public, pub, sec, &lo, err);
        if (!socks[v]) {
            fprintf (stderr, "pingyi-zmq-ceiling: venue %zu: %s\n", v, err);
            return 1;
        }
    }
    /* as the load generator: ZMQ_FD of every venue in an epoll set (a
       zmq_poll over 1,200 sockets would cost more than the traffic), and
       after every send ZMQ_EVENTS asked again (a send may take in the
       command that announced an arrival) */
    int epfd = epoll_create1 (EPOLL_CLOEXEC);
    for (size_t v = 0; v < venues; v++) {
        int fd;
        size_t fdlen = sizeof fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t) v};
        if (zmq_getsockopt (socks[v], ZMQ_FD, &fd, &fdlen) || epoll_ctl (epfd, EPOLL_CTL_ADD, fd, &ev)) {
            fprintf (stderr, "pingyi-zmq-ceiling: cannot watch venue %zu\n", v);
            return 1;
        }
    }
    uint64_t messages = (ballots + sh.batch - 1) / sh.batch, sent = 0, answered = 0;
    double start = 0, end = 0, next_scan = 0;
    while (answered < messages) {
        double now = now_s ();
        if (now >= next_scan) {
            /* every venue now and then: those not yet connected, or at their HWM */
            for (size_t v = 0; v < venues; v++)
                serve (socks[v], &inflight[v], per_venue_submits, &submit, messages, &sent, &answered,
                       &start);
            next_scan = now + 0.005;
        }
        struct epoll_event ev[512];
        int n = epoll_wait (epfd, ev, 512, 5);
        for (int i = 0; i < n; i++) {
            size_t v = ev[i].data.u32;
            serve (socks[v], &inflight[v], per_venue_submits, &submit, messages, &sent, &answered, &start);
        }
        end = now_s ();
    }
    close (epfd);
    double seconds = end - start;
    stop = 1;
    for (size_t i = 0; i < workers; i++)
        pthread_join (wt[i], NULL);
    zmq_send (control, "TERMINATE", 9, 0);
    pthread_join (proxy_thread, NULL);
    for (size_t v = 0; v < venues; v++)
        zmq_close (socks[v]);
    zmq_ctx_term (ctx);
    zmq_close (control);
    zmq_ctx_term (proxy.ctx);
    uint64_t envelopes = answered * sh.batch;
    printf ("{\"zmq_ceiling_per_s\":%.0f,\"envelopes\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"seconds\":%.3f,"
            "\"venues\":%zu,\"workers\":%zu,\"batch\":%zu,\"window\":%zu,\"envelope_bytes\":%zu,"
            "\"submit_bytes\":%zu}\n",
            seconds > 0 ? (double) envelopes / seconds : 0.0, envelopes, answered, seconds, venues, workers,
            sh.batch, window, sh.envelope_bytes, submit.sbuf.size);
    pingyi_writer_fini (&submit);
    free (env);
    free (socks);
    free (inflight);
    free (ws);
    free (wt);
    return answered == messages ? 0 : 1;
}
