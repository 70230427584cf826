/* tcp-client.c - fetch one web page over TCP and copy it to stdout.
 *
 * Usage: tcp-client HOST [PORT [PATH]]
 *        (PORT defaults to 80, PATH to /index.html)
 *
 * The slide "Example: TCP Client", in C:
 *
 *     s = socket(AF_INET, SOCK_STREAM)
 *     s.connect((host, 80))
 *     s.send("GET /index.html HTTP/1.0\n\n")
 *     data = s.recv(10000)
 *     print data
 *     s.close()
 *
 * Three places where the slide is naive are done right here: every address
 * of HOST is tried, IPv6 included; the request has the CRLF line ends and
 * the Host header HTTP asks for; and the response is read until the server
 * closes the connection, not in one recv() of at most 10,000 bytes.
 *
 * Exit status: 0 when the whole response was copied, 1 on a failure (one
 * line on stderr: "tcp-client: WHAT: REASON"), 2 on a wrong command line.
 */
#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_PORT "80"
#define DEFAULT_PATH "/index.html"

/* Room for any valid port number, as decimal text. */
#define PORT_STRLEN sizeof "65535"

static const char usage[] =
    "Usage: tcp-client HOST [PORT [PATH]]\n"
    "Send an HTTP/1.0 GET request for PATH to HOST and copy the response\n"
    "to stdout, byte for byte. PORT defaults to " DEFAULT_PORT
    ", PATH to " DEFAULT_PATH ".\n"
    "  -h, --help  show this help\n";

/* What the command line asks for. */
struct request_target {
    const char *host;
    char port[PORT_STRLEN]; /* canonical decimal text: "007" becomes "7" */
    const char *path;
};

/* Fill TARGET from the command line. Returns only when it is valid: exits 0
 * after -h/--help, and 2 with the usage on stderr after anything wrong. */
static void parse_arguments(int argc, char *argv[], struct request_target *target)
{
    const char *port_text = argc >= 3 ? argv[2] : DEFAULT_PORT;
    char problem[256];
    int port;

    for (int i = 1; i < argc; i++) {
        if (net_is_help(argv[i]))
            net_show_help(usage);
        if (argv[i][0] == '-') {
            snprintf(problem, sizeof problem, "unknown option: %.200s", argv[i]);
            net_usage_error(problem, usage);
        }
    }
    if (argc < 2 || argc > 4)
        net_usage_error("expected HOST [PORT [PATH]]", usage);
    /* Port 0 is "any port" only for a server; no client connects to it. */
    port = net_parse_port(port_text, 0);
    if (port == -1) {
        snprintf(problem, sizeof problem,
                 "invalid port: %.200s (expected 1 to 65535)", port_text);
        net_usage_error(problem, usage);
    }
    target->host = argv[1];
    snprintf(target->port, sizeof target->port, "%d", port);
    target->path = argc == 4 ? argv[3] : DEFAULT_PATH;
}

/* handout: TODO s.send("GET /index.html HTTP/1.0\n\n") -- T2: write
 * send_request(): "GET PATH HTTP/1.0", "Host: HOST" and an empty line, each
 * ended by CRLF, all of it sent. Hint: snprintf(), then net_write_all(). */
/* An HTTP/1.0 request: PATH, then HOST (in brackets when an IPv6 literal),
 * CRLF line ends as HTTP asks (the slide's bare "\n" works only with
 * lenient servers), and the empty line that ends the headers. */
#define REQUEST_FORMAT "GET %s HTTP/1.0\r\nHost: %s%s%s\r\n\r\n"

/* Send "GET PATH HTTP/1.0", the Host header and the empty line that ends
 * the request. Returns only when all of it went; exits 1 otherwise. */
static void send_request(int sock, const struct request_target *target)
{
    /* An IPv6 literal goes in brackets in the Host header (RFC 7230 5.4),
     * or its colons would read as a port separator. */
    int is_ipv6_literal = strchr(target->host, ':') != NULL;
    const char *open_bracket = is_ipv6_literal ? "[" : "";
    const char *close_bracket = is_ipv6_literal ? "]" : "";
    char what[512];
    char *request;
    int length;

    length = snprintf(NULL, 0, REQUEST_FORMAT,
                      target->path, open_bracket, target->host, close_bracket);
    if (length < 0)
        net_die("format the request", strerror(errno));
    request = malloc((size_t)length + 1);
    if (request == NULL)
        net_die("format the request", strerror(errno));
    snprintf(request, (size_t)length + 1, REQUEST_FORMAT,
             target->path, open_bracket, target->host, close_bracket);

    /* The slide's s.send() ignores how much was sent; a full-write loop
     * does not stop after a short send. */
    if (net_write_all(sock, request, (size_t)length) == -1) {
        snprintf(what, sizeof what, "send to %.300s port %s", target->host, target->port);
        net_die(what, strerror(errno));
    }
    free(request);
}
/* handout: end */

/* handout: TODO data = s.recv(10000); print data -- T3: write copy_response():
 * every byte the server sends, to stdout, until it closes the connection.
 * Hint: recv() in a loop until it returns 0; NUL bytes are data too. */
/* Copy everything the server sends to stdout until it closes the
 * connection. Returns then; exits 1 when receiving or writing fails. */
static void copy_response(int sock, const struct request_target *target)
{
    char chunk[16384];
    char what[512];

    /* The slide's single recv(10000) returns whatever has arrived so far:
     * maybe one TCP segment, maybe less. Only a return of 0 means the
     * server has sent everything and closed its side. */
    for (;;) {
        ssize_t received = recv(sock, chunk, sizeof chunk, 0);

        if (received == 0)
            return;
        if (received == -1) {
            if (errno == EINTR)
                continue;
            snprintf(what, sizeof what, "receive from %.300s port %s",
                     target->host, target->port);
            net_die(what, strerror(errno));
        }
        /* write(), not printf("%s"): the response may hold NUL bytes, and
         * each piece reaches stdout as soon as it arrives. */
        if (net_write_all(STDOUT_FILENO, chunk, (size_t)received) == -1)
            net_die("write to standard output", strerror(errno));
    }
}
/* handout: end */

int main(int argc, char *argv[])
{
    struct request_target target;
    int sock;

    net_init("tcp-client");
    parse_arguments(argc, argv, &target);

    /* s = socket(AF_INET, SOCK_STREAM); s.connect((host, port)) -- but for
     * every address getaddrinfo() gives, IPv6 too, until one connects. */
    sock = net_connect_or_die(target.host, target.port);

    /* handout: TODO s.send(...); data = s.recv(10000); print data -- T2, T3:
     * call send_request() and copy_response(). */
    /* s.send("GET /index.html HTTP/1.0\n\n") */
    send_request(sock, &target);

    /* data = s.recv(10000); print data -- until the server closes. */
    copy_response(sock, &target);
    /* handout: end */

    /* s.close() */
    if (close(sock) == -1)
        net_die("close the connection", strerror(errno));
    return 0;
}
