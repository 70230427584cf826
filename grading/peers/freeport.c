/* freeport.c - print a TCP port where nothing listens just now.
 *
 * Without --host: a port picked at random below the kernel's ephemeral
 * range (20000-32767; Linux hands out 32768-60999 to connect() and to
 * port 0, macOS and the BSDs 49152-65535), and free on every local address
 * with nothing in TIME_WAIT on it: it binds the wildcard address without
 * SO_REUSEADDR. A port from the ephemeral range can be taken a moment
 * later by any connect() on the machine (another grader's clients), and a
 * server started on it then fails with "Address already in use"; below
 * that range only a program that binds it on purpose takes it.
 *
 * With --host H: binds port 0 on H, which makes the kernel choose a free
 * port there (a way to ask whether H is a local address at all).
 *
 * Either way the port is free when printed and closed again; a test that
 * starts a server on it must still check that the server started.
 *
 * Usage: freeport [--host H]
 * Output: the port number and a newline, e.g. "41873".
 * Exit status: 0, 1 when no port could be bound, 2 for a bad command line.
 */
#include "net.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The ports picked from without --host, and how many to try. */
#define PICK_LOW 20000
#define PICK_HIGH 32767
#define PICK_TRIES 500

static const char usage_text[] =
    "Usage: freeport [--host H]\n"
    "\n"
    "Print the number of a TCP port where nothing listens just now: one from\n"
    "20000-32767, below the ports the kernel hands out, free on every local\n"
    "address; or, with --host H, the one the kernel picks for port 0 on H.\n"
    "\n"
    "  --host H     the local address to find a port on\n"
    "  -h, --help   show this help\n";

/* What a usage error prints after the problem. */
static const char short_usage[] =
    "Usage: freeport [--host H]\n"
    "Try 'freeport --help' for more information.\n";

/* The host to bind, from the command line (NULL: none given). Prints usage
 * and exits 0 for --help, exits 2 for anything wrong. */
static const char *parse_args(int argc, char *argv[])
{
    char problem[256];

    if (argc == 2 && net_is_help(argv[1]))
        net_show_help(usage_text);
    if (argc == 1)
        return NULL;
    if (strcmp(argv[1], "--host") == 0) {
        if (argc == 3)
            return argv[2];
        net_usage_error(argc == 2 ? "--host needs a value" : "too many arguments", short_usage);
    }
    snprintf(problem, sizeof problem, "unknown argument: %s", argv[1]);
    net_usage_error(problem, short_usage);
}

/* Bind PORT on the wildcard address of FAMILY, without SO_REUSEADDR (so
 * that a connection in TIME_WAIT there counts as in use), and close again.
 * Returns 0 when that worked, else -1 with errno set. */
static int bind_wildcard(int family, int port)
{
    struct sockaddr_in6 v6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
    struct sockaddr_in v4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
    int fd = socket(family, SOCK_STREAM, 0), off = 0, status, saved_errno;

    if (fd == -1)
        return -1;
    v6.sin6_port = v4.sin_port = htons((unsigned short)port);
    /* Dual-stack: the port must be free for IPv4 as well. */
    status = family == AF_INET6
                 ? setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) == -1 ||
                       bind(fd, (struct sockaddr *)&v6, sizeof v6) == -1
                 : bind(fd, (struct sockaddr *)&v4, sizeof v4) == -1;
    saved_errno = errno;
    if (close(fd) == -1 && status == 0)
        return -1;
    errno = saved_errno;
    return status ? -1 : 0;
}

/* A random port of PICK_LOW..PICK_HIGH that is free on every local address.
 * Exits 1 when PICK_TRIES tries find none. */
static int pick_port(void)
{
    struct timespec now;

    /* Two graders started in the same second must not pick alike. */
    if (clock_gettime(CLOCK_REALTIME, &now) == -1)
        now.tv_nsec = 0; /* the process id alone still differs */
    srand((unsigned)now.tv_nsec ^ (unsigned)getpid());
    for (int i = 0; i < PICK_TRIES; i++) {
        int port = PICK_LOW + rand() % (PICK_HIGH - PICK_LOW + 1);

        if (bind_wildcard(AF_INET6, port) == 0)
            return port;
        /* No IPv6 here: IPv4 alone. */
        if ((errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) && bind_wildcard(AF_INET, port) == 0)
            return port;
    }
    net_die("find a free port", "every port tried was in use");
}

int main(int argc, char *argv[])
{
    char where[NET_ADDR_STRLEN];
    const char *host, *port;
    int listener;

    net_init("freeport");
    host = parse_args(argc, argv);
    if (host == NULL) {
        printf("%d\n", pick_port());
        if (fflush(stdout) == EOF)
            net_die("write to stdout", strerror(errno));
        return 0;
    }

    /* Port 0: the kernel binds a free port of its choosing. */
    listener = net_listen_or_die(host, "0", 1);
    if (net_local_addr(listener, where, sizeof where) == NULL)
        net_die("getsockname", strerror(errno));
    /* "127.0.0.1:41873" or "[::1]:41873": the port follows the last colon. */
    port = strrchr(where, ':') + 1;
    /* Closed with no connection ever accepted, the port is free at once
     * (no TIME_WAIT). */
    if (close(listener) == -1)
        net_die("close", strerror(errno));
    printf("%s\n", port);
    if (fflush(stdout) == EOF)
        net_die("write to stdout", strerror(errno));
    return 0;
}
