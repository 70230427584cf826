/* epoll-echo.c - the grader's epoll echo server: the yardstick that
 * 04-select-echo is measured against (grading/bench). Linux only.
 *
 * Usage: epoll-echo [HOST [PORT]]
 *   HOST defaults to localhost, PORT to 10000; PORT 0 picks any free port.
 *
 * The same service as select-echo, written the straightforward way for
 * Linux: one thread, non-blocking sockets, edge-triggered epoll. Each
 * wake-up reads until EAGAIN and echoes at once, with Nagle's algorithm off
 * (TCP_NODELAY) so that no piece of echo waits for an acknowledgement; what
 * a client will not take yet waits in its pending buffer, which holds at
 * most 256 KiB (the contract's E5): while it is full the client is not
 * read. EPOLLOUT is asked for only while something is pending.
 *
 * Prints "Listening on ADDRESS:PORT" first, one line per connection opened
 * and closed, and on SIGINT or SIGTERM a summary line; then exits 0.
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
#include <sys/epoll.h>
#include <unistd.h>

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT "10000"
#define BACKLOG SOMAXCONN
/* The most unsent echo one client may have before we stop reading it. */
#define PENDING_CAP (256 * 1024)
#define READ_CHUNK (64 * 1024)
#define MAX_EVENTS 256
/* Reads and accepts per wake-up: one busy client must not starve the rest. */
#define READ_BUDGET 64
#define ACCEPT_BUDGET 256

static const char usage_text[] =
    "Usage: epoll-echo [HOST [PORT]]\n"
    "Echo server on edge-triggered epoll: the yardstick for select-echo.\n"
    "HOST defaults to " DEFAULT_HOST ", PORT to " DEFAULT_PORT
    " (0: any free port).\n";

struct client {
    int fd;
    char addr[NET_ADDR_STRLEN];
    char *pending;         /* echo the client has not taken yet */
    size_t pending_len;
    size_t pending_size;   /* bytes allocated for pending */
    int wants_output;      /* EPOLLOUT is in the interest set */
    int input_done;        /* the client shut down its sending side */
    struct client *prev, *next;
};

struct server {
    int epoll_fd;
    int listen_fd;
    int accept_paused;     /* out of descriptors: accept when one is freed */
    struct client *clients;
    unsigned long clients_served;
    unsigned long long bytes_echoed;
};

/* Put FD in non-blocking mode. Returns 0, or -1 with errno set. */
static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Add (OP EPOLL_CTL_ADD) or change (EPOLL_CTL_MOD) what epoll watches on FD
 * for CLIENT (NULL: the listening socket). Returns 0, or -1 with errno set. */
static int watch(struct server *srv, int op, int fd, struct client *client,
                 unsigned events)
{
    struct epoll_event event;

    memset(&event, 0, sizeof event);
    event.events = events | EPOLLET;
    event.data.ptr = client;
    return epoll_ctl(srv->epoll_fd, op, fd, &event);
}

/* The events CLIENT needs: input always (a full buffer is handled by not
 * reading), output only while echo is pending. */
static unsigned client_events(const struct client *client)
{
    return EPOLLIN | EPOLLRDHUP | (client->wants_output ? EPOLLOUT : 0u);
}

static void close_client(struct server *srv, struct client *client);
static void accept_clients(struct server *srv);

/* Close CLIENT after a failed CALL, saying why. Returns -1 (closed). */
static int drop_client(struct server *srv, struct client *client,
                       const char *call, int error)
{
    char what[NET_ADDR_STRLEN + 32];

    snprintf(what, sizeof what, "%s %s", call, client->addr);
    net_error(what, strerror(error));
    close_client(srv, client);
    return -1;
}

static void close_client(struct server *srv, struct client *client)
{
    printf("Closed %s\n", client->addr);
    /* close() also removes the descriptor from the epoll set. */
    if (close(client->fd) == -1)
        net_error("close", strerror(errno));
    if (client->prev != NULL)
        client->prev->next = client->next;
    else
        srv->clients = client->next;
    if (client->next != NULL)
        client->next->prev = client->prev;
    free(client->pending);
    free(client);
    /* A descriptor is free again: take the connections that waited. */
    if (srv->accept_paused)
        accept_clients(srv);
}

/* Ask for EPOLLOUT exactly while CLIENT has echo pending. Returns 0, or -1
 * when CLIENT had to be closed. */
static int update_output_interest(struct server *srv, struct client *client)
{
    int wants = client->pending_len > 0;

    if (wants == client->wants_output)
        return 0;
    client->wants_output = wants;
    if (watch(srv, EPOLL_CTL_MOD, client->fd, client, client_events(client)) == -1)
        return drop_client(srv, client, "epoll_ctl", errno);
    return 0;
}

/* Append LEN bytes of DATA to CLIENT's pending echo, growing the buffer as
 * needed (never past PENDING_CAP: the caller reads no more than fits).
 * Returns 0, or -1 when out of memory. */
static int keep_pending(struct client *client, const char *data, size_t len)
{
    size_t needed = client->pending_len + len;

    if (needed > client->pending_size) {
        size_t size = client->pending_size == 0 ? 4096 : client->pending_size;
        char *bigger;

        while (size < needed)
            size *= 2;
        if (size > PENDING_CAP)
            size = PENDING_CAP;
        bigger = realloc(client->pending, size);
        if (bigger == NULL)
            return -1;
        client->pending = bigger;
        client->pending_size = size;
    }
    memcpy(client->pending + client->pending_len, data, len);
    client->pending_len = needed;
    return 0;
}

/* send() as much of DATA as the socket takes now. Returns the bytes sent
 * (0 when the socket is full), or -1 with errno set. */
static ssize_t send_some(int fd, const char *data, size_t len)
{
    for (;;) {
        ssize_t sent = send(fd, data, len, 0);
        if (sent >= 0)
            return sent;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Echo LEN bytes just read from CLIENT: straight back if nothing is queued
 * before them, the rest into the pending buffer. Returns 0, or -1 when
 * CLIENT was closed. */
static int echo(struct server *srv, struct client *client, const char *data,
                size_t len)
{
    ssize_t sent = 0;

    if (client->pending_len == 0) {
        sent = send_some(client->fd, data, len);
        if (sent == -1)
            return drop_client(srv, client, "send to", errno);
        srv->bytes_echoed += (size_t)sent;
    }
    if ((size_t)sent < len &&
        keep_pending(client, data + sent, len - (size_t)sent) == -1)
        return drop_client(srv, client, "keep echo for", ENOMEM);
    return update_output_interest(srv, client);
}

/* Send what CLIENT has pending; close it once everything is sent after it
 * shut down its side (E4). Returns 0, or -1 when CLIENT was closed. */
static int flush_client(struct server *srv, struct client *client)
{
    size_t done = 0;

    while (done < client->pending_len) {
        ssize_t sent = send_some(client->fd, client->pending + done,
                                 client->pending_len - done);
        if (sent == -1)
            return drop_client(srv, client, "send to", errno);
        if (sent == 0)
            break;
        done += (size_t)sent;
    }
    srv->bytes_echoed += done;
    client->pending_len -= done;
    memmove(client->pending, client->pending + done, client->pending_len);
    if (client->pending_len == 0 && client->input_done) {
        close_client(srv, client);
        return -1;
    }
    return update_output_interest(srv, client);
}

/* Read CLIENT until EAGAIN, echoing as we go. Stops early while the pending
 * buffer is full: flush_client() calls again once it has drained. Returns 0,
 * or -1 when CLIENT was closed. */
static int read_client(struct server *srv, struct client *client)
{
    static char data[READ_CHUNK];

    for (int reads = 0; !client->input_done; reads++) {
        size_t room = PENDING_CAP - client->pending_len;
        ssize_t got;

        if (room == 0)
            return 0; /* E5: read again when the client has taken some */
        if (reads == READ_BUDGET) {
            /* Re-arming an edge-triggered descriptor reports it again on
             * the next round, after the other ready clients. */
            if (watch(srv, EPOLL_CTL_MOD, client->fd, client, client_events(client)) == -1)
                return drop_client(srv, client, "epoll_ctl", errno);
            return 0;
        }
        got = recv(client->fd, data, room < sizeof data ? room : sizeof data, 0);
        if (got > 0) {
            if (echo(srv, client, data, (size_t)got) == -1)
                return -1;
        } else if (got == 0) {
            client->input_done = 1; /* E4: still send back what is pending */
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        } else if (errno != EINTR) {
            return drop_client(srv, client, "recv from", errno);
        }
    }
    if (client->pending_len == 0) {
        close_client(srv, client);
        return -1;
    }
    return 0;
}

/* Take a new connection FD: non-blocking, without Nagle, watched, logged.
 * On failure the connection is closed and the server goes on. */
static void add_client(struct server *srv, int fd)
{
    struct client *client = calloc(1, sizeof *client);
    int error, on = 1;

    if (client == NULL) {
        net_error("accept", strerror(ENOMEM));
        close(fd);
        return;
    }
    client->fd = fd;
    if (net_peer_addr(fd, client->addr, sizeof client->addr) == NULL)
        snprintf(client->addr, sizeof client->addr, "?");
    if (set_nonblocking(fd) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1 ||
        watch(srv, EPOLL_CTL_ADD, fd, client, client_events(client)) == -1) {
        error = errno;
        net_error("accept", strerror(error));
        close(fd);
        free(client);
        return;
    }
    client->next = srv->clients;
    if (srv->clients != NULL)
        srv->clients->prev = client;
    srv->clients = client;
    srv->clients_served++;
    printf("Connection from %s\n", client->addr);
}

/* Accept until the queue is empty (edge-triggered). Out of descriptors,
 * stop until a client leaves (close_client) rather than spin (E7). */
static void accept_clients(struct server *srv)
{
    srv->accept_paused = 0;
    for (int accepted = 0; accepted < ACCEPT_BUDGET; accepted++) {
        int fd = accept(srv->listen_fd, NULL, NULL);

        if (fd >= 0) {
            add_client(srv, fd);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EMFILE || errno == ENFILE) {
            net_error("accept", strerror(errno));
            srv->accept_paused = 1;
            return;
        }
        /* EINTR, ECONNABORTED (the client gave up in the queue) and the
         * like concern one connection: try the next one. */
        if (errno != EINTR && errno != ECONNABORTED)
            net_error("accept", strerror(errno));
    }
    /* Budget spent: re-arm so that the rest is reported on the next round. */
    if (watch(srv, EPOLL_CTL_MOD, srv->listen_fd, NULL, EPOLLIN) == -1)
        net_die("epoll_ctl on the listening socket", strerror(errno));
}

/* Handle one epoll event. */
static void handle_event(struct server *srv, const struct epoll_event *event)
{
    struct client *client = event->data.ptr;

    if (client == NULL) {
        accept_clients(srv);
        return;
    }
    /* Errors and hang-ups show up as recv() results: read first. */
    if ((event->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
        read_client(srv, client) == -1)
        return;
    if ((event->events & EPOLLOUT) && client->pending_len > 0) {
        size_t was_pending = client->pending_len;
        if (flush_client(srv, client) == -1)
            return;
        /* Data left unread while the buffer was full raises no new edge. */
        if (was_pending >= PENDING_CAP && client->pending_len < PENDING_CAP)
            read_client(srv, client);
    }
}

/* The event loop, until SIGINT or SIGTERM. The stop signals are blocked
 * except inside epoll_pwait(), so one cannot slip in between the flag test
 * and the wait and leave the server asleep. */
static void serve(struct server *srv)
{
    struct epoll_event events[MAX_EVENTS];
    sigset_t stop_signals, wait_mask;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask) == -1)
        net_die("sigprocmask", strerror(errno));
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    while (!net_stop_requested) {
        int ready = epoll_pwait(srv->epoll_fd, events, MAX_EVENTS, -1, &wait_mask);

        if (ready == -1) {
            if (errno == EINTR)
                continue;
            net_die("epoll_wait", strerror(errno));
        }
        for (int i = 0; i < ready; i++)
            handle_event(srv, &events[i]);
    }
}

int main(int argc, char *argv[])
{
    struct server srv = { .epoll_fd = -1, .listen_fd = -1 };
    const char *host = DEFAULT_HOST, *port = DEFAULT_PORT;
    char where[NET_ADDR_STRLEN];

    net_init("epoll-echo");
    if (argc == 2 && net_is_help(argv[1]))
        net_show_help(usage_text);
    if (argc > 3 || (argc > 1 && argv[1][0] == '-'))
        net_usage_error("wrong arguments", usage_text);
    if (argc > 1)
        host = argv[1];
    if (argc > 2)
        port = argv[2];
    if (net_parse_port(port, 1) == -1)
        net_usage_error("bad port", usage_text);
    if (net_catch_stop_signals() == -1)
        net_die("sigaction", strerror(errno));

    srv.listen_fd = net_listen_or_die(host, port, BACKLOG);
    if (net_local_addr(srv.listen_fd, where, sizeof where) == NULL)
        net_die("getsockname", strerror(errno));
    printf("Listening on %s\n", where);
    if (set_nonblocking(srv.listen_fd) == -1)
        net_die("fcntl", strerror(errno));
    srv.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (srv.epoll_fd == -1)
        net_die("epoll_create1", strerror(errno));
    if (watch(&srv, EPOLL_CTL_ADD, srv.listen_fd, NULL, EPOLLIN) == -1)
        net_die("epoll_ctl on the listening socket", strerror(errno));

    serve(&srv);

    while (srv.clients != NULL) {
        struct client *client = srv.clients;
        srv.clients = client->next;
        close(client->fd);
        free(client->pending);
        free(client);
    }
    close(srv.epoll_fd);
    close(srv.listen_fd);
    printf("Served %lu clients, echoed %llu bytes\n", srv.clients_served,
           srv.bytes_echoed);
    return 0;
}
