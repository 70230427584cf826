/* select-echo.c - an echo server for many clients at once, in one select()
 * loop (slide "Example - echo server for multiple simultaneous connection",
 * after PyMOTW's select_echo_server.py).
 *
 * Usage: select-echo [HOST [PORT]]
 *   HOST defaults to localhost, PORT to 10000; port 0 picks any free port.
 *
 * One process, one thread: select() says which sockets are ready, and the
 * server does only what cannot block - accept the connections waiting, read
 * what has arrived, send what the peer's socket will take. Every byte a
 * client sends comes back to it, in order. Each connection and each close is
 * logged on stdout; SIGINT or SIGTERM closes everything, prints a summary
 * and exits 0.
 *
 * Where the slide is naive this program is not: it holds a burst of
 * connections, reads 64 KiB at a time, keeps what send() did not take,
 * flushes queued echo before closing on EOF, caps each client's queue,
 * refuses descriptors select() cannot watch, and survives running out of
 * descriptors.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

/* Read this much per recv(): the slide's 1024 bytes costs a loop round per
 * kilobyte. */
#define READ_CHUNK (64 * 1024)

/* Stop reading from a client whose unsent echo reaches this many bytes, so
 * a client that sends without reading cannot make the server grow. */
#define PENDING_CAP (256 * 1024)

/* Connections the kernel holds for us until accept() takes them. The
 * slide's listen(5) cannot hold a burst: the SYNs that do not fit are
 * dropped, and each drop costs its client a 1 s retransmission. The kernel
 * caps this at net.core.somaxconn (4096 since Linux 5.4). */
#define BACKLOG 1024

/* Connections accepted per loop round at most: enough to drain a burst
 * quickly, few enough that clients already connected are served between
 * the rounds. */
#define ACCEPT_PER_ROUND 64

/* How long to wait before trying accept() again after it failed for lack
 * of resources, when no client of ours closes to free one. */
#define ACCEPT_RETRY_SECONDS 1

static const char usage_text[] =
    "Usage: select-echo [HOST [PORT]]\n"
    "Echo every byte each client sends back to it, serving many clients at\n"
    "once in one select() loop.\n"
    "  HOST  address to listen on (default: localhost)\n"
    "  PORT  port to listen on, 0 for any free port (default: 10000)\n";

/* One connected client: the slide's message_queues[s], plus what the C
 * needs. An idle client has no pending buffer, so it costs only this. */
struct client {
    int in_use;                 /* this descriptor is a client of ours */
    int read_closed;            /* the client shut down its sending side */
    char *pending;              /* echo send() has not taken; NULL if none */
    size_t pending_start;       /* first unsent byte in pending */
    size_t pending_end;         /* one past the last unsent byte */
    unsigned long long echoed;  /* bytes sent back so far */
    char addr[NET_ADDR_STRLEN]; /* "IP:PORT", for the log */
};

/* Everything the loop knows: the slide's inputs, outputs and queues. */
struct server {
    int listen_fd;
    fd_set read_watch;          /* the slide's inputs */
    fd_set write_watch;         /* the slide's outputs */
    int maxfd;                  /* highest descriptor in either set */
    int accept_paused;          /* listen_fd left out of read_watch */
    unsigned long clients_served;
    unsigned long long bytes_echoed;
    struct client clients[FD_SETSIZE]; /* indexed by descriptor */
};

/* Parse the command line into *HOST and *PORT; print usage and exit 0 for
 * -h/--help, or exit 2 on a wrong one. */
static void parse_args(int argc, char *argv[], const char **host, const char **port)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (net_is_help(argv[i]))
            net_show_help(usage_text);
        if (argv[i][0] == '-')
            net_usage_error("unknown option", usage_text);
    }
    if (argc > 3)
        net_usage_error("too many arguments", usage_text);
    if (argc > 1)
        *host = argv[1];
    if (argc > 2)
        *port = argv[2];
    if (net_parse_port(*port, 1) == -1)
        net_usage_error("bad port: must be a number from 0 to 65535", usage_text);
}

/* Put FD in non-blocking mode. Returns 0, or -1 with errno set. */
static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Turn off Nagle's algorithm on FD: it holds back the short last segment
 * of each echoed piece until the client has acknowledged what went before,
 * and an echo server has nothing to add to it. Returns 0, or -1 with errno
 * set. */
static int send_at_once(int fd)
{
    int on = 1;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

/* Whether ERR only means "not now": try again when select() says so. */
static int is_temporary(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* Unsent echo bytes queued for CLIENT. */
static size_t pending_bytes(const struct client *client)
{
    return client->pending_end - client->pending_start;
}

/* Watch FD for what it can use now: reading while it has not shut down and
 * its queue is under the cap; writing only while echo is pending (a socket
 * is nearly always writable, so watching it otherwise would spin). */
static void update_watch(struct server *srv, int fd)
{
    const struct client *client = &srv->clients[fd];

    if (!client->read_closed && pending_bytes(client) < PENDING_CAP)
        FD_SET(fd, &srv->read_watch);
    else
        FD_CLR(fd, &srv->read_watch);
    if (pending_bytes(client) > 0)
        FD_SET(fd, &srv->write_watch);
    else
        FD_CLR(fd, &srv->write_watch);
}

/* Stop or resume watching the listening socket. Paused while accept() fails
 * for lack of descriptors: the socket stays readable, so select() would
 * return at once, forever - a busy loop that starves every client. */
static void pause_accepting(struct server *srv, int paused)
{
    srv->accept_paused = paused;
    if (paused)
        FD_CLR(srv->listen_fd, &srv->read_watch);
    else
        FD_SET(srv->listen_fd, &srv->read_watch);
}

/* Close client FD and forget it, logging one "Closed" line; REASON, when
 * not NULL, says what went wrong. */
static void close_client(struct server *srv, int fd, const char *reason)
{
    struct client *client = &srv->clients[fd];
    char undelivered[64] = "";

    if (pending_bytes(client) > 0)
        snprintf(undelivered, sizeof undelivered, ", %zu not delivered",
                 pending_bytes(client));
    printf("Closed %s (%llu bytes echoed%s)%s%s\n", client->addr, client->echoed,
           undelivered, reason != NULL ? ": " : "", reason != NULL ? reason : "");
    if (close(fd) == -1)
        net_error("close", strerror(errno));
    srv->bytes_echoed += client->echoed;
    free(client->pending);
    memset(client, 0, sizeof *client);
    FD_CLR(fd, &srv->read_watch);
    FD_CLR(fd, &srv->write_watch);
    while (srv->maxfd > srv->listen_fd && !srv->clients[srv->maxfd].in_use)
        srv->maxfd--;
    /* A descriptor is free again, so accept() can succeed. */
    if (srv->accept_paused)
        pause_accepting(srv, 0);
}

/* Accept one waiting connection and start watching it. A failure costs only
 * that connection; a lack of descriptors or memory pauses accepting.
 * Returns 0, or -1 when no connection was waiting or accepting paused. */
static int accept_client(struct server *srv)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    char client_addr[NET_ADDR_STRLEN], what[NET_ADDR_STRLEN + 16], problem[128];
    int fd = accept(srv->listen_fd, (struct sockaddr *)&addr, &addr_len);

    if (fd == -1) {
        /* None waiting, or a signal: nothing to do. */
        if (is_temporary(errno))
            return -1;
        /* Gone before we got to it: the next may be waiting. */
        if (errno == ECONNABORTED || errno == EPROTO)
            return 0;
        snprintf(problem, sizeof problem, "%s; not accepting until a client leaves",
                 strerror(errno));
        net_error("accept", problem);
        pause_accepting(srv, 1);
        return -1;
    }
    net_format_addr((struct sockaddr *)&addr, client_addr, sizeof client_addr);
    /* FD_SET() on a descriptor >= FD_SETSIZE writes past the end of the set. */
    if (fd >= FD_SETSIZE) {
        snprintf(problem, sizeof problem, "descriptor %d >= FD_SETSIZE (%d); closed at once",
                 fd, FD_SETSIZE);
    } else if (set_nonblocking(fd) == -1) {
        /* A blocking send() would wait for this client, and so would all. */
        snprintf(problem, sizeof problem, "%s; closed", strerror(errno));
    } else if (send_at_once(fd) == -1) {
        snprintf(problem, sizeof problem, "TCP_NODELAY: %s; closed", strerror(errno));
    } else {
        srv->clients[fd].in_use = 1;
        memcpy(srv->clients[fd].addr, client_addr, sizeof client_addr);
        srv->clients_served++;
        if (fd > srv->maxfd)
            srv->maxfd = fd;
        update_watch(srv, fd);
        printf("Connection from %s\n", srv->clients[fd].addr);
        return 0;
    }
    snprintf(what, sizeof what, "accept %s", client_addr);
    net_error(what, problem);
    if (close(fd) == -1)
        net_error("close", strerror(errno));
    return 0;
}

/* Append LEN bytes of DATA to client FD's queue of unsent echo. Returns 0,
 * or -1 when memory ran out and the client was closed. */
static int queue_echo(struct server *srv, int fd, const char *data, size_t len)
{
    struct client *client = &srv->clients[fd];
    size_t unsent = pending_bytes(client);
    char *grown;

    /* Slide the unsent bytes to the front, so the buffer never outgrows the
     * cap. */
    if (client->pending_start > 0)
        memmove(client->pending, client->pending + client->pending_start, unsent);
    grown = realloc(client->pending, unsent + len);
    if (grown == NULL) {
        close_client(srv, fd, "out of memory for its echo");
        return -1;
    }
    memcpy(grown + unsent, data, len);
    client->pending = grown;
    client->pending_start = 0;
    client->pending_end = unsent + len;
    return 0;
}

/* Echo LEN bytes of DATA to client FD: straight to send() when nothing is
 * queued ahead of them, and what send() did not take into the queue.
 * Returns 0, or -1 when the client was closed. */
static int send_echo(struct server *srv, int fd, const char *data, size_t len)
{
    struct client *client = &srv->clients[fd];
    ssize_t sent = 0;

    if (client->pending == NULL) {
        sent = send(fd, data, len, 0);
        if (sent == -1 && !is_temporary(errno)) {
            close_client(srv, fd, strerror(errno)); /* EPIPE, ECONNRESET */
            return -1;
        }
        if (sent == -1)
            sent = 0;
        client->echoed += (size_t)sent;
    }
    /* The slide ignores send()'s count: a short send would lose the rest. */
    if ((size_t)sent < len)
        return queue_echo(srv, fd, data + sent, len - (size_t)sent);
    return 0;
}

/* Read what client FD sent and echo it. */
static void read_client(struct server *srv, int fd)
{
    static char buf[READ_CHUNK];
    struct client *client = &srv->clients[fd];
    size_t room = PENDING_CAP - pending_bytes(client);
    ssize_t received = recv(fd, buf, room < sizeof buf ? room : sizeof buf, 0);

    if (received == -1) {
        if (!is_temporary(errno))
            close_client(srv, fd, strerror(errno)); /* ECONNRESET, ETIMEDOUT */
        return;
    }
    if (received == 0) {
        /* The slide closes here and drops the queued echo; but the client
         * may only have shut down its sending side, and still be reading. */
        client->read_closed = 1;
        if (client->pending == NULL) {
            close_client(srv, fd, NULL);
            return;
        }
    } else if (send_echo(srv, fd, buf, (size_t)received) == -1) {
        return;
    }
    update_watch(srv, fd);
}

/* Send what is queued for client FD, now that it is writable; close it once
 * all of it went and the client has shut down its side. */
static void flush_client(struct server *srv, int fd)
{
    struct client *client = &srv->clients[fd];
    ssize_t sent = send(fd, client->pending + client->pending_start,
                        pending_bytes(client), 0);

    if (sent == -1) {
        if (!is_temporary(errno))
            close_client(srv, fd, strerror(errno)); /* EPIPE, ECONNRESET */
        return;
    }
    client->echoed += (size_t)sent;
    client->pending_start += (size_t)sent;
    if (pending_bytes(client) == 0) {
        free(client->pending);
        client->pending = NULL;
        client->pending_start = client->pending_end = 0;
        if (client->read_closed) {
            close_client(srv, fd, NULL);
            return;
        }
    }
    update_watch(srv, fd);
}

/* Make SIGINT and SIGTERM set net_stop_requested, and keep them blocked
 * except while pselect() waits with *WAIT_MASK: a signal arriving just
 * before the wait would otherwise go unnoticed until a client stirs. Exits
 * 1 when that cannot be done. */
static void catch_stop_signals(sigset_t *wait_mask)
{
    sigset_t stop_signals;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (net_catch_stop_signals() == -1 ||
        sigprocmask(SIG_BLOCK, &stop_signals, wait_mask) == -1)
        net_die("catch stop signals", strerror(errno));
}

/* Close every client and the listener; print the summary line. */
static void stop_server(struct server *srv)
{
    int fd;

    for (fd = srv->maxfd; fd >= 0; fd--)
        if (srv->clients[fd].in_use)
            close_client(srv, fd, "server stopping");
    if (close(srv->listen_fd) == -1)
        net_error("close listening socket", strerror(errno));
    printf("Stopped: %lu clients served, %llu bytes echoed\n",
           srv->clients_served, srv->bytes_echoed);
}

int main(int argc, char *argv[])
{
    static struct server srv; /* static: zeroed, and too big for the stack */
    const char *host = "localhost", *port = "10000";
    char listen_addr[NET_ADDR_STRLEN];
    struct timespec accept_retry = { ACCEPT_RETRY_SECONDS, 0 };
    sigset_t wait_mask;

    net_init("select-echo");
    parse_args(argc, argv, &host, &port);

    /* server = socket(); server.bind((host, port)); server.listen(5) */
    srv.listen_fd = net_listen_or_die(host, port, BACKLOG);
    if (net_local_addr(srv.listen_fd, listen_addr, sizeof listen_addr) == NULL)
        net_die("getsockname", strerror(errno));
    printf("Listening on %s\n", listen_addr);

    /* server.setblocking(0): a client that resets between select() and
     * accept() would otherwise leave accept() blocking the whole loop. */
    if (set_nonblocking(srv.listen_fd) == -1)
        net_die("make the listening socket non-blocking", strerror(errno));

    /* inputs = [server]; outputs = [] */
    FD_ZERO(&srv.read_watch);
    FD_ZERO(&srv.write_watch);
    FD_SET(srv.listen_fd, &srv.read_watch);
    srv.maxfd = srv.listen_fd;

    catch_stop_signals(&wait_mask);

    /* while inputs: readable, writable, exceptional = select(...) */
    while (!net_stop_requested) {
        /* select() overwrites its sets: hand it copies of the master sets.
         * No exceptfds: in C that reports TCP urgent data, not errors -
         * errors come back from recv() and send(). */
        fd_set readable = srv.read_watch, writable = srv.write_watch;
        int fd, nready = pselect(srv.maxfd + 1, &readable, &writable, NULL,
                                 srv.accept_paused ? &accept_retry : NULL, &wait_mask);

        if (nready == -1) {
            if (errno == EINTR)
                continue;
            net_die("select", strerror(errno));
        }
        if (nready == 0) { /* the retry timeout: try accept() again */
            pause_accepting(&srv, 0);
            continue;
        }
        /* for s in readable: if s is server: accept - all that are waiting,
         * not one per round, up to ACCEPT_PER_ROUND. */
        if (FD_ISSET(srv.listen_fd, &readable)) {
            for (int accepted = 0; accepted < ACCEPT_PER_ROUND; accepted++)
                if (accept_client(&srv) == -1)
                    break;
            nready--;
        }
        /* the other sockets, until every ready one is served (Stevens) */
        for (fd = 0; fd <= srv.maxfd && nready > 0; fd++) {
            if (fd == srv.listen_fd)
                continue;
            if (FD_ISSET(fd, &readable)) {
                nready--;
                read_client(&srv, fd);
            }
            if (FD_ISSET(fd, &writable)) {
                nready--;
                if (srv.clients[fd].in_use)
                    flush_client(&srv, fd);
            }
        }
    }

    stop_server(&srv);
    return 0;
}
