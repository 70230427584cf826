/* freeport.c - print a TCP port where nothing listens just now.
 *
 * Binds port 0 on 127.0.0.1 (or --host H), which makes the kernel choose a
 * free port, prints that port's number and closes the socket again. Tests
 * use it for a port that refuses connections, or to start a server on a
 * port chosen in advance. The port is free when printed; nothing stops
 * another program from taking it a moment later, so a test that starts a
 * server on it must still check that the server started.
 *
 * Usage: freeport [--host H]
 * Output: the port number and a newline, e.g. "41873".
 * Exit status: 0, 1 when no port could be bound, 2 for a bad command line.
 */
#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: freeport [--host H]\n"
    "\n"
    "Print the number of a TCP port on 127.0.0.1 (or H) where nothing listens\n"
    "just now: the one the kernel picks for port 0.\n"
    "\n"
    "  --host H     the local address to find a port on (default 127.0.0.1)\n"
    "  -h, --help   show this help\n";

/* What a usage error prints after the problem. */
static const char short_usage[] =
    "Usage: freeport [--host H]\n"
    "Try 'freeport --help' for more information.\n";

/* The host to bind, from the command line. Prints usage and exits 0 for
 * --help, exits 2 for anything wrong. */
static const char *parse_args(int argc, char *argv[])
{
    char problem[256];

    if (argc == 2 && net_is_help(argv[1]))
        net_show_help(usage_text);
    if (argc == 1)
        return "127.0.0.1";
    if (strcmp(argv[1], "--host") == 0) {
        if (argc == 3)
            return argv[2];
        net_usage_error(argc == 2 ? "--host needs a value" : "too many arguments", short_usage);
    }
    snprintf(problem, sizeof problem, "unknown argument: %s", argv[1]);
    net_usage_error(problem, short_usage);
}

int main(int argc, char *argv[])
{
    char where[NET_ADDR_STRLEN];
    const char *host, *port;
    int listener;

    net_init("freeport");
    host = parse_args(argc, argv);

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
