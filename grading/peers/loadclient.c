/* loadclient.c - the grader's load client for echo servers (04-select-echo's
 * E tests and grading/bench).
 *
 * Usage: loadclient [options] HOST PORT   (loadclient --help lists them)
 *
 * Opens --clients connections and has each send --messages messages of
 * --size bytes, at most --in-flight of them waiting for their echo at a
 * time, and checks every byte that comes back against what it sent. Each
 * client sends its own deterministic pseudo-random stream, so a byte lost,
 * doubled, reordered or sent to the wrong client is caught, and the first
 * one is reported: client, byte offset, expected and received value.
 * Other modes send without reading, half-close, reset, or only connect.
 *
 * One poll() loop over non-blocking sockets (poll, not select: it takes
 * more than FD_SETSIZE descriptors), which sleeps until a socket is ready
 * or a deadline comes. New connections are paced: only a few may be
 * waiting for the server at a time, so a server with a short listen
 * backlog is not flooded with SYNs it must drop. With --burst they are
 * not: every client connects at the same moment, and each round trip is
 * timed from that moment, the connect included.
 *
 * Prints "connected M of N" once every client has connected or failed,
 * with --burst a line
 *   burst N clients: E echoed, the last after T s, p99 P s, over 1 s K
 * then at the end one report line,
 *   clients N connected M, messages X, bytes Y, sent Z, errors E,
 *   msgs/s R, MB/s S, p50 U us, p99 V us
 * (bytes: echoed and checked; sent: given to send()), and "OK" or
 * "FAIL: REASON". Each client's error is also a line on stderr. Exit
 * status: 0 OK, 1 any error or the --timeout, 2 a bad command line.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Bytes per send() and recv() call. */
#define IO_CHUNK (64 * 1024)

/* Clients that may be connecting, or connected but not yet heard from
 * (no echo yet), at one time: fewer than a listen backlog of 5. */
#define CONNECT_WINDOW 4

/* A connect() not finished after this many seconds had its SYN dropped
 * (the server's backlog was full): try again at once rather than wait for
 * the kernel's retransmission a second later. */
#define CONNECT_RETRY_SECONDS 0.01

/* Per-client error lines printed on stderr before the rest are counted. */
#define MAX_ERROR_LINES 10

/* Round-trip times kept for the percentiles (4 bytes each). */
#define MAX_LATENCIES (16u << 20)

static const char usage_text[] =
    "Usage: loadclient [options] HOST PORT\n"
    "Load an echo server with many clients and check every echoed byte.\n"
    "\n"
    "  --clients N           concurrent connections (default 1)\n"
    "  --size BYTES          message size (default 64)\n"
    "  --messages N          messages per client (default 1)\n"
    "  --in-flight K         messages a client may have sent and not yet had\n"
    "                        back (default 1: ping-pong)\n"
    "  --duration SECONDS    send for this long instead of a message count\n"
    "  --bytes N             bytes per client to send, instead of SIZE x MESSAGES\n"
    "  --hold SECONDS        keep the connections open this long after the run\n"
    "  --source ADDR         connect from this local address (e.g. 127.0.0.9)\n"
    "  --timeout SECONDS     give up on the run after this long (default 10)\n"
    "  --burst               connect every client at the same moment (unpaced,\n"
    "                        no early retry of a dropped SYN), and time each\n"
    "                        round trip from that moment\n"
    "  -h, --help            show this help\n"
    "\n"
    "What each client does, instead of sending messages and checking the echo:\n"
    "  --no-read             send, never read the echo\n"
    "  --shutdown            send all, shutdown(SHUT_WR), read the echo until\n"
    "                        the server closes\n"
    "  --close-without-reading  send all, then close with the echo unread\n"
    "  --reset               send all, then close with a reset (RST)\n"
    "  --half-close-reset    send all, shutdown(SHUT_WR), read nothing; at the\n"
    "                        end of --hold, close with a reset (RST)\n"
    "  --connect-only        connect, send nothing\n"
    "\n"
    "A slow reader, whose echo the server can send only part of at a time:\n"
    "  --read-delay SECONDS  read nothing for this long after the start\n"
    "  --rcvbuf BYTES        each client's receive buffer (SO_RCVBUF)\n"
    "  --mss BYTES           each client's largest TCP segment (TCP_MAXSEG):\n"
    "                        small ones keep the server's send buffer small\n"
    "                        (with a --source it has not seen lately: Linux\n"
    "                        sizes it from what it learnt about the address)\n"
    "\n"
    "SECONDS may have decimals. Prints \"connected M of N\" once every client has\n"
    "connected (or failed), then a report line (clients, connected, messages,\n"
    "bytes echoed, sent, errors, msgs/s, MB/s, p50 and p99 round trip in us)\n"
    "and OK or \"FAIL: REASON\". Exit status: 0 OK, 1 any error, 2 a bad\n"
    "command line.\n";

/* What each client does once connected. */
enum mode {
    MODE_ECHO,         /* send messages, read and check their echo */
    MODE_SHUTDOWN,     /* send all, shutdown(SHUT_WR), read echo until EOF */
    MODE_NO_READ,      /* send, never read */
    MODE_CLOSE,        /* send all, then close() without reading */
    MODE_RESET,        /* send all, then close with SO_LINGER {1, 0} */
    MODE_HALF_CLOSE_RESET, /* send all, shutdown(SHUT_WR), later RST */
    MODE_CONNECT_ONLY  /* send nothing */
};

enum state {
    STATE_NEW,         /* not started yet */
    STATE_CONNECTING,  /* connect() in progress */
    STATE_RUNNING,     /* sending and/or reading */
    STATE_DONE,        /* finished; the connection may still be held open */
    STATE_FAILED
};

struct options {
    const char *host, *port, *source;
    unsigned long clients;
    uint64_t size, messages, in_flight, bytes, rcvbuf, mss;
    int bytes_given;
    int burst;             /* --burst: connect all at once */
    double duration, hold, timeout, read_delay;
    enum mode mode;
};

struct client {
    int fd;                /* -1 when not open */
    enum state state;
    int heard_from;        /* the server has answered (or the client ended) */
    int write_shut;        /* shutdown(SHUT_WR) done */
    uint64_t sent;         /* stream bytes given to send() */
    uint64_t received;     /* stream bytes echoed and checked */
    uint64_t total;        /* stream bytes to send (UINT64_MAX: until told) */
    uint64_t *sent_at;     /* send time of each message in flight (ns) */
    double connect_start;  /* when the current connect() began */
};

struct run {
    struct options opt;
    struct client *clients;
    struct pollfd *polls;
    struct sockaddr_storage server_addr, source_addr;
    socklen_t server_addr_len, source_addr_len; /* source: 0 when none */
    unsigned long started, waiting, connected, ended, errors;
    uint32_t *latencies;   /* round trips in microseconds */
    size_t latency_count, latency_room;
    char first_error[512];
    double start, end;     /* of the run, in seconds */
    uint64_t start_ns;     /* the start again, in nanoseconds (--burst) */
    double read_at;        /* when reading may start (--read-delay) */
};

/* ---- command line ------------------------------------------------------ */

/* Parse TEXT as a whole number from MIN to MAX into *VALUE. Returns 0, or
 * -1 when TEXT is not one. */
static int parse_count(const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
    char *end;
    unsigned long long number;

    if (text == NULL || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    number = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || number < min || number > max)
        return -1;
    *value = number;
    return 0;
}

/* Parse TEXT as seconds (decimals allowed, 0 to a day) into *SECONDS.
 * Returns 0, or -1 when TEXT is not that. */
static int parse_seconds(const char *text, double *seconds)
{
    char *end;
    double value;

    if (text == NULL || ((*text < '0' || *text > '9') && *text != '.'))
        return -1;
    errno = 0;
    value = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !(value >= 0 && value <= 86400))
        return -1;
    *seconds = value;
    return 0;
}

/* Set *MODE to MODE unless another mode was chosen already (exit 2). */
static void choose_mode(enum mode *mode, enum mode chosen)
{
    if (*mode != MODE_ECHO && *mode != chosen)
        net_usage_error("choose one of --no-read, --shutdown, --close-without-reading,"
                        " --reset, --half-close-reset, --connect-only", usage_text);
    *mode = chosen;
}

/* Parse the command line into OPT; print usage and exit 0 for --help, or
 * exit 2 on a wrong one. */
static void parse_options(int argc, char *argv[], struct options *opt)
{
    uint64_t clients = 1;
    int i, bad = 0;

    *opt = (struct options){ .clients = 1, .size = 64, .messages = 1, .in_flight = 1,
                             .timeout = 10, .mode = MODE_ECHO };
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *name = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;

        if (net_is_help(name)) {
            net_show_help(usage_text);
        } else if (strcmp(name, "--no-read") == 0) {
            choose_mode(&opt->mode, MODE_NO_READ);
        } else if (strcmp(name, "--shutdown") == 0) {
            choose_mode(&opt->mode, MODE_SHUTDOWN);
        } else if (strcmp(name, "--close-without-reading") == 0) {
            choose_mode(&opt->mode, MODE_CLOSE);
        } else if (strcmp(name, "--reset") == 0) {
            choose_mode(&opt->mode, MODE_RESET);
        } else if (strcmp(name, "--half-close-reset") == 0) {
            choose_mode(&opt->mode, MODE_HALF_CLOSE_RESET);
        } else if (strcmp(name, "--connect-only") == 0) {
            choose_mode(&opt->mode, MODE_CONNECT_ONLY);
        } else if (strcmp(name, "--burst") == 0) {
            opt->burst = 1;
        } else {
            i++; /* every other option takes a value */
            if (strcmp(name, "--clients") == 0)
                bad = parse_count(value, 1, 1000000, &clients);
            else if (strcmp(name, "--size") == 0)
                bad = parse_count(value, 1, 1u << 30, &opt->size);
            else if (strcmp(name, "--messages") == 0)
                bad = parse_count(value, 1, UINT32_MAX, &opt->messages);
            else if (strcmp(name, "--in-flight") == 0)
                bad = parse_count(value, 1, 1024, &opt->in_flight);
            else if (strcmp(name, "--bytes") == 0)
                bad = parse_count(value, 0, UINT64_MAX / 2, &opt->bytes);
            else if (strcmp(name, "--duration") == 0)
                bad = parse_seconds(value, &opt->duration);
            else if (strcmp(name, "--source") == 0)
                bad = (opt->source = value) == NULL;
            else if (strcmp(name, "--mss") == 0)
                bad = parse_count(value, 88, 65535, &opt->mss);
            else if (strcmp(name, "--rcvbuf") == 0)
                bad = parse_count(value, 1, INT_MAX / 2, &opt->rcvbuf);
            else if (strcmp(name, "--read-delay") == 0)
                bad = parse_seconds(value, &opt->read_delay);
            else if (strcmp(name, "--hold") == 0)
                bad = parse_seconds(value, &opt->hold);
            else if (strcmp(name, "--timeout") == 0)
                bad = parse_seconds(value, &opt->timeout);
            else
                net_usage_error("unknown option", usage_text);
            if (bad) {
                char problem[128];
                snprintf(problem, sizeof problem, "bad or missing value for %s", name);
                net_usage_error(problem, usage_text);
            }
            opt->bytes_given |= strcmp(name, "--bytes") == 0;
        }
    }
    if (argc - i != 2)
        net_usage_error("needs HOST and PORT", usage_text);
    opt->host = argv[i];
    opt->port = argv[i + 1];
    opt->clients = (unsigned long)clients;
    if (net_parse_port(opt->port, 0) == -1)
        net_usage_error("bad port: must be a number from 1 to 65535", usage_text);
}

/* ---- time, payload ----------------------------------------------------- */

/* Seconds on the monotonic clock. */
static double now_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Nanoseconds on the monotonic clock. */
static uint64_t now_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* A well-mixed 64-bit value for X (Vigna's splitmix64 finaliser). */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* Words in the pattern that every stream repeats: 64 KiB. */
#define PATTERN_WORDS 8192

/* The pattern: random words, made once by make_pattern(). */
static uint64_t pattern[PATTERN_WORDS];

/* Fill the pattern, before any stream is made: word I is mix64 of I under
 * a constant of our own, so that it differs from every client's keys. */
static void make_pattern(void)
{
    uint64_t i;

    for (i = 0; i < PATTERN_WORDS; i++)
        pattern[i] = mix64(UINT64_C(0xec40) << 48 ^ i);
}

/* Fill BUF with bytes OFFSET to OFFSET+LEN of client CLIENT's stream: word
 * N of the stream is pattern[N % PATTERN_WORDS] XOR a key made from CLIENT
 * and N / PATTERN_WORDS, so any byte of any client's stream can be made
 * again from its position alone, and a byte lost, doubled or sent to
 * another client shows. One key per 64 KiB keeps this cheap: the bench's
 * bulk runs move gigabytes, and the client must not be what limits them. */
static void fill_stream(unsigned long client, uint64_t offset, unsigned char *buf, size_t len)
{
    uint64_t seed = (uint64_t)client << 40, block = UINT64_MAX, key = 0;
    size_t done = 0;

    while (done < len) {
        uint64_t at = offset + done, word;
        size_t skip = (size_t)(at % 8), take = 8 - skip;

        if (at / 8 / PATTERN_WORDS != block) {
            block = at / 8 / PATTERN_WORDS;
            key = mix64(seed ^ block);
        }
        word = pattern[at / 8 % PATTERN_WORDS] ^ key;
        if (skip == 0 && len - done >= 8) {
            memcpy(buf + done, &word, 8); /* the common case: a whole word */
            done += 8;
            continue;
        }
        if (take > len - done)
            take = len - done;
        memcpy(buf + done, (unsigned char *)&word + skip, take);
        done += take;
    }
}

/* ---- clients ----------------------------------------------------------- */

/* Whether this run's clients read the echo. */
static int reads_echo(const struct run *run)
{
    return run->opt.mode == MODE_ECHO || run->opt.mode == MODE_SHUTDOWN;
}

/* Client I is no longer one the pacing waits for. */
static void heard_from(struct run *run, unsigned long i)
{
    if (!run->clients[i].heard_from) {
        run->clients[i].heard_from = 1;
        run->waiting--;
    }
}

/* Close client I's socket, with a reset (RST) when RESET. */
static void close_socket(struct run *run, unsigned long i, int reset)
{
    struct client *client = &run->clients[i];
    struct linger linger = { 1, 0 }; /* on, 0 s: close() sends RST */

    if (client->fd == -1)
        return;
    if (reset && setsockopt(client->fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger) == -1)
        fprintf(stderr, "loadclient: client %lu: SO_LINGER: %s\n", i, strerror(errno));
    if (close(client->fd) == -1)
        fprintf(stderr, "loadclient: client %lu: close: %s\n", i, strerror(errno));
    client->fd = -1;
}

/* Client I is finished: done or failed. */
static void end_client(struct run *run, unsigned long i, enum state state)
{
    run->clients[i].state = state;
    heard_from(run, i);
    run->ended++;
}

/* Client I failed for the reason FORMAT says: count it, print it (the
 * first few), keep the first, close the socket. */
static void fail_client(struct run *run, unsigned long i, const char *format, ...)
{
    struct client *client = &run->clients[i];
    char reason[400];
    va_list args;

    va_start(args, format);
    vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    if (run->errors == 0)
        snprintf(run->first_error, sizeof run->first_error, "client %lu: %s", i, reason);
    if (run->errors < MAX_ERROR_LINES)
        fprintf(stderr, "loadclient: client %lu: %s (sent %llu, echoed %llu)\n", i, reason,
                (unsigned long long)client->sent, (unsigned long long)client->received);
    run->errors++;
    close_socket(run, i, 0);
    if (client->state != STATE_DONE)
        end_client(run, i, STATE_FAILED);
    else
        client->state = STATE_FAILED;
}

/* The latest stream position client I may have sent by now: all of it,
 * or in echo mode only IN_FLIGHT messages past what has come back. */
static uint64_t send_limit(const struct run *run, const struct client *client)
{
    uint64_t window;

    if (run->opt.mode != MODE_ECHO)
        return client->total;
    window = (client->received / run->opt.size + run->opt.in_flight) * run->opt.size;
    return window < client->total ? window : client->total;
}

/* Move client I on once all its bytes went: shut down, close, or finish. */
static void check_progress(struct run *run, unsigned long i)
{
    struct client *client = &run->clients[i];

    if (client->state != STATE_RUNNING || client->sent < client->total)
        return;
    switch (run->opt.mode) {
    case MODE_ECHO:
        if (client->received == client->total)
            end_client(run, i, STATE_DONE);
        break;
    case MODE_SHUTDOWN: /* done when the server closes */
        if (!client->write_shut) {
            if (shutdown(client->fd, SHUT_WR) == -1)
                fail_client(run, i, "shutdown: %s", strerror(errno));
            client->write_shut = 1;
        }
        break;
    case MODE_HALF_CLOSE_RESET: /* the reset comes after --hold */
        if (shutdown(client->fd, SHUT_WR) == -1)
            fail_client(run, i, "shutdown: %s", strerror(errno));
        else
            end_client(run, i, STATE_DONE);
        break;
    case MODE_CLOSE:
    case MODE_RESET:
        close_socket(run, i, run->opt.mode == MODE_RESET);
        end_client(run, i, STATE_DONE);
        break;
    case MODE_NO_READ:
    case MODE_CONNECT_ONLY:
        end_client(run, i, STATE_DONE);
        break;
    }
}

/* Client I's connection is up. */
static void connected(struct run *run, unsigned long i)
{
    run->connected++;
    run->clients[i].state = STATE_RUNNING;
    if (!reads_echo(run))
        heard_from(run, i); /* nothing will come back: stop waiting for it */
    check_progress(run, i);
}

/* Set socket option NAME at LEVEL to SIZE, unless SIZE is 0 (the default).
 * Returns 0, or -1 with errno set. */
static int set_socket_size(int fd, int level, int name, uint64_t size)
{
    int value = (int)size;

    if (size == 0)
        return 0;
    return setsockopt(fd, level, name, &value, sizeof value);
}

/* Start (or start again) client I's non-blocking connect(). */
static void start_connect(struct run *run, unsigned long i)
{
    struct client *client = &run->clients[i];
    int fd = socket(run->server_addr.ss_family, SOCK_STREAM, 0), flags;

    client->state = STATE_CONNECTING;
    client->connect_start = now_seconds();
    if (fd == -1) {
        fail_client(run, i, "socket: %s", strerror(errno));
        return;
    }
    client->fd = fd;
    /* Before connect(), so that the handshake announces them. */
    if (set_socket_size(fd, SOL_SOCKET, SO_RCVBUF, run->opt.rcvbuf) == -1 ||
        set_socket_size(fd, IPPROTO_TCP, TCP_MAXSEG, run->opt.mss) == -1) {
        fail_client(run, i, "set the receive buffer or segment size: %s", strerror(errno));
        return;
    }
    if (run->source_addr_len > 0 &&
        bind(fd, (struct sockaddr *)&run->source_addr, run->source_addr_len) == -1) {
        fail_client(run, i, "bind to %s: %s", run->opt.source, strerror(errno));
        return;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
        fail_client(run, i, "make the socket non-blocking: %s", strerror(errno));
        return;
    }
    if (connect(fd, (struct sockaddr *)&run->server_addr, run->server_addr_len) == 0)
        connected(run, i);
    else if (errno != EINPROGRESS)
        fail_client(run, i, "connect: %s", strerror(errno));
}

/* Start client I: it counts as waiting for the server until it hears back. */
static void start_client(struct run *run, unsigned long i)
{
    run->started++;
    run->waiting++;
    start_connect(run, i);
}

/* Connect again every client whose connect() seems to have lost its SYN. */
static void retry_stuck_connects(struct run *run)
{
    double now = now_seconds();
    unsigned long i;

    for (i = 0; i < run->started; i++) {
        if (run->clients[i].state == STATE_CONNECTING &&
            now - run->clients[i].connect_start >= CONNECT_RETRY_SECONDS) {
            close_socket(run, i, 0);
            start_connect(run, i);
        }
    }
}

/* Client I's connect() has finished: see whether it worked. */
static void finish_connect(struct run *run, unsigned long i)
{
    int error = 0;
    socklen_t len = sizeof error;

    if (getsockopt(run->clients[i].fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
        error = errno;
    if (error != 0)
        fail_client(run, i, "connect: %s", strerror(error));
    else
        connected(run, i);
}

/* Send client I's next bytes, as far as its limit and the socket allow. */
static void send_some(struct run *run, unsigned long i)
{
    static unsigned char buf[IO_CHUNK];
    struct client *client = &run->clients[i];
    uint64_t limit = send_limit(run, client), size = run->opt.size, first, message;
    size_t len = limit - client->sent < IO_CHUNK ? (size_t)(limit - client->sent) : IO_CHUNK;
    ssize_t sent;

    if (len == 0)
        return;
    fill_stream(i, client->sent, buf, len);
    sent = send(client->fd, buf, len, 0);
    if (sent == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fail_client(run, i, "send: %s", strerror(errno));
        return;
    }
    /* Each message whose first byte just went starts its round trip now. */
    if (run->opt.mode == MODE_ECHO) {
        uint64_t now = now_ns();
        first = (client->sent + size - 1) / size;
        for (message = first; message * size < client->sent + (uint64_t)sent; message++)
            client->sent_at[message % run->opt.in_flight] = now;
    }
    client->sent += (uint64_t)sent;
    check_progress(run, i);
}

/* Keep the round trip of every message whose last byte of echo arrived
 * between stream positions FROM and TO. */
static void record_round_trips(struct run *run, struct client *client, uint64_t from, uint64_t to)
{
    uint64_t size = run->opt.size, message, micros, now = now_ns();

    /* Message M's echo is complete once (M + 1) * SIZE bytes are back. */
    for (message = from / size; (message + 1) * size <= to; message++) {
        if (run->latency_count == run->latency_room) {
            size_t room = run->latency_room == 0 ? 4096 : run->latency_room * 2;
            uint32_t *grown = room > MAX_LATENCIES ? NULL
                              : realloc(run->latencies, room * sizeof *grown);
            if (grown == NULL)
                return; /* no room for more samples; the run goes on */
            run->latencies = grown;
            run->latency_room = room;
        }
        micros = (now - (run->opt.burst ? run->start_ns
                                        : client->sent_at[message % run->opt.in_flight])) / 1000;
        run->latencies[run->latency_count++] = micros > UINT32_MAX ? UINT32_MAX : (uint32_t)micros;
    }
}

/* Check that GOT, LEN bytes echoed to client I, are its stream from
 * position client->received on. Returns 0, or -1 after failing the client
 * with the first difference. */
static int check_echo(struct run *run, unsigned long i, const unsigned char *got, size_t len)
{
    static unsigned char expected[IO_CHUNK];
    struct client *client = &run->clients[i];
    size_t at;

    if (client->received + len > client->sent) {
        fail_client(run, i, "%llu bytes came back, but only %llu were sent",
                    (unsigned long long)(client->received + len),
                    (unsigned long long)client->sent);
        return -1;
    }
    fill_stream(i, client->received, expected, len);
    if (memcmp(expected, got, len) == 0)
        return 0;
    for (at = 0; expected[at] == got[at]; at++)
        ;
    fail_client(run, i, "echo differs at byte %llu: expected 0x%02x, got 0x%02x",
                (unsigned long long)(client->received + at), expected[at], got[at]);
    return -1;
}

/* Read and check what the server echoed to client I; notice its close. */
static void receive_some(struct run *run, unsigned long i)
{
    static unsigned char buf[IO_CHUNK];
    struct client *client = &run->clients[i];
    ssize_t got = recv(client->fd, buf, sizeof buf, 0);

    if (got == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fail_client(run, i, "recv: %s", strerror(errno));
        return;
    }
    if (got == 0) {
        if (run->opt.mode == MODE_SHUTDOWN && client->write_shut &&
            client->received == client->sent && client->state == STATE_RUNNING) {
            close_socket(run, i, 0);
            end_client(run, i, STATE_DONE);
        } else {
            fail_client(run, i, "the server closed the connection%s",
                        client->state == STATE_DONE ? " while it was held open" : " early");
        }
        return;
    }
    if (check_echo(run, i, buf, (size_t)got) == -1)
        return;
    if (run->opt.mode == MODE_ECHO)
        record_round_trips(run, client, client->received, client->received + (uint64_t)got);
    client->received += (uint64_t)got;
    heard_from(run, i);
    check_progress(run, i);
}

/* --duration is over: each client finishes the message it is sending (in
 * no-read mode, stops at once) and sends no more. */
static void stop_sending(struct run *run)
{
    uint64_t size = run->opt.size;
    unsigned long i;

    for (i = 0; i < run->opt.clients; i++) {
        struct client *client = &run->clients[i];
        uint64_t end = run->opt.mode == MODE_NO_READ
                           ? client->sent
                           : (client->sent + size - 1) / size * size;

        if (end < client->total)
            client->total = end;
        check_progress(run, i);
    }
}

/* ---- the loop ------------------------------------------------------------ */

/* The poll() events client I waits for at time NOW. HOLDING: the run is
 * over. */
static short events_for(const struct run *run, const struct client *client, double now,
                        int holding)
{
    short events = 0;

    if (client->fd == -1)
        return 0;
    if (client->state == STATE_CONNECTING)
        return POLLOUT;
    /* Reading also notices the server closing; in connect-only mode any
     * byte at all is wrong. */
    if ((reads_echo(run) || run->opt.mode == MODE_CONNECT_ONLY) && now >= run->read_at)
        events |= POLLIN;
    if (!holding && client->state == STATE_RUNNING && !client->write_shut &&
        client->sent < send_limit(run, client))
        events |= POLLOUT;
    return events;
}

/* Handle what poll() said about client I. */
static void serve_client(struct run *run, unsigned long i, short revents)
{
    struct client *client = &run->clients[i];
    int error = 0;
    socklen_t len = sizeof error;

    if (client->state == STATE_CONNECTING) {
        finish_connect(run, i);
        return;
    }
    /* A hang-up or error may come with echo still to read (during
     * --read-delay too): read it, and the end of file or error after it. */
    if ((revents & POLLIN) || ((revents & (POLLERR | POLLHUP)) && reads_echo(run)))
        receive_some(run, i);
    if ((revents & POLLOUT) && client->fd != -1)
        send_some(run, i);
    /* An error or hang-up that neither reading nor sending reported (as in
     * no-read mode, which never reads): report it, and stop polling it. */
    if ((revents & (POLLERR | POLLHUP | POLLNVAL)) && !(revents & (POLLIN | POLLOUT)) &&
        client->fd != -1) {
        if (getsockopt(client->fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
            error = errno;
        /* After a half-close, the server closing its side too is normal. */
        if (error == 0 && run->opt.mode == MODE_HALF_CLOSE_RESET)
            close_socket(run, i, 1);
        else
            fail_client(run, i, "connection lost: %s",
                        error != 0 ? strerror(error) : "the server closed it");
    }
}

/* Poll every open client once, waiting at most until DEADLINE (seconds),
 * and handle what is ready. HOLDING: the run is over. */
static void poll_once(struct run *run, double deadline, int holding)
{
    unsigned long i;
    double now = now_seconds(), wait = deadline - now;
    int ready;

    for (i = 0; i < run->opt.clients; i++) {
        run->polls[i].fd = run->clients[i].fd;
        run->polls[i].events = events_for(run, &run->clients[i], now, holding);
        run->polls[i].revents = 0;
    }
    /* Round up, so that poll() never returns just before the deadline and
     * is called again at once with a timeout of 0. */
    ready = poll(run->polls, (nfds_t)run->opt.clients,
                 wait <= 0 ? 0 : (int)(wait * 1000) + 1);
    if (ready == -1) {
        if (errno == EINTR)
            return;
        net_die("poll", strerror(errno));
    }
    for (i = 0; i < run->opt.clients && ready > 0; i++) {
        if (run->polls[i].revents != 0) {
            ready--;
            serve_client(run, i, run->polls[i].revents);
        }
    }
}

/* Connect, send and check until every client has ended, or --timeout.
 * Returns 0, or -1 on the timeout. */
static int run_clients(struct run *run)
{
    const struct options *opt = &run->opt;
    double deadline = run->start + opt->timeout;
    double stop_at = opt->duration > 0 ? run->start + opt->duration : deadline, wake_at;
    int announced = 0, stopped = 0;

    while (run->ended < opt->clients) {
        while (run->started < opt->clients && (opt->burst || run->waiting < CONNECT_WINDOW))
            start_client(run, run->started);
        if (!announced && run->started == opt->clients && run->waiting == 0) {
            printf("connected %lu of %lu\n", run->connected, opt->clients);
            announced = 1;
        }
        if (!stopped && opt->duration > 0 && now_seconds() >= stop_at) {
            stop_sending(run);
            stopped = 1;
            continue;
        }
        if (now_seconds() >= deadline)
            break;
        wake_at = stopped || stop_at > deadline ? deadline : stop_at;
        /* Wake up in time to retry a connect() whose SYN was dropped, and
         * to start reading after --read-delay. */
        if (!opt->burst && run->waiting > 0 && wake_at > now_seconds() + CONNECT_RETRY_SECONDS)
            wake_at = now_seconds() + CONNECT_RETRY_SECONDS;
        if (now_seconds() < run->read_at && wake_at > run->read_at)
            wake_at = run->read_at;
        poll_once(run, wake_at, 0);
        /* A burst measures what a dropped SYN costs: the kernel's retry. */
        if (!opt->burst)
            retry_stuck_connects(run);
    }
    if (!announced)
        printf("connected %lu of %lu\n", run->connected, opt->clients);
    return run->ended < opt->clients ? -1 : 0;
}

/* Keep the connections that are still open for --hold seconds, watching
 * for the server closing them. */
static void hold_connections(struct run *run)
{
    double until = now_seconds() + run->opt.hold;
    unsigned long i, open = 0;

    for (i = 0; i < run->opt.clients; i++)
        open += run->clients[i].fd != -1;
    if (run->opt.hold <= 0 || open == 0)
        return;
    printf("holding %lu connections for %g s\n", open, run->opt.hold);
    while (now_seconds() < until)
        poll_once(run, until, 1);
}

/* Compare two round trips, for qsort(). */
static int compare_latency(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

/* The PERCENT percentile of the sorted round trips, 0 when there are none. */
static uint32_t percentile(const struct run *run, unsigned percent)
{
    if (run->latency_count == 0)
        return 0;
    return run->latencies[(run->latency_count - 1) * percent / 100];
}

/* Print the --burst line from the sorted round trips: when the last echo
 * came, the p99, and how many clients waited over a second for theirs (a
 * client never echoed counts too). */
static void report_burst(const struct run *run)
{
    size_t i, echoed = run->latency_count < run->opt.clients ? run->latency_count
                                                              : run->opt.clients;
    size_t over = run->opt.clients - echoed;

    for (i = 0; i < run->latency_count; i++)
        over += run->latencies[i] > 1000000;
    printf("burst %lu clients: %zu echoed, the last after %.3f s, p99 %.3f s, over 1 s %zu\n",
           run->opt.clients, echoed,
           run->latency_count > 0 ? run->latencies[run->latency_count - 1] / 1e6 : 0.0,
           percentile(run, 99) / 1e6, over);
}

/* Print the report line and OK or FAIL. Returns the exit status. */
static int report(struct run *run, int timed_out)
{
    unsigned long i, unfinished = 0;
    unsigned long long messages = 0, echoed = 0, sent = 0;
    double seconds = run->end - run->start;
    char stuck[160] = "";

    for (i = 0; i < run->opt.clients; i++) {
        const struct client *client = &run->clients[i];
        echoed += client->received;
        sent += client->sent;
        messages += (reads_echo(run) ? client->received : client->sent) / run->opt.size;
        if (client->state == STATE_NEW || client->state == STATE_CONNECTING ||
            client->state == STATE_RUNNING) {
            if (unfinished++ == 0)
                snprintf(stuck, sizeof stuck, " (first: client %lu, %s, sent %llu, echoed %llu)",
                         i, client->state == STATE_RUNNING ? "connected" : "not connected",
                         (unsigned long long)client->sent, (unsigned long long)client->received);
        }
    }
    if (seconds < 1e-6)
        seconds = 1e-6;
    if (run->latency_count > 0)
        qsort(run->latencies, run->latency_count, sizeof *run->latencies, compare_latency);
    if (run->opt.burst)
        report_burst(run);
    printf("clients %lu connected %lu, messages %llu, bytes %llu, sent %llu, errors %lu, "
           "msgs/s %.0f, MB/s %.1f, p50 %u us, p99 %u us\n",
           run->opt.clients, run->connected, messages, echoed, sent, run->errors + unfinished,
           (double)messages / seconds, (double)echoed / seconds / 1e6,
           (unsigned)percentile(run, 50), (unsigned)percentile(run, 99));
    if (run->errors > MAX_ERROR_LINES)
        fprintf(stderr, "loadclient: ... and %lu more client errors\n",
                run->errors - MAX_ERROR_LINES);
    if (timed_out) {
        printf("FAIL: timed out after %g s with %lu of %lu clients unfinished%s%s%s\n",
               run->opt.timeout, unfinished, run->opt.clients, stuck,
               run->errors > 0 ? "; first error: " : "", run->errors > 0 ? run->first_error : "");
        return 1;
    }
    if (run->errors > 0) {
        printf("FAIL: %lu of %lu clients failed; first: %s\n", run->errors, run->opt.clients,
               run->first_error);
        return 1;
    }
    printf("OK\n");
    return 0;
}

/* Raise this process's descriptor limit as far as it may go: a thousand
 * clients need more than the usual 1,024. */
static void raise_descriptor_limit(void)
{
    struct rlimit limit;

    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) == -1)
            net_error("raise the descriptor limit", strerror(errno));
    }
}

/* Find the server's address: connect once, the usual blocking way, trying
 * every address HOST has, and keep the one that answered. Resolve --source
 * too (port 0: any). */
static void find_server(struct run *run)
{
    struct addrinfo hints, *source;
    int fd = net_connect_or_die(run->opt.host, run->opt.port), status;
    char what[300];

    run->server_addr_len = sizeof run->server_addr;
    if (getpeername(fd, (struct sockaddr *)&run->server_addr, &run->server_addr_len) == -1)
        net_die("getpeername", strerror(errno));
    if (close(fd) == -1)
        net_die("close", strerror(errno));
    if (run->opt.source == NULL)
        return;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = run->server_addr.ss_family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    status = getaddrinfo(run->opt.source, "0", &hints, &source);
    snprintf(what, sizeof what, "look up source address %s", run->opt.source);
    if (status != 0)
        net_die(what, gai_strerror(status));
    memcpy(&run->source_addr, source->ai_addr, source->ai_addrlen);
    run->source_addr_len = source->ai_addrlen;
    freeaddrinfo(source);
}

int main(int argc, char *argv[])
{
    static struct run run;
    unsigned long i;
    int timed_out, status;

    net_init("loadclient");
    parse_options(argc, argv, &run.opt);
    make_pattern();
    raise_descriptor_limit();

    run.clients = calloc(run.opt.clients, sizeof *run.clients);
    run.polls = calloc(run.opt.clients, sizeof *run.polls);
    if (run.clients == NULL || run.polls == NULL)
        net_die("allocate the clients", strerror(errno));
    for (i = 0; i < run.opt.clients; i++) {
        struct client *client = &run.clients[i];
        client->fd = -1;
        client->total = run.opt.bytes_given ? run.opt.bytes
                        : run.opt.duration > 0 ? UINT64_MAX
                        : run.opt.size * run.opt.messages;
        if (run.opt.mode == MODE_CONNECT_ONLY)
            client->total = 0;
        if (run.opt.mode == MODE_ECHO &&
            (client->sent_at = calloc(run.opt.in_flight, sizeof *client->sent_at)) == NULL)
            net_die("allocate the clients", strerror(errno));
    }

    find_server(&run);
    run.start_ns = now_ns();
    run.start = (double)run.start_ns / 1e9;
    run.read_at = run.start + run.opt.read_delay;
    timed_out = run_clients(&run) == -1;
    run.end = now_seconds();
    if (!timed_out)
        hold_connections(&run);
    for (i = 0; i < run.opt.clients; i++) {
        close_socket(&run, i, run.opt.mode == MODE_HALF_CLOSE_RESET);
        free(run.clients[i].sent_at);
    }
    status = report(&run, timed_out);
    free(run.clients);
    free(run.polls);
    free(run.latencies);
    return status;
}
