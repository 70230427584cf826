/* probe.c - a minimal TCP client the grader talks to servers with.
 *
 * The grader's netcat, with just what the tests need and nothing that
 * differs between netcat versions. Connects to HOST PORT, says on stderr
 * which local address it got ("local 127.0.0.1:54321", so a test can check
 * the port a server logged), optionally sends TEXT, then either reads the
 * connection to its end, copying every byte to stdout unchanged, or ends
 * it in one of the ways a test needs: a half-close (--shutdown), a reset
 * (--reset), or a close without reading (--no-read). With --line it reads
 * only up to the first newline, for a test that needs a greeting line and
 * must not wait for the server to close.
 *
 * Exit status: 0 when the connection ended as asked (EOF read, or the
 * reset or close done); 1 when connecting, sending or reading failed or
 * the read timed out (one line "probe: WHAT: REASON" on stderr); 2 for a
 * bad command line.
 *
 * Usage: probe [--send TEXT] [--shutdown] [--reset] [--no-read] [--line]
 *              [--hold MS] [--timeout MS] [--quiet] HOST PORT
 */
#include "net.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: probe [--send TEXT] [--shutdown] [--reset] [--no-read] [--line]\n"
    "             [--hold MS] [--timeout MS] [--quiet] HOST PORT\n"
    "\n"
    "Connect to HOST PORT, print \"local ADDR:PORT\" (this end's address) on\n"
    "stderr, then read until the server closes, copying every byte to stdout.\n"
    "\n"
    "  --send TEXT    first send TEXT; the escapes \\n \\r \\t \\0 \\\\ are\n"
    "                 interpreted\n"
    "  --shutdown     after sending, shut down the sending side (a half-close:\n"
    "                 the server reads EOF) and go on reading\n"
    "  --reset        after sending, reset the connection (RST) and exit 0\n"
    "  --no-read      after sending, do not read: wait --hold ms, close, exit 0\n"
    "  --line         read only up to the first newline (or EOF), then close\n"
    "  --hold MS      wait MS milliseconds before reading, resetting or closing\n"
    "                 (default 1000 with --no-read, else 0)\n"
    "  --timeout MS   give up reading after MS milliseconds without EOF, exit 1\n"
    "                 (default 5000; 0 = wait for ever)\n"
    "  --quiet        do not print the \"local ADDR:PORT\" line\n"
    "  -h, --help     show this help\n"
    "\n"
    "A later option overrides an earlier one. Exit status: 0 when the connection\n"
    "ended as asked; 1 when connecting, sending or reading failed or timed out;\n"
    "2 for a bad command line.\n";

/* What a usage error prints after the problem. */
static const char short_usage[] =
    "Usage: probe [--send TEXT] [--shutdown] [--reset] [--no-read] [--line]\n"
    "             [--hold MS] [--timeout MS] [--quiet] HOST PORT\n"
    "Try 'probe --help' for more information.\n";

/* Largest --hold and --timeout, one hour: far beyond any test. */
#define MS_MAX 3600000

struct probe_options {
    const char *host;
    const char *port;
    char *send_bytes;        /* NULL: send nothing */
    size_t send_length;      /* may hold NUL bytes, so not strlen() */
    int half_close;
    int reset;
    int no_read;
    int first_line;          /* stop after the first newline */
    int quiet;
    long long hold_ms;       /* -1: the default */
    long long timeout_ms;    /* 0: no limit */
};

/* Parse TEXT as a whole number of milliseconds, 0 to MS_MAX.
 * Returns 0 and stores it in *MS, or -1 when TEXT is not one. */
static int parse_ms(const char *text, long long *ms)
{
    char *end;

    if (*text < '0' || *text > '9')
        return -1; /* no sign, no spaces */
    errno = 0;
    *ms = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || *ms > MS_MAX)
        return -1;
    return 0;
}

/* Turn TEXT's C escapes (\n \r \t \0 \\) into the bytes they stand for, in
 * a new buffer stored in *BYTES (the caller frees it) with its length in
 * *LENGTH. Returns 0, or -1 for any other escape or a lone final backslash:
 * an unknown escape is more likely a mistake than something meant. */
static int unescape(const char *text, char **bytes, size_t *length)
{
    static const char escapes[] = "nrt0\\", meanings[] = "\n\r\t\0\\";
    char *out = malloc(strlen(text) + 1);
    size_t n = 0;

    if (out == NULL)
        net_die("unescape --send", strerror(ENOMEM));
    for (const char *p = text; *p != '\0'; p++) {
        const char *escape;

        if (*p != '\\') {
            out[n++] = *p;
            continue;
        }
        p++;
        escape = *p == '\0' ? NULL : strchr(escapes, *p);
        if (escape == NULL) {
            free(out);
            return -1;
        }
        out[n++] = meanings[escape - escapes];
    }
    *bytes = out;
    *length = n;
    return 0;
}

/* Parse the option NAME, which takes VALUE, into OPTIONS.
 * Exits 2 for a bad value or an unknown option. */
static void parse_valued_option(const char *name, const char *value,
                                struct probe_options *options)
{
    char problem[256];
    int bad = 0;

    if (value == NULL) { /* argv[argc] is NULL */
        snprintf(problem, sizeof problem, "%s needs a value", name);
        net_usage_error(problem, short_usage);
    }
    if (strcmp(name, "--send") == 0) {
        free(options->send_bytes);
        options->send_bytes = NULL;
        bad = unescape(value, &options->send_bytes, &options->send_length);
    } else if (strcmp(name, "--hold") == 0) {
        bad = parse_ms(value, &options->hold_ms);
    } else if (strcmp(name, "--timeout") == 0) {
        bad = parse_ms(value, &options->timeout_ms);
    } else {
        snprintf(problem, sizeof problem, "unknown option: %s", name);
        net_usage_error(problem, short_usage);
    }
    if (bad) {
        snprintf(problem, sizeof problem, "bad value for %s: '%s'", name, value);
        net_usage_error(problem, short_usage);
    }
}

/* Fill OPTIONS from the command line. Prints usage and exits 0 for --help,
 * exits 2 for anything wrong. */
static void parse_args(int argc, char *argv[], struct probe_options *options)
{
    char problem[256];
    int i;

    *options = (struct probe_options){ .hold_ms = -1, .timeout_ms = 5000 };
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *name = argv[i];

        if (strcmp(name, "--") == 0) {
            i++;
            break;
        }
        if (net_is_help(name))
            net_show_help(usage_text);
        if (strcmp(name, "--shutdown") == 0)
            options->half_close = 1;
        else if (strcmp(name, "--reset") == 0)
            options->reset = 1;
        else if (strcmp(name, "--no-read") == 0)
            options->no_read = 1;
        else if (strcmp(name, "--quiet") == 0)
            options->quiet = 1;
        else if (strcmp(name, "--line") == 0)
            options->first_line = 1;
        else
            parse_valued_option(name, argv[++i], options);
    }
    if (argc - i != 2)
        net_usage_error("expected HOST and PORT", short_usage);
    options->host = argv[i];
    options->port = argv[i + 1];
    /* Port 0 is a server's "any free port", never a place to connect to. */
    if (net_parse_port(options->port, 0) == -1) {
        snprintf(problem, sizeof problem, "bad port: '%s'", options->port);
        net_usage_error(problem, short_usage);
    }
    if (options->reset && options->no_read)
        net_usage_error("give --reset or --no-read, not both", short_usage);
    if (options->hold_ms == -1)
        options->hold_ms = options->no_read ? 1000 : 0;
}

/* Exit 1 with "probe: VERB HOST port PORT: REASON". */
static _Noreturn void die_on_connection(const struct probe_options *options,
                                        const char *verb, const char *reason)
{
    char what[512];

    snprintf(what, sizeof what, "%s %s port %s", verb, options->host, options->port);
    net_die(what, reason);
}

/* Milliseconds on the monotonic clock, which no clock change moves. */
static long long now_ms(void)
{
    struct timespec now;

    if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
        net_die("read the monotonic clock", strerror(errno));
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Sleep MS milliseconds, all of them even when a signal interrupts. */
static void sleep_ms(long long ms)
{
    struct timespec left = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

    while (nanosleep(&left, &left) == -1) {
        if (errno != EINTR)
            net_die("nanosleep", strerror(errno));
    }
}

/* Print "local ADDR:PORT" on stderr: this end's address, which the server
 * sees as its client's. stderr is unbuffered, so it is out at once. */
static void announce_local_address(int conn)
{
    char local[NET_ADDR_STRLEN];

    if (net_local_addr(conn, local, sizeof local) == NULL)
        net_die("getsockname", strerror(errno));
    fprintf(stderr, "local %s\n", local);
}

/* Close CONN with a reset: SO_LINGER on with a zero timeout makes close()
 * send RST instead of FIN, dropping whatever is still unsent. */
static void reset_connection(int conn)
{
    struct linger abort_on_close = { 1, 0 };

    if (setsockopt(conn, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close) == -1)
        net_die("set SO_LINGER", strerror(errno));
    if (close(conn) == -1)
        net_die("close", strerror(errno));
}

/* Read CONN until EOF (or, with --line, until a newline has come) and copy
 * every byte to stdout unchanged. Exits 1 when reading fails or OPTIONS'
 * timeout passes first. */
static void copy_until_eof(int conn, const struct probe_options *options)
{
    char buf[65536];
    long long deadline = now_ms() + options->timeout_ms;

    for (;;) {
        struct pollfd readable = { conn, POLLIN, 0 };
        int wait_ms = -1; /* poll()'s "no limit" */
        ssize_t n;

        if (options->timeout_ms > 0) {
            long long remaining = deadline - now_ms();
            wait_ms = remaining > 0 ? (int)remaining : 0;
        }
        /* Wait first, so that the time limit holds also while the server
         * sends nothing at all. */
        n = poll(&readable, 1, wait_ms);
        if (n == -1 && errno != EINTR)
            net_die("poll", strerror(errno));
        if (n == 0) {
            char reason[64];
            snprintf(reason, sizeof reason, "timed out after %lld ms", options->timeout_ms);
            die_on_connection(options, "read from", reason);
        }
        if (n <= 0)
            continue;
        n = read(conn, buf, sizeof buf);
        if (n == 0)
            return;
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die_on_connection(options, "read from", strerror(errno));
        }
        if (net_write_all(STDOUT_FILENO, buf, (size_t)n) == -1)
            net_die("write to stdout", strerror(errno));
        if (options->first_line && memchr(buf, '\n', (size_t)n) != NULL)
            return;
    }
}

int main(int argc, char *argv[])
{
    struct probe_options options;
    int conn;

    net_init("probe");
    parse_args(argc, argv, &options);

    conn = net_connect_or_die(options.host, options.port);
    if (!options.quiet)
        announce_local_address(conn);
    if (options.send_bytes != NULL &&
        net_write_all(conn, options.send_bytes, options.send_length) == -1)
        die_on_connection(&options, "send to", strerror(errno));
    free(options.send_bytes);
    /* A half-close: the server reads EOF, and can still send to us. */
    if (options.half_close && shutdown(conn, SHUT_WR) == -1)
        die_on_connection(&options, "shut down sending to", strerror(errno));
    if (options.hold_ms > 0)
        sleep_ms(options.hold_ms);

    if (options.reset) {
        reset_connection(conn);
        return 0;
    }
    if (!options.no_read)
        copy_until_eof(conn, &options);
    if (close(conn) == -1)
        net_die("close", strerror(errno));
    return 0;
}
