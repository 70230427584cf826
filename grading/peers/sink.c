/* sink.c - a TCP receiver that checks what it is sent, fast or slowly.
 *
 * The other end for 03-nonblocking-send, for the grader and for students.
 * Listens, accepts one connection (or --count N, one after another) and
 * reads it to the end, checking the stream against the repeating pattern
 * "foobar\n" (byte i must be "foobar\n"[i % 7]) and the expected length.
 * It can read slowly (--rate, for the first --slow-for seconds or for the
 * whole connection), keep a small receive buffer (--rcvbuf), or hang up
 * early (--close-after, --reset-after): the situations in which a sender
 * sees short sends, EAGAIN, EPIPE and ECONNRESET.
 *
 * Output: "Listening on ADDR:PORT" first; per connection
 * "Connection from ADDR:PORT (receive buffer N bytes)" and, when it ends,
 * one line starting "Received N bytes: " saying how the stream compared.
 * Exit status: 0 when every connection was intact and complete (or was
 * closed or reset early on purpose), 1 otherwise, 2 for a bad command line.
 *
 * Usage: sink [--host H] [--port P] [--rcvbuf BYTES] [--rate BYTES_PER_SEC]
 *             [--slow-for SECONDS] [--close-after BYTES] [--reset-after BYTES]
 *             [--expect-bytes N] [--count N]
 */
#include "net.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: sink [--host H] [--port P] [--rcvbuf BYTES] [--rate BYTES_PER_SEC]\n"
    "            [--slow-for SECONDS] [--close-after BYTES] [--reset-after BYTES]\n"
    "            [--expect-bytes N] [--count N]\n"
    "\n"
    "Receive one TCP connection (or N, one after another) and check that it\n"
    "carries \"foobar\\n\" repeated, N bytes in all; print one report line per\n"
    "connection. The receiver for 03-nonblocking-send.\n"
    "\n"
    "  --host H             address to listen on (default 127.0.0.1)\n"
    "  --port P             port to listen on; 0 = any free port (default 0)\n"
    "  --rcvbuf BYTES       shrink the receive buffer (SO_RCVBUF; the kernel\n"
    "                       doubles it and has a minimum) so the sender sees\n"
    "                       short sends sooner\n"
    "  --rate BYTES_PER_SEC read at most this fast (small reads, sleeping in\n"
    "                       between); 0 = do not read at all\n"
    "  --slow-for SECONDS   apply --rate only for the first SECONDS (decimals\n"
    "                       allowed) of each connection, then read at full speed\n"
    "  --close-after BYTES  after BYTES bytes stop reading and close: FIN first\n"
    "                       (shutdown), then close(), which resets since data is\n"
    "                       left unread; the sender's send() fails with EPIPE\n"
    "  --reset-after BYTES  after BYTES bytes reset the connection (SO_LINGER 0);\n"
    "                       the sender's send() fails with ECONNRESET\n"
    "  --expect-bytes N     the stream's expected length (default 7340032)\n"
    "  --count N            connections to accept before exiting (default 1)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Prints \"Listening on ADDR:PORT\" first, then per connection\n"
    "\"Connection from ADDR:PORT (receive buffer N bytes)\" and, when it ends,\n"
    "\"Received N bytes: ...\". Exit status 0 when every stream matched and was\n"
    "complete (or was closed or reset early on purpose), 1 otherwise.\n"
    "\n"
    "Examples:\n"
    "  sink --port 1234                          fast: read as fast as possible\n"
    "  sink --port 1234 --rate 65536 --slow-for 2 --rcvbuf 65536\n"
    "                                            slow: 64 KiB/s for 2 s, then fast\n"
    "  sink --port 1234 --close-after 1048576    hang up after 1 MiB\n";

/* The pattern every stream must repeat, and its length. */
static const char pattern[] = "foobar\n";
#define PATTERN_LEN (sizeof pattern - 1)

/* Bytes one slow read asks for at most: small, so the rate stays even. */
#define SLOW_READ_MAX 4096
/* Longest pause between two looks at the stop flag, in seconds. */
#define STOP_CHECK_SECONDS 0.2

struct sink_options {
    const char *host;
    const char *port;
    long long rcvbuf;       /* 0: keep the system's default */
    long long rate;         /* bytes per second while slow; -1: full speed */
    double slow_for;        /* seconds the rate applies; -1: the whole time */
    long long close_after;  /* -1: never */
    long long reset_after;  /* -1: never */
    long long expect_bytes;
    long long count;
};

/* What one connection has carried so far. */
struct stream_check {
    long long received;
    long long mismatch_at;  /* index of the first wrong byte; -1: none yet */
    unsigned char mismatch_expected, mismatch_got;
};

/* How a connection ended. */
enum ending { ENDED_EOF, ENDED_CLOSED, ENDED_RESET, ENDED_ERROR, ENDED_STOPPED };

/* Parse TEXT as a whole decimal number in [MIN, LLONG_MAX].
 * Returns 0 and stores it in *VALUE, or -1 when TEXT is not one. */
static int parse_number(const char *text, long long min, long long *value)
{
    char *end;

    if (*text < '0' || *text > '9')
        return -1;  /* no sign, no spaces */
    errno = 0;
    *value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || *value < min)
        return -1;
    return 0;
}

/* Parse TEXT as a non-negative, finite number of seconds.
 * Returns 0 and stores it in *SECONDS, or -1. */
static int parse_seconds(const char *text, double *seconds)
{
    char *end;

    if ((*text < '0' || *text > '9') && *text != '.')
        return -1;
    errno = 0;
    *seconds = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(*seconds) || *seconds < 0)
        return -1;
    return 0;
}

/* Fill OPTIONS from the command line. Prints usage and exits 0 for --help,
 * exits 2 for anything wrong. */
static void parse_args(int argc, char *argv[], struct sink_options *options)
{
    char problem[256];

    *options = (struct sink_options){
        .host = "127.0.0.1", .port = "0", .rcvbuf = 0, .rate = -1,
        .slow_for = -1, .close_after = -1, .reset_after = -1,
        .expect_bytes = (long long)PATTERN_LEN * 1024 * 1024, .count = 1,
    };
    /* Every option takes a value: look at them two by two. */
    for (int i = 1; i < argc; i += 2) {
        /* A missing value reads as "", which no option accepts. */
        const char *name = argv[i], *value = i + 1 < argc ? argv[i + 1] : "";
        int bad = 0;

        if (net_is_help(name))
            net_show_help(usage_text);
        if (strcmp(name, "--host") == 0) {
            options->host = value;
            bad = *value == '\0';
        } else if (strcmp(name, "--port") == 0) {
            options->port = value;
            bad = net_parse_port(value, 1) == -1;
        } else if (strcmp(name, "--rcvbuf") == 0) {
            bad = parse_number(value, 1, &options->rcvbuf) || options->rcvbuf > INT_MAX;
        } else if (strcmp(name, "--rate") == 0) {
            bad = parse_number(value, 0, &options->rate);
        } else if (strcmp(name, "--slow-for") == 0) {
            bad = parse_seconds(value, &options->slow_for);
        } else if (strcmp(name, "--close-after") == 0) {
            bad = parse_number(value, 0, &options->close_after);
        } else if (strcmp(name, "--reset-after") == 0) {
            bad = parse_number(value, 0, &options->reset_after);
        } else if (strcmp(name, "--expect-bytes") == 0) {
            bad = parse_number(value, 0, &options->expect_bytes);
        } else if (strcmp(name, "--count") == 0) {
            bad = parse_number(value, 1, &options->count);
        } else {
            snprintf(problem, sizeof problem, "unknown option: %s", name);
            net_usage_error(problem, usage_text);
        }
        if (bad) {
            if (*value == '\0')
                snprintf(problem, sizeof problem, "%s needs a value", name);
            else
                snprintf(problem, sizeof problem, "bad value for %s: %s", name, value);
            net_usage_error(problem, usage_text);
        }
    }
    if (options->close_after >= 0 && options->reset_after >= 0)
        net_usage_error("give --close-after or --reset-after, not both", usage_text);
}

/* Seconds on the monotonic clock (exits 1 if it cannot be read). */
static double now_seconds(void)
{
    struct timespec now;

    if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
        net_die("clock_gettime", strerror(errno));
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* The smaller of A and B (fmin() would need libm on some systems). */
static double smaller(double a, double b)
{
    return a < b ? a : b;
}

/* Sleep SECONDS, or less when a signal arrives (the caller then looks at
 * net_stop_requested). */
static void pause_for(double seconds)
{
    struct timespec delay;

    if (seconds <= 0)
        return;
    delay.tv_sec = (time_t)seconds;
    delay.tv_nsec = (long)((seconds - (double)delay.tv_sec) * 1e9);
    if (nanosleep(&delay, NULL) == -1 && errno != EINTR)
        net_die("nanosleep", strerror(errno));
}

/* Make blocking calls on FD (accept, recv) return at least every
 * STOP_CHECK_SECONDS, so that a SIGTERM arriving just before one of them
 * is still noticed promptly. Returns 0, or -1 with errno set. */
static int wake_up_regularly(int fd)
{
    struct timeval timeout = { 0, (long)(STOP_CHECK_SECONDS * 1e6) };

    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

/* Compare the N bytes in BYTES, which continue the stream, with the
 * pattern; remember the first byte that differs. */
static void check_bytes(struct stream_check *check, const unsigned char *bytes, size_t n)
{
    for (size_t i = 0; i < n && check->mismatch_at < 0; i++) {
        long long index = check->received + (long long)i;
        unsigned char expected = (unsigned char)pattern[index % (long long)PATTERN_LEN];

        if (bytes[i] != expected) {
            check->mismatch_at = index;
            check->mismatch_expected = expected;
            check->mismatch_got = bytes[i];
        }
    }
    check->received += (long long)n;
}

/* BYTE as text for a report: 'b', or '\n', or its hex code. */
static const char *show_byte(unsigned char byte, char *buf, size_t size)
{
    if (byte == '\n')
        snprintf(buf, size, "0x0a '\\n'");
    else if (byte >= 0x20 && byte < 0x7f)
        snprintf(buf, size, "0x%02x '%c'", byte, byte);
    else
        snprintf(buf, size, "0x%02x", byte);
    return buf;
}

/* Print the connection's one report line. Returns 1 when the connection
 * went as it should (intact and complete, or ended early on purpose),
 * else 0. */
static int report(const struct stream_check *check, enum ending ending,
                  const char *error, const struct sink_options *options)
{
    char expected[32], got[32];
    long long expect = options->expect_bytes;

    printf("Received %lld bytes: ", check->received);
    if (check->mismatch_at >= 0) {
        printf("mismatch at byte %lld (expected %s, got %s)\n", check->mismatch_at,
               show_byte(check->mismatch_expected, expected, sizeof expected),
               show_byte(check->mismatch_got, got, sizeof got));
        return 0;
    }
    if (ending == ENDED_CLOSED || ending == ENDED_RESET) {
        printf("%s after %lld bytes as asked, stream intact so far\n",
               ending == ENDED_CLOSED ? "closed" : "reset", check->received);
        return 1;
    }
    if (check->received < expect)
        printf("stream intact but short (expected %lld)", expect);
    else if (check->received > expect)
        printf("stream intact but too long (expected %lld)", expect);
    else if (expect % (long long)PATTERN_LEN == 0)
        printf("matches foobar\\n x %lld", expect / (long long)PATTERN_LEN);
    else
        printf("matches the foobar\\n pattern");
    if (ending == ENDED_ERROR)
        printf("; recv: %s", error);
    else if (ending == ENDED_STOPPED)
        printf("; stopped by a signal before the sender closed");
    printf("\n");
    return ending == ENDED_EOF && check->received == expect;
}

/* Prepare CONN for the early hang-up HOW that the caller's close() then
 * completes; exits 1 on failure. ENDED_RESET: SO_LINGER with a zero timeout
 * makes close() send RST at once (the sender sees ECONNRESET).
 * ENDED_CLOSED: FIN first; the data left unread then makes close() send
 * RST too. The FIN puts the sender in CLOSE_WAIT, where that RST turns
 * into EPIPE: the error that raises SIGPIPE in a sender not ignoring it. */
static void hang_up(int conn, enum ending how)
{
    struct linger abort_on_close = { 1, 0 };

    if (how == ENDED_RESET &&
        setsockopt(conn, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close) == -1)
        net_die("set SO_LINGER", strerror(errno));
    if (how == ENDED_CLOSED && shutdown(conn, SHUT_WR) == -1)
        net_die("shutdown", strerror(errno));
}

/* How many bytes the next recv() may ask for, now, while reading at the
 * slow rate that began at SLOW_START with SLOW_BYTES read since; sleeps
 * instead (and returns 0) when reading is ahead of the rate. */
static size_t slow_read_size(const struct sink_options *options, double slow_start,
                             long long slow_bytes)
{
    double now = now_seconds(), due, slow_end;
    long long chunk;

    slow_end = options->slow_for < 0 ? INFINITY : slow_start + options->slow_for;
    if (options->rate == 0) {
        pause_for(smaller(slow_end - now, STOP_CHECK_SECONDS));
        return 0;
    }
    due = slow_start + (double)slow_bytes / (double)options->rate;
    if (now < due) {
        pause_for(smaller(smaller(due, slow_end) - now, STOP_CHECK_SECONDS));
        return 0;
    }
    /* About 20 reads a second at least, so a low rate stays even. */
    chunk = options->rate / 20;
    if (chunk < 1)
        chunk = 1;
    return chunk < SLOW_READ_MAX ? (size_t)chunk : SLOW_READ_MAX;
}

/* Read connection CONN to its end (or to --close-after/--reset-after),
 * checking every byte; print the report. Returns 1 when the connection went
 * as it should, else 0. */
static int receive_stream(int conn, const struct sink_options *options)
{
    static unsigned char buf[65536];
    struct stream_check check = { 0, -1, 0, 0 };
    long long hang_up_after = options->close_after >= 0 ? options->close_after
                                                        : options->reset_after;
    enum ending ending = ENDED_EOF;
    double slow_start = now_seconds();
    long long slow_bytes = 0;
    int slow = options->rate >= 0;
    const char *error = "";

    for (;;) {
        size_t want = sizeof buf;
        ssize_t n;

        if (net_stop_requested) {
            ending = ENDED_STOPPED;
            break;
        }
        if (hang_up_after >= 0 && check.received >= hang_up_after) {
            ending = options->close_after >= 0 ? ENDED_CLOSED : ENDED_RESET;
            hang_up(conn, ending);
            break;
        }
        if (slow && options->slow_for >= 0 && now_seconds() >= slow_start + options->slow_for) {
            slow = 0;
            printf("Reading at full speed after %.2f s (%lld bytes so far)\n",
                   options->slow_for, check.received);
        }
        if (slow && (want = slow_read_size(options, slow_start, slow_bytes)) == 0)
            continue;
        if (hang_up_after >= 0 && (long long)want > hang_up_after - check.received)
            want = (size_t)(hang_up_after - check.received);
        n = recv(conn, buf, want, 0);
        if (n == -1) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;  /* a signal, or the regular wake-up: look again */
            ending = ENDED_ERROR;
            error = strerror(errno);
            break;
        }
        if (n == 0)
            break;
        check_bytes(&check, buf, (size_t)n);
        if (slow)
            slow_bytes += n;
    }
    return report(&check, ending, error, options);
}

/* Wait for the next connection on LISTENER and return it; -1 when a stop
 * signal came first. Exits 1 on a failing accept(). */
static int accept_connection(int listener)
{
    for (;;) {
        int conn;

        if (net_stop_requested)
            return -1;
        conn = accept(listener, NULL, NULL);
        if (conn >= 0)
            return conn;
        /* EAGAIN: the regular wake-up; ECONNABORTED: a client gave up. */
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED)
            net_die("accept", strerror(errno));
    }
}

/* Print "Connection from ADDR:PORT (receive buffer N bytes)" for CONN. */
static void announce(int conn)
{
    char peer[NET_ADDR_STRLEN];
    int rcvbuf = 0;
    socklen_t len = sizeof rcvbuf;

    if (net_peer_addr(conn, peer, sizeof peer) == NULL)
        snprintf(peer, sizeof peer, "?");
    if (getsockopt(conn, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == -1)
        net_die("getsockopt SO_RCVBUF", strerror(errno));
    printf("Connection from %s (receive buffer %d bytes)\n", peer, rcvbuf);
}

int main(int argc, char *argv[])
{
    struct sink_options options;
    char where[NET_ADDR_STRLEN];
    int listener, all_good = 1;

    net_init("sink");
    parse_args(argc, argv, &options);
    if (net_catch_stop_signals() == -1)
        net_die("sigaction", strerror(errno));

    listener = net_listen_or_die(options.host, options.port, 5);
    /* Set on the listener, the size is inherited by every accepted socket,
     * and it is already known when the handshake picks the window scale. */
    if (options.rcvbuf > 0) {
        int size = (int)options.rcvbuf;
        if (setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == -1)
            net_die("set SO_RCVBUF", strerror(errno));
    }
    if (wake_up_regularly(listener) == -1)
        net_die("set SO_RCVTIMEO", strerror(errno));
    if (net_local_addr(listener, where, sizeof where) == NULL)
        net_die("getsockname", strerror(errno));
    printf("Listening on %s\n", where);

    for (long long served = 0; served < options.count; served++) {
        int conn = accept_connection(listener);

        if (conn == -1) {
            all_good = 0;  /* stopped before every connection came */
            break;
        }
        if (wake_up_regularly(conn) == -1)
            net_die("set SO_RCVTIMEO", strerror(errno));
        announce(conn);
        if (!receive_stream(conn, &options))
            all_good = 0;
        if (close(conn) == -1)
            net_die("close", strerror(errno));
        if (net_stop_requested)
            break;
    }
    if (close(listener) == -1)
        net_die("close", strerror(errno));
    return all_good ? 0 : 1;
}
