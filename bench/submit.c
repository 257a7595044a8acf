/* submit: the end-to-end benchmark's client. Sends TOTAL webhook notifications
 * to POST /v1/notifications/batch, PER_CALL in each call, over CONNS keep-alive
 * connections in parallel (one thread each), as fast as they are accepted or,
 * with RATE, paced to RATE notifications per second in total: call c is not
 * sent before start + c * PER_CALL / RATE (each thread sleeps until the slot
 * of the call it takes next, never past the deadline; a call already late goes
 * at once). Built by bench/run with cc directly; not part of the CMake build.
 *
 * Usage: submit PORT KEY HOOK_URL TOTAL PER_CALL CONNS DEADLINE_S [RATE]
 *   RATE  notifications per second over all connections; 0 or absent: as fast
 *         as they are accepted
 *
 * Prints, one per line: start_ns=<CLOCK_REALTIME of the first send>,
 * end_ns=<when the last answer arrived>, calls=<n>, calls_201=<n>,
 * accepted=<notifications answered 201>, failed_calls=<n>, first_error=<...>.
 * Exits 0 only when every call was answered 201. Every socket operation has a
 * 30 s timeout and the whole run stops at DEADLINE_S. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int port;
static const char *key;
static long total, per_call, ncalls;
static int64_t deadline_ns;
static long rate;                    /* notifications per second; 0: unpaced */
static int64_t pace_start, pace_end; /* CLOCK_MONOTONIC ns: the start, the deadline */
static atomic_long next_call;
static atomic_long calls_201, accepted, failed_calls;
static atomic_llong start_ns, end_ns;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[256];

static char *req_full, *req_last; /* complete requests: PER_CALL and the remainder */
static size_t req_full_len, req_last_len;
static long last_count;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* pace: with a RATE, sleeps until call c's slot, or at most until the
 * deadline (the caller checks it again). Returns at once without a RATE. */
static void pace(long c) {
    if (rate <= 0)
        return;
    int64_t slot = pace_start + (int64_t)((double)c * (double)per_call * 1e9 / (double)rate);
    if (slot > pace_end)
        slot = pace_end;
    struct timespec ts = {(time_t)(slot / 1000000000), (long)(slot % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void note_error(const char *fmt, const char *detail, long v) {
    pthread_mutex_lock(&err_lock);
    if (!first_error[0])
        snprintf(first_error, sizeof(first_error), fmt, detail, v);
    pthread_mutex_unlock(&err_lock);
}

static char *make_request(const char *hook, long n, size_t *len) {
    static const char item_fmt[] =
        "{\"channel\":\"webhook\",\"recipient\":\"%s\",\"subject\":\"bench\","
        "\"body\":\"Order {{order}} shipped\",\"metadata\":{\"order\":\"A-1042\"}}";
    size_t item_max = strlen(item_fmt) + strlen(hook) + 2;
    size_t body_max = 32 + (size_t)n * item_max;
    char *body = malloc(body_max);
    size_t off = (size_t)snprintf(body, body_max, "{\"notifications\":[");
    for (long i = 0; i < n; i++) {
        if (i)
            body[off++] = ',';
        off += (size_t)snprintf(body + off, body_max - off, item_fmt, hook);
    }
    off += (size_t)snprintf(body + off, body_max - off, "]}");
    size_t req_max = off + 512;
    char *req = malloc(req_max);
    int h = snprintf(req, req_max,
                     "POST /v1/notifications/batch HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     port, key, off);
    memcpy(req + h, body, off);
    free(body);
    *len = (size_t)h + off;
    return req;
}

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* read_reply: the status of one response; its body is read and dropped.
 * *keep is cleared when the server closes the connection. */
static int read_reply(int fd, char **buf, size_t *cap, int *keep) {
    size_t len = 0;
    char *hend = NULL;
    for (;;) {
        if (len + 4096 > *cap) {
            *cap = *cap * 2 + 8192;
            *buf = realloc(*buf, *cap);
        }
        ssize_t r = recv(fd, *buf + len, *cap - len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        len += (size_t)r;
        (*buf)[len] = '\0';
        if ((hend = strstr(*buf, "\r\n\r\n")))
            break;
        if (len > 65536)
            return -1;
    }
    int status = 0;
    if (sscanf(*buf, "HTTP/1.%*c %d", &status) != 1)
        return -1;
    size_t hlen = (size_t)(hend - *buf) + 4;
    long clen = -1;
    *keep = 1;
    for (char *p = *buf; p < hend; p = strstr(p, "\r\n") + 2) {
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            clen = strtol(p + 15, NULL, 10);
        else if (strncasecmp(p, "Connection: close", 17) == 0)
            *keep = 0;
    }
    if (clen < 0)
        return -1;
    size_t have = len - hlen;
    while (have < (size_t)clen) {
        char sink[65536];
        size_t want = (size_t)clen - have < sizeof(sink) ? (size_t)clen - have : sizeof(sink);
        ssize_t r = recv(fd, sink, want, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    return status;
}

static void *run(void *arg) {
    (void)arg;
    int fd = -1;
    char *buf = NULL;
    size_t cap = 0;
    for (;;) {
        long c = atomic_fetch_add(&next_call, 1);
        if (c >= ncalls)
            break;
        pace(c);
        if (now_ns() > deadline_ns) {
            note_error("%s (call %ld not sent)", "deadline passed", c);
            atomic_fetch_add(&failed_calls, 1);
            continue;
        }
        int last = c == ncalls - 1 && last_count != per_call;
        const char *req = last ? req_last : req_full;
        size_t len = last ? req_last_len : req_full_len;
        long n = last ? last_count : per_call;
        if (fd < 0 && (fd = dial()) < 0) {
            note_error("%s (errno %ld)", "connect failed", (long)errno);
            atomic_fetch_add(&failed_calls, 1);
            continue;
        }
        long long zero = 0, t = now_ns();
        atomic_compare_exchange_strong(&start_ns, &zero, t);
        int keep = 0;
        int status = send_all(fd, req, len) < 0 ? -1 : read_reply(fd, &buf, &cap, &keep);
        long long done = now_ns(), prev = atomic_load(&end_ns);
        while (done > prev && !atomic_compare_exchange_weak(&end_ns, &prev, done))
            ;
        if (status == 201) {
            atomic_fetch_add(&calls_201, 1);
            atomic_fetch_add(&accepted, n);
        } else {
            atomic_fetch_add(&failed_calls, 1);
            if (status < 0)
                note_error("%s (errno %ld)", "connection error", (long)errno);
            else
                note_error("%s %ld", "HTTP status", status);
            keep = 0;
        }
        if (!keep) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 8 && argc != 9) {
        fprintf(stderr, "usage: submit PORT KEY HOOK_URL TOTAL PER_CALL CONNS DEADLINE_S [RATE]\n");
        return 2;
    }
    port = atoi(argv[1]);
    key = argv[2];
    const char *hook = argv[3];
    total = atol(argv[4]);
    per_call = atol(argv[5]);
    int conns = atoi(argv[6]);
    long deadline_s = atol(argv[7]);
    rate = argc == 9 ? atol(argv[8]) : 0;
    if (port <= 0 || total <= 0 || per_call <= 0 || per_call > 500 || conns <= 0 || conns > 64 ||
        deadline_s <= 0 || rate < 0) {
        fprintf(stderr, "submit: bad arguments\n");
        return 2;
    }
    ncalls = (total + per_call - 1) / per_call;
    last_count = total - (ncalls - 1) * per_call;
    req_full = make_request(hook, per_call, &req_full_len);
    req_last = make_request(hook, last_count, &req_last_len);
    deadline_ns = now_ns() + (int64_t)deadline_s * 1000000000;
    pace_start = mono_ns();
    pace_end = pace_start + (int64_t)deadline_s * 1000000000;
    pthread_t th[64];
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, run, NULL);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    printf("start_ns=%lld\nend_ns=%lld\ncalls=%ld\ncalls_201=%ld\naccepted=%ld\n"
           "failed_calls=%ld\nfirst_error=%s\n",
           (long long)atomic_load(&start_ns), (long long)atomic_load(&end_ns), ncalls,
           atomic_load(&calls_201), atomic_load(&accepted), atomic_load(&failed_calls),
           first_error[0] ? first_error : "none");
    free(req_full);
    free(req_last);
    return atomic_load(&failed_calls) == 0 && atomic_load(&accepted) == total ? 0 : 1;
}
