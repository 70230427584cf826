/* nonblocking-send.c - send 7 MiB through a non-blocking TCP socket.
 *
 * The slide "Blocking and Non-Blocking Socket I/O" in C: connect, put the
 * socket in non-blocking mode, then send "foobar\n" x 1,048,576. When the
 * kernel's send buffer is full, send() fails with EAGAIN instead of
 * blocking; the program says so and waits in select() until the socket is
 * writable again. With --spin it loops straight back into send() instead,
 * as the slide's loop does once its select() line is removed: the same
 * bytes arrive, at the cost of a CPU core spent on useless iterations
 * (see the summary line).
 *
 * Usage: nonblocking-send [--spin] [--verbose] [HOST [PORT]]
 *        HOST defaults to localhost, PORT to 1234.
 * Output: "Bytes to send: 7340032", "Blocking with N remaining" at each
 * EAGAIN, "Sent 7340032 bytes" and a summary line. Exit status 0 when every
 * byte went, 1 on a run-time failure (one line on stderr), 2 for a bad
 * command line.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: nonblocking-send [--spin] [--verbose] [HOST [PORT]]\n"
    "\n"
    "Connect to HOST (default localhost) on PORT (default 1234), make the\n"
    "socket non-blocking and send \"foobar\\n\" 1,048,576 times (7,340,032\n"
    "bytes). Whenever send() fails with EAGAIN, print \"Blocking with N\n"
    "remaining\" and wait in select() until the socket is writable.\n"
    "\n"
    "  --spin      on EAGAIN call send() again at once, without select(), as\n"
    "              the slide does without its select() line; \"Blocking with\"\n"
    "              is then printed once per run of EAGAINs, not for each one\n"
    "  --verbose   print \"Sending data\" after every successful send()\n"
    "  -h, --help  show this help\n"
    "\n"
    "Ends with \"Sent 7340032 bytes\" and a summary: send() calls, EAGAINs,\n"
    "waits in select(), CPU and wall seconds of the send loop.\n"
    "Try it against the grader's sink: grading/bin/sink --port 1234\n";

/* The slide's data: "foobar\n" * 1024 * 1024. */
static const char pattern[] = "foobar\n";
#define PATTERN_REPEATS (1024 * 1024)

struct options {
    const char *host;
    const char *port;
    int spin;     /* loop on EAGAIN without select() */
    int verbose;  /* print "Sending data" after each send() */
};

/* What the send loop did, for the summary line. */
struct send_stats {
    unsigned long send_calls;
    unsigned long eagain_count;
    unsigned long select_waits;
    double cpu_start, wall_start;
};

/* Fill OPTIONS from the command line. Prints usage and exits 0 for
 * -h/--help; exits 2 for an unknown option, too many arguments or a bad
 * port (0 is no port a client can connect to). */
static void parse_args(int argc, char *argv[], struct options *options)
{
    const char *positional[2];
    int npositional = 0;
    char problem[256];

    *options = (struct options){ "localhost", "1234", 0, 0 };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (net_is_help(arg)) {
            net_show_help(usage_text);
        } else if (strcmp(arg, "--spin") == 0) {
            options->spin = 1;
        } else if (strcmp(arg, "--verbose") == 0) {
            options->verbose = 1;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            snprintf(problem, sizeof problem, "unknown option: %s", arg);
            net_usage_error(problem, usage_text);
        } else if (npositional < 2) {
            positional[npositional++] = arg;
        } else {
            net_usage_error("too many arguments", usage_text);
        }
    }
    if (npositional >= 1)
        options->host = positional[0];
    if (npositional >= 2)
        options->port = positional[1];
    if (net_parse_port(options->port, 0) == -1) {
        snprintf(problem, sizeof problem, "bad port: %s (1 to 65535)", options->port);
        net_usage_error(problem, usage_text);
    }
}

/* handout: TODO sock.setblocking(0) -- N1: write set_nonblocking_or_die().
 * Hint: fcntl() F_GETFL, then F_SETFL with O_NONBLOCK added. */
/* Set O_NONBLOCK on SOCK, keeping its other status flags. Exits 1 on
 * failure. */
static void set_nonblocking_or_die(int sock)
{
    int flags = fcntl(sock, F_GETFL);

    if (flags == -1 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) == -1)
        net_die("make the socket non-blocking", strerror(errno));
}
/* handout: end */

/* The slide's data, "foobar\n" * 1024 * 1024, in a new buffer whose size
 * goes to *SIZE. Exits 1 when memory runs out. The caller frees it. */
static char *make_data(size_t *size)
{
    size_t pattern_len = sizeof pattern - 1;
    char *data;

    *size = pattern_len * PATTERN_REPEATS;
    data = malloc(*size);
    if (data == NULL)
        net_die("allocate the data", strerror(errno));
    for (size_t i = 0; i < PATTERN_REPEATS; i++)
        memcpy(data + i * pattern_len, pattern, pattern_len);
    return data;
}

/* Seconds on the monotonic clock (exits 1 if it cannot be read). */
static double wall_seconds(void)
{
    struct timespec now;

    if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
        net_die("clock_gettime", strerror(errno));
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* User plus system CPU seconds this process has used (exits 1 on failure). */
static double cpu_seconds(void)
{
    struct rusage usage;

    if (getrusage(RUSAGE_SELF, &usage) == -1)
        net_die("getrusage", strerror(errno));
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/* handout: TODO select() until writable -- N4, N6: write wait_until_writable(),
 * and one error line "send to HOST port PORT: REASON" (exit 1) for a send()
 * that fails otherwise. Hint: FD_ZERO, FD_SET, select() with a write set. */
/* Block in select() until SOCK can take more data. A signal (EINTR) just
 * means: wait again. Exits 1 on any other error. */
static void wait_until_writable(int sock)
{
    fd_set writable;

    /* FD_SET on a descriptor past the fd_set's end would corrupt memory. */
    if (sock >= FD_SETSIZE)
        net_die("select", "socket descriptor too large for an fd_set");
    for (;;) {
        FD_ZERO(&writable);
        FD_SET(sock, &writable);
        /* No timeout: "This blocks until the socket is writable". A peer
         * that closes or resets also makes it "writable": the next send()
         * then reports the error, so this never hangs on a dead peer. */
        if (select(sock + 1, NULL, &writable, NULL, NULL) != -1)
            return;
        if (errno != EINTR)
            net_die("select", strerror(errno));
    }
}

/* The receiver went away (EPIPE, ECONNRESET) or another send() error:
 * one line naming the connection and the reason, then exit 1. */
static _Noreturn void die_send_failed(const struct options *options)
{
    char what[512];

    snprintf(what, sizeof what, "send to %s port %s", options->host, options->port);
    net_die(what, strerror(errno));
}
/* handout: end */

/* The summary line: what the send loop did and what it cost. */
static void print_summary(const struct send_stats *stats)
{
    printf("Summary: %lu send() calls, %lu EAGAIN, %lu waits in select(), "
           "CPU %.2f s, wall %.2f s\n",
           stats->send_calls, stats->eagain_count, stats->select_waits,
           cpu_seconds() - stats->cpu_start, wall_seconds() - stats->wall_start);
}

int main(int argc, char *argv[])
{
    struct options options;
    struct send_stats stats = { 0 };
    size_t data_size;
    char *data;
    int sock;

    /* Also ignores SIGPIPE: a vanished receiver then shows up as an EPIPE
     * from send() below instead of killing the process. */
    net_init("nonblocking-send");
    parse_args(argc, argv, &options);

    /* sock.connect(("localhost", 1234)) - blocking, so it simply completes;
     * a non-blocking connect() would return EINPROGRESS first. */
    sock = net_connect_or_die(options.host, options.port);
    /* handout: TODO sock.setblocking(0) -- N1: set_nonblocking_or_die(sock). */
    /* sock.setblocking(0): from here on a full send buffer makes send()
     * fail with EAGAIN instead of putting the whole process to sleep. */
    set_nonblocking_or_die(sock);
    /* handout: end */

    /* data = "foobar\n" * 1024 * 1024 */
    data = make_data(&data_size);
    printf("Bytes to send: %zu\n", data_size);

    stats.cpu_start = cpu_seconds();
    stats.wall_start = wall_seconds();
    /* handout: TODO while data: sent = sock.send(data) -- N3, N4, N5, N6: send
     * all data_size bytes, each send() going on where the last stopped; at
     * EAGAIN print "Blocking with N remaining" and wait (--spin: send again);
     * then "Sent N bytes". Count calls in stats. Hint: EINTR is no error. */
    size_t total_sent = 0;
    int reported_this_stall = 0;  /* --spin: "Blocking with" already said */
    while (total_sent < data_size) {
        size_t bytes_left = data_size - total_sent;
        ssize_t sent = send(sock, data + total_sent, bytes_left, 0);

        stats.send_calls++;
        if (sent >= 0) {
            /* The slide's data = data[sent:]: send() takes what fits in the
             * send buffer, often less than offered; go on from there. */
            total_sent += (size_t)sent;
            reported_this_stall = 0;
            if (options.verbose)
                printf("Sending data\n");
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            die_send_failed(&options);

        stats.eagain_count++;
        if (!options.spin || !reported_this_stall)
            printf("Blocking with %zu remaining\n", bytes_left);
        reported_this_stall = 1;
        if (options.spin)
            continue;  /* the slide without select(): try again at once */
        wait_until_writable(sock);
        stats.select_waits++;
    }
    /* The loop ends only here: the slide's assert total_sent == data_size. */
    printf("Sent %zu bytes\n", total_sent);
    /* handout: end */
    print_summary(&stats);

    /* Every byte is in the kernel's hands now, and close() does not discard
     * them: the kernel goes on delivering, then sends FIN. A sender that must
     * know the receiver got everything would shutdown(SHUT_WR) and wait for
     * the receiver's EOF (recv() returning 0) before closing. */
    if (close(sock) == -1)
        net_die("close the connection", strerror(errno));
    free(data);
    return 0;
}
