/* hello-server.c - greet every client with its own address, forever.
 *
 * Usage: hello-server [PORT]
 *        (PORT defaults to 9000; 0 picks any free port)
 *
 * The slides "Example: TCP Server" ... "Waiting for the next connection",
 * in C:
 *
 *     s = socket(AF_INET, SOCK_STREAM)
 *     s.bind(("", 9000))
 *     s.listen(5)
 *     while True:
 *         c, a = s.accept()
 *         print "Received connection from", a
 *         c.send("Hello %s\n" % a[0])
 *         c.close()
 *
 * Where the slide is naive, this program does it right: it listens on IPv6
 * as well as IPv4, sets SO_REUSEADDR so that a restart binds at once, and a
 * client that resets, vanishes or never reads costs one line on stderr,
 * never the server. SIGINT or SIGTERM stops it cleanly with exit status 0.
 *
 * Exit status: 0 after SIGINT or SIGTERM, 1 when it cannot listen (one line
 * on stderr: "hello-server: WHAT: REASON"), 2 on a wrong command line.
 */
#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT "9000"

/* The slide's s.listen(5). */
#define BACKLOG 5

/* Room for any valid port number, as decimal text. */
#define PORT_STRLEN sizeof "65535"

static const char usage[] =
    "Usage: hello-server [PORT]\n"
    "Listen on PORT (default " DEFAULT_PORT "; 0 for any free port) and send\n"
    "every client the line \"Hello IP\", IP being the client's address.\n"
    "SIGINT or SIGTERM stops the server.\n"
    "  -h, --help  show this help\n";

/* Put the port the command line asks for into PORT as canonical decimal
 * text. Returns only when it is valid: exits 0 after -h/--help, and 2 with
 * the usage on stderr after anything wrong. */
static void parse_arguments(int argc, char *argv[], char port[PORT_STRLEN])
{
    const char *port_text = argc == 2 ? argv[1] : DEFAULT_PORT;
    char problem[256];
    int port_number;

    for (int i = 1; i < argc; i++) {
        if (net_is_help(argv[i]))
            net_show_help(usage);
        if (argv[i][0] == '-') {
            snprintf(problem, sizeof problem, "unknown option: %.200s", argv[i]);
            net_usage_error(problem, usage);
        }
    }
    if (argc > 2)
        net_usage_error("expected at most one argument, PORT", usage);
    port_number = net_parse_port(port_text, 1);
    if (port_number == -1) {
        snprintf(problem, sizeof problem,
                 "invalid port: %.200s (expected 0 to 65535)", port_text);
        net_usage_error(problem, usage);
    }
    snprintf(port, PORT_STRLEN, "%d", port_number);
}

/* Print "Listening on ADDRESS:PORT" with the port the system really gave
 * (it differs from the one asked for when that was 0). Exits 1 on error. */
static void announce_listening(int listener)
{
    char local_addr[NET_ADDR_STRLEN];

    if (net_local_addr(listener, local_addr, sizeof local_addr) == NULL)
        net_die("find the listening address", strerror(errno));
    if (printf("Listening on %s\n", local_addr) < 0)
        net_die("write to standard output", strerror(errno));
}

/* handout: TODO c.send("Hello %s\n" % a[0]); c.close() -- H2, H3: write
 * greet_client(): print "Received connection from IP:PORT", send "Hello IP\n",
 * close; a client's failure costs a line on stderr, never the server. Hint:
 * net_format_addr(), net_format_ip(); unread input makes close() a reset. */
/* Report a failed accept(). Returns when the server can go on (the failure
 * was one client's, or a passing shortage); exits 1 when the listening
 * socket itself is broken. */
static void report_accept_error(int error)
{
    static const struct timespec backoff = { 0, 100 * 1000 * 1000 };

    /* These mean a bug in this program, not a client's doing. (Linux also
     * passes a new connection's network errors, ECONNABORTED, EPROTO,
     * EHOSTUNREACH and the like, up through accept(): those are one
     * client's, and the loop goes on.) */
    if (error == EBADF || error == EFAULT || error == EINVAL || error == ENOTSOCK)
        net_die("accept a connection", strerror(error));
    net_error("accept a connection", strerror(error));
    /* Out of descriptors or memory: the waiting client stays queued and
     * accept() would fail again at once; pause instead of spinning. An
     * interrupted pause is fine: the loop looks at the stop flag next. */
    if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM)
        (void)nanosleep(&backoff, NULL);
}

/* Read and drop whatever CLIENT has sent so far, without waiting for more:
 * close() on a socket with unread data sends RST, not FIN. Bounded, so a
 * client that keeps sending cannot hold the server. */
static void discard_unread(int client)
{
    char unread[4096];

    /* Our side is done: FIN follows the greeting at once. It fails only
     * when the client is already gone, and then there is nothing to do. */
    (void)shutdown(client, SHUT_WR);
    for (int reads = 0; reads < 16; reads++) {
        if (recv(client, unread, sizeof unread, MSG_DONTWAIT) <= 0)
            break; /* EOF, EAGAIN (nothing more yet) or the client is gone */
    }
}

/* Greet the client on CLIENT, whose address is CLIENT_ADDR, and close the
 * connection. Returns in every case: a client that went away is reported
 * on stderr, and the server goes on; exits 1 only when stdout fails. */
static void greet_client(int client, const struct sockaddr *client_addr)
{
    char addr_text[NET_ADDR_STRLEN], ip_text[NET_ADDR_STRLEN];
    char greeting[sizeof "Hello \n" + NET_ADDR_STRLEN];
    char what[sizeof "send to " + NET_ADDR_STRLEN];
    int length;

    net_format_addr(client_addr, addr_text, sizeof addr_text);
    net_format_ip(client_addr, ip_text, sizeof ip_text);

    /* print "Received connection from", a */
    if (printf("Received connection from %s\n", addr_text) < 0)
        net_die("write to standard output", strerror(errno));

    /* c.send("Hello %s\n" % a[0]) -- a blocking send cannot hang on a
     * client that never reads: these few bytes fit in the socket's send
     * buffer, so send() returns without waiting for the client. A client
     * that has reset or gone gives EPIPE or ECONNRESET (SIGPIPE is ignored
     * by net_init()), reported below rather than ending the server. */
    length = snprintf(greeting, sizeof greeting, "Hello %s\n", ip_text);
    if (net_write_all(client, greeting, (size_t)length) == -1) {
        snprintf(what, sizeof what, "send to %s", addr_text);
        net_error(what, strerror(errno));
    }

    /* c.close() -- but first, what the slide cannot show: a client that
     * sent something (tcp-client sends its GET on connecting) and whose
     * bytes we never read would get a reset instead of an orderly close,
     * and a reset can make it lose the greeting. */
    discard_unread(client);
    if (close(client) == -1) {
        snprintf(what, sizeof what, "close %s", addr_text);
        net_error(what, strerror(errno));
    }
}
/* handout: end */

int main(int argc, char *argv[])
{
    char port[PORT_STRLEN];
    int listener;

    net_init("hello-server");
    parse_arguments(argc, argv, port);
    if (net_catch_stop_signals() == -1)
        net_die("catch SIGINT and SIGTERM", strerror(errno));

    /* s = socket(...); s.bind(("", port)); s.listen(5) -- NULL host: every
     * local address, IPv6 and IPv4 on one socket, with SO_REUSEADDR so that
     * a restart binds at once although old connections are in TIME_WAIT. */
    listener = net_listen_or_die(NULL, port, BACKLOG);
    announce_listening(listener);

    /* handout: TODO while True: c, a = s.accept() -- H2, H3: greet client
     * after client until SIGINT or SIGTERM. Hint: while (!net_stop_requested);
     * accept() fails with EINTR when a stop signal comes. */
    /* while True: -- until SIGINT or SIGTERM. The stop signals have no
     * SA_RESTART, so one that comes while accept() waits makes it fail with
     * EINTR and the loop ends at once. (One that lands in the instant
     * between this test and accept() is seen after the next client; only
     * pselect() closes that window, at the cost of hiding the slide.) */
    while (!net_stop_requested) {
        struct sockaddr_storage client_addr;
        socklen_t client_addr_len = sizeof client_addr;
        int client;

        /* c, a = s.accept() */
        client = accept(listener, (struct sockaddr *)&client_addr, &client_addr_len);
        if (client == -1) {
            if (errno != EINTR)
                report_accept_error(errno);
            continue;
        }
        greet_client(client, (struct sockaddr *)&client_addr);
    }
    /* handout: end */

    if (close(listener) == -1)
        net_die("close the listening socket", strerror(errno));
    return 0;
}
