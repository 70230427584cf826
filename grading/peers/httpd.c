/* httpd.c - a fake HTTP server to point an HTTP client (tcp-client) at.
 *
 * The other end for 01-tcp-client, for the grader and for students.
 * Listens, prints "Listening on ADDR:PORT", then serves --count connections
 * one after another and exits 0. Each connection: read the request up to
 * its empty line (or 64 KiB, or the client's EOF, or 5 s), optionally
 * append it to a file exactly as received, then answer as --mode says:
 *
 *   answer  send the response (--body FILE's bytes exactly, or a small
 *           built-in page), in --pieces pieces --delay ms apart, then close
 *           with an orderly FIN
 *   silent  send nothing and keep the connection open until the client
 *           closes it (or httpd is stopped)
 *   reset   send the first half of the response (in --pieces pieces
 *           --delay ms apart), then reset (RST)
 *   close   close without answering
 *
 * A client that goes away mid-response is reported on stderr and the next
 * connection is served. SIGINT or SIGTERM stops the server, exit 0.
 *
 * Usage: httpd [--host H] [--port P] [--count N] [--record FILE]
 *              [--body FILE] [--pieces N] [--delay MS]
 *              [--mode answer|silent|reset|close]
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: httpd [--host H] [--port P] [--count N] [--record FILE]\n"
    "             [--body FILE] [--pieces N] [--delay MS]\n"
    "             [--mode answer|silent|reset|close]\n"
    "\n"
    "A fake HTTP server for testing an HTTP client. Serves N connections one\n"
    "after another, then exits 0. For each, reads the request up to its empty\n"
    "line (at most 64 KiB or 5 s), then answers as --mode says.\n"
    "\n"
    "  --host H          address to listen on (default 127.0.0.1)\n"
    "  --port P          port to listen on; 0 = any free port (default 0)\n"
    "  --count N         connections to serve; 0 = until stopped (default 1)\n"
    "  --record FILE     append each request to FILE, bytes exactly as received\n"
    "  --body FILE       the response: FILE's bytes exactly (default: a small\n"
    "                    HTTP/1.0 200 page)\n"
    "  --pieces N        send the response in N roughly equal pieces (default 1)\n"
    "  --delay MS        milliseconds between two pieces (default 0)\n"
    "  --mode MODE       answer: send the response, then close (default)\n"
    "                    silent: send nothing, wait for the client to close\n"
    "                    reset:  send the first half (in --pieces pieces), then\n"
    "                            reset the connection\n"
    "                    close:  close without answering\n"
    "  -h, --help        show this help\n"
    "\n"
    "Prints \"Listening on ADDR:PORT\" first. SIGINT or SIGTERM stops it, exit 0.\n"
    "Exit status: 0 when done or stopped, 1 when it could not run, 2 for a bad\n"
    "command line.\n";

/* What a usage error prints after the problem. */
static const char short_usage[] =
    "Usage: httpd [--host H] [--port P] [--count N] [--record FILE]\n"
    "             [--body FILE] [--pieces N] [--delay MS]\n"
    "             [--mode answer|silent|reset|close]\n"
    "Try 'httpd --help' for more information.\n";

/* The response without --body. */
static const char builtin_page[] =
    "HTTP/1.0 200 OK\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<html><body><h1>Hello from the kit's test server</h1></body></html>\n";

/* A request is read up to its empty line, but no further than this... */
#define REQUEST_MAX (64 * 1024)
/* ... and for no longer than this: a client that never finishes its
 * request still gets its answer. */
#define REQUEST_TIMEOUT_MS 5000
/* A send() that moves no byte for this long fails (EAGAIN), so a client
 * that stops reading holds the server up for seconds, not for ever (and a
 * stop signal too, which waits while a send blocks: see waiting_mask). */
#define SEND_TIMEOUT_SECONDS 10
/* After its FIN, the server reads what the client still sends for at most
 * this long before it closes (see finish_gracefully()). */
#define LINGER_TIMEOUT_MS 2000
/* Largest --count, --pieces and --delay: far beyond any test, small
 * enough that no arithmetic on them overflows. */
#define COUNT_MAX 1000000000
#define PIECES_MAX 1000000
#define DELAY_MS_MAX 3600000

enum mode { MODE_ANSWER, MODE_SILENT, MODE_RESET, MODE_CLOSE };

struct httpd_options {
    const char *host;
    const char *port;
    long long count;          /* 0: until stopped */
    const char *record_path;  /* NULL: do not record */
    const char *body_path;    /* NULL: the built-in page */
    long long pieces;
    long long delay_ms;
    enum mode mode;
};

/* The bytes to send; OWNED is what to free() (NULL for the built-in page). */
struct response {
    const char *bytes;
    size_t length;
    char *owned;
};

/* The signal mask to wait with: SIGINT and SIGTERM are blocked everywhere
 * else and let through only inside pselect(), so a stop signal can never
 * arrive between a look at net_stop_requested and a call that blocks. */
static sigset_t waiting_mask;

/* Parse TEXT as a whole decimal number in [MIN, MAX].
 * Returns 0 and stores it in *VALUE, or -1 when TEXT is not one. */
static int parse_number(const char *text, long long min, long long max, long long *value)
{
    char *end;

    if (*text < '0' || *text > '9')
        return -1; /* no sign, no spaces */
    errno = 0;
    *value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || *value < min || *value > max)
        return -1;
    return 0;
}

/* Parse TEXT as a --mode. Returns 0 and stores it in *MODE, or -1. */
static int parse_mode(const char *text, enum mode *mode)
{
    static const char *const names[] = { "answer", "silent", "reset", "close" };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(text, names[i]) == 0) {
            *mode = (enum mode)i;
            return 0;
        }
    }
    return -1;
}

/* Fill OPTIONS from the command line. Prints usage and exits 0 for --help,
 * exits 2 for anything wrong. */
static void parse_args(int argc, char *argv[], struct httpd_options *options)
{
    char problem[256];

    *options = (struct httpd_options){
        .host = "127.0.0.1", .port = "0", .count = 1, .pieces = 1, .mode = MODE_ANSWER,
    };
    /* Every option takes a value: look at them two by two. */
    for (int i = 1; i < argc; i += 2) {
        const char *name = argv[i], *value = argv[i + 1]; /* argv[argc] is NULL */
        int bad = 0;

        if (net_is_help(name))
            net_show_help(usage_text);
        if (value == NULL) {
            snprintf(problem, sizeof problem, "%s: unknown option or missing value", name);
            net_usage_error(problem, short_usage);
        }
        if (strcmp(name, "--host") == 0)
            options->host = value;
        else if (strcmp(name, "--port") == 0) {
            options->port = value;
            bad = net_parse_port(value, 1) == -1;
        } else if (strcmp(name, "--count") == 0)
            bad = parse_number(value, 0, COUNT_MAX, &options->count);
        else if (strcmp(name, "--record") == 0)
            options->record_path = value;
        else if (strcmp(name, "--body") == 0)
            options->body_path = value;
        else if (strcmp(name, "--pieces") == 0)
            bad = parse_number(value, 1, PIECES_MAX, &options->pieces);
        else if (strcmp(name, "--delay") == 0)
            bad = parse_number(value, 0, DELAY_MS_MAX, &options->delay_ms);
        else if (strcmp(name, "--mode") == 0)
            bad = parse_mode(value, &options->mode);
        else {
            snprintf(problem, sizeof problem, "unknown option: %s", name);
            net_usage_error(problem, short_usage);
        }
        if (bad) {
            snprintf(problem, sizeof problem, "bad value for %s: '%s'", name, value);
            net_usage_error(problem, short_usage);
        }
    }
}

/* Read all of file PATH into RESPONSE, whatever its bytes and size.
 * Exits 1 if it cannot be read. */
static void load_body(const char *path, struct response *response)
{
    char what[512];
    size_t length = 0, capacity = 64 * 1024;
    char *bytes = malloc(capacity);
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    snprintf(what, sizeof what, "read body file %s", path);
    if (bytes == NULL)
        net_die(what, strerror(ENOMEM));
    if (fd == -1)
        net_die(what, strerror(errno));
    for (;;) {
        ssize_t n;

        if (length == capacity) {
            char *grown = realloc(bytes, capacity * 2);
            if (grown == NULL)
                net_die(what, strerror(ENOMEM));
            bytes = grown;
            capacity *= 2;
        }
        n = read(fd, bytes + length, capacity - length);
        if (n == 0)
            break;
        if (n == -1 && errno != EINTR)
            net_die(what, strerror(errno));
        if (n > 0)
            length += (size_t)n;
    }
    if (close(fd) == -1)
        net_die(what, strerror(errno));
    *response = (struct response){ bytes, length, bytes };
}

/* Milliseconds on the monotonic clock, which no clock change moves. */
static long long now_ms(void)
{
    struct timespec now;

    if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
        net_die("read the monotonic clock", strerror(errno));
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Block SIGINT and SIGTERM, and remember the mask that lets them through
 * for pselect(). Call after net_catch_stop_signals(). */
static void block_stop_signals(void)
{
    sigset_t stop_signals;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, &waiting_mask) == -1)
        net_die("block signals", strerror(errno));
    sigdelset(&waiting_mask, SIGINT);
    sigdelset(&waiting_mask, SIGTERM);
}

/* Wait until FD is readable (FD -1: just wait), until monotonic time
 * DEADLINE in ms (-1: no deadline) or until a stop signal comes.
 * Returns 1 when FD is readable, 0 at the deadline, -1 when stopped. */
static int wait_readable(int fd, long long deadline)
{
    for (;;) {
        fd_set readable;
        struct timespec timeout, *timeout_or_null = NULL;
        int ready;

        if (net_stop_requested)
            return -1;
        FD_ZERO(&readable);
        if (fd >= 0)
            FD_SET(fd, &readable); /* accept_client() keeps fd < FD_SETSIZE */
        if (deadline >= 0) {
            long long remaining = deadline - now_ms();
            if (remaining <= 0)
                return 0;
            timeout.tv_sec = (time_t)(remaining / 1000);
            timeout.tv_nsec = (long)(remaining % 1000) * 1000000;
            timeout_or_null = &timeout;
        }
        /* The stop signals are let through here only: see waiting_mask. */
        ready = pselect(fd + 1, &readable, NULL, NULL, timeout_or_null, &waiting_mask);
        if (ready > 0)
            return 1;
        if (ready == -1 && errno != EINTR)
            net_die("wait with pselect", strerror(errno));
    }
}

/* Sleep MS milliseconds; a stop signal ends it early. Not nanosleep(): the
 * stop signals are blocked outside pselect(), and would not wake it.
 * Returns 0, or -1 when stopped. */
static int pause_ms(long long ms)
{
    return wait_readable(-1, now_ms() + ms) == -1 ? -1 : 0;
}

/* Whether the LENGTH bytes of REQUEST hold an empty line ("\r\n\r\n") that
 * ends at or after byte FROM: only the new bytes (and the three before
 * them) need a look, so a request that trickles in is not rescanned.
 * A bare "\n\n" (the slide's own request) ends it too, as it does for real
 * servers: a client that gets the line ends wrong should fail T2 alone,
 * not wait out every other test. */
static int holds_empty_line(const char *request, size_t length, size_t from)
{
    size_t start = from >= 3 ? from - 3 : 0;

    for (size_t i = start; i + 2 <= length; i++) {
        if (memcmp(request + i, "\n\n", 2) == 0)
            return 1;
        if (i + 4 <= length && memcmp(request + i, "\r\n\r\n", 4) == 0)
            return 1;
    }
    return 0;
}

/* Read the request on CONN into REQUEST (REQUEST_MAX bytes of room) until
 * it holds an empty line, fills the room, the client closes its side, or
 * REQUEST_TIMEOUT_MS pass. CLIENT names the client in messages.
 * Returns the length, or -1 when reading failed (reported) or stopped. */
static ssize_t read_request(int conn, const char *client, char *request)
{
    char what[128];
    size_t length = 0, before;
    long long deadline = now_ms() + REQUEST_TIMEOUT_MS;

    snprintf(what, sizeof what, "read request from %s", client);
    do {
        ssize_t n;
        int ready = wait_readable(conn, deadline);

        if (ready == -1)
            return -1;
        if (ready == 0) {
            net_error(what, "no empty line within 5 s; answering what came");
            break;
        }
        n = read(conn, request + length, REQUEST_MAX - length);
        if (n == 0)
            break; /* the client shut down its side: the request is complete */
        if (n == -1) {
            if (errno == EINTR)
                continue;
            net_error(what, strerror(errno));
            return -1;
        }
        before = length;
        length += (size_t)n;
        if (holds_empty_line(request, length, before))
            break;
    } while (length < REQUEST_MAX);
    return (ssize_t)length;
}

/* Append the LENGTH bytes of REQUEST to file PATH. Exits 1 if it cannot:
 * the test that asked for the record would draw wrong conclusions. */
static void record_request(const char *path, const char *request, size_t length)
{
    char what[512];
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    snprintf(what, sizeof what, "record request in %s", path);
    if (fd == -1 || net_write_all(fd, request, length) == -1 || close(fd) == -1)
        net_die(what, strerror(errno));
}

/* Write the LENGTH bytes at BYTES to CONN. Returns 0, or -1 when the
 * client went away or stopped reading (reported on stderr). */
static int send_bytes(int conn, const char *client, const char *bytes, size_t length)
{
    char what[128];

    if (length == 0 || net_write_all(conn, bytes, length) != -1)
        return 0;
    snprintf(what, sizeof what, "send response to %s", client);
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        net_error(what, "timed out: the client stopped reading");
    else
        net_error(what, strerror(errno));
    return -1;
}

/* Send RESPONSE in PIECES roughly equal pieces, DELAY_MS apart, so that
 * the client's reads return partial responses. Returns 0, or -1 when the
 * client went away or a stop signal came. */
static int send_in_pieces(int conn, const char *client, const struct response *response,
                          long long pieces, long long delay_ms)
{
    unsigned long long length = response->length, count = (unsigned long long)pieces;

    for (unsigned long long i = 0; i < count; i++) {
        size_t start = (size_t)(length * i / count), end = (size_t)(length * (i + 1) / count);

        if (i > 0 && delay_ms > 0 && pause_ms(delay_ms) == -1)
            return -1;
        if (send_bytes(conn, client, response->bytes + start, end - start) == -1)
            return -1;
    }
    return 0;
}

/* Read and drop what the client sends on CONN until it closes (EOF or an
 * error such as a reset), DEADLINE passes (-1: none) or a stop signal. */
static void discard_until_closed(int conn, long long deadline)
{
    char discarded[4096];

    while (wait_readable(conn, deadline) == 1) {
        ssize_t n = read(conn, discarded, sizeof discarded);
        if (n == 0 || (n == -1 && errno != EINTR))
            return;
    }
}

/* End CONN with an orderly FIN. shutdown() sends the FIN at once; the
 * server then reads until the client closes too, because close() on a
 * socket with unread data sends RST instead of FIN, and a reset can make
 * the client lose the end of the response it has not read yet. */
static void finish_gracefully(int conn, const char *client)
{
    char what[128];

    if (shutdown(conn, SHUT_WR) == -1) {
        if (errno != ENOTCONN) { /* ENOTCONN: the client already reset it */
            snprintf(what, sizeof what, "shut down connection to %s", client);
            net_error(what, strerror(errno));
        }
        return;
    }
    discard_until_closed(conn, now_ms() + LINGER_TIMEOUT_MS);
}

/* Make the coming close() of CONN send RST (a reset) instead of FIN:
 * SO_LINGER on, with a timeout of zero, drops the connection at once. */
static void prepare_reset(int conn, const char *client)
{
    struct linger abort_on_close = { 1, 0 };
    char what[128];

    if (setsockopt(conn, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close) == -1) {
        snprintf(what, sizeof what, "set SO_LINGER to reset %s", client);
        net_error(what, strerror(errno));
    }
}

/* Serve one connection CONN from CLIENT as OPTIONS say; the caller closes
 * CONN afterwards (and that close() is the reset in reset mode). */
static void serve(int conn, const char *client, const struct response *response,
                  const struct httpd_options *options)
{
    static char request[REQUEST_MAX];
    ssize_t length = read_request(conn, client, request);

    if (length == -1)
        return;
    if (options->record_path != NULL)
        record_request(options->record_path, request, (size_t)length);
    switch (options->mode) {
    case MODE_ANSWER:
        if (send_in_pieces(conn, client, response, options->pieces, options->delay_ms) == 0)
            finish_gracefully(conn, client);
        break;
    case MODE_SILENT:
        discard_until_closed(conn, -1);
        break;
    case MODE_RESET: {
        /* Half the response first: the client has data, then the reset. */
        struct response half = { response->bytes, response->length / 2, NULL };

        if (send_in_pieces(conn, client, &half, options->pieces, options->delay_ms) == 0)
            prepare_reset(conn, client);
        break;
    }
    case MODE_CLOSE:
        finish_gracefully(conn, client);
        break;
    }
}

/* Wait for the next connection on LISTENER; write the client's address
 * into CLIENT. Returns the connection, or -1 when a stop signal came. */
static int accept_client(int listener, char *client, size_t size)
{
    struct timeval send_timeout = { SEND_TIMEOUT_SECONDS, 0 };

    while (wait_readable(listener, -1) == 1) {
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof addr;
        int conn = accept(listener, (struct sockaddr *)&addr, &addr_len);

        if (conn == -1) {
            /* ECONNABORTED: the client gave up before we took it. */
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            net_die("accept", strerror(errno));
        }
        /* FD_SET() on a larger descriptor would write past the fd_set. */
        if (conn >= FD_SETSIZE) {
            net_error("accept", "descriptor too large for select(); connection closed");
            if (close(conn) == -1)
                net_die("close", strerror(errno));
            continue;
        }
        if (setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout) == -1)
            net_die("set SO_SNDTIMEO", strerror(errno));
        net_format_addr((struct sockaddr *)&addr, client, size);
        return conn;
    }
    return -1;
}

int main(int argc, char *argv[])
{
    struct httpd_options options;
    struct response response = { builtin_page, sizeof builtin_page - 1, NULL };
    char where[NET_ADDR_STRLEN], client[NET_ADDR_STRLEN];
    int listener;

    net_init("httpd");
    parse_args(argc, argv, &options);
    if (options.body_path != NULL)
        load_body(options.body_path, &response);
    if (net_catch_stop_signals() == -1)
        net_die("catch stop signals", strerror(errno));
    block_stop_signals();

    listener = net_listen_or_die(options.host, options.port, 5);
    if (listener >= FD_SETSIZE)
        net_die("listen", "descriptor too large for select()");
    if (net_local_addr(listener, where, sizeof where) == NULL)
        net_die("getsockname", strerror(errno));
    printf("Listening on %s\n", where);

    for (long long served = 0; options.count == 0 || served < options.count; served++) {
        int conn = accept_client(listener, client, sizeof client);

        if (conn == -1)
            break; /* stopped */
        serve(conn, client, &response, &options);
        if (close(conn) == -1)
            net_error("close", strerror(errno));
        if (net_stop_requested)
            break;
    }
    if (close(listener) == -1)
        net_die("close", strerror(errno));
    free(response.owned);
    return 0;
}
