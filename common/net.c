/* net.c - the lab kit's small socket helper library (see net.h). */
#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t net_stop_requested = 0;

static const char *program_name = "program";

void net_init(const char *program)
{
    program_name = program;
    /* Without this, send() to a peer that has gone away raises SIGPIPE,
     * whose default action kills the process before it can report EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* A pipe or file would otherwise hold lines back in a 4 KiB buffer. */
    setvbuf(stdout, NULL, _IOLBF, 0);
}

const char *net_program(void)
{
    return program_name;
}

static void request_stop(int signo)
{
    (void)signo;
    net_stop_requested = 1;
}

int net_catch_stop_signals(void)
{
    struct sigaction action;

    memset(&action, 0, sizeof action);
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; /* no SA_RESTART: blocked calls return EINTR */
    if (sigaction(SIGINT, &action, NULL) == -1)
        return -1;
    return sigaction(SIGTERM, &action, NULL);
}

void net_error(const char *what, const char *reason)
{
    fprintf(stderr, "%s: %s: %s\n", program_name, what, reason);
}

_Noreturn void net_die(const char *what, const char *reason)
{
    net_error(what, reason);
    exit(1);
}

_Noreturn void net_usage_error(const char *problem, const char *usage)
{
    fprintf(stderr, "%s: %s\n%s", program_name, problem, usage);
    exit(NET_EXIT_USAGE);
}

int net_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

_Noreturn void net_show_help(const char *usage)
{
    if (fputs(usage, stdout) == EOF || fflush(stdout) == EOF)
        net_die("write to standard output", strerror(errno));
    exit(0);
}

int net_parse_port(const char *text, int allow_zero)
{
    long port = 0;

    if (text == NULL || *text == '\0' || strlen(text) > 5)
        return -1;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        port = port * 10 + (*p - '0');
    }
    if (port > 65535 || (port == 0 && !allow_zero))
        return -1;
    return (int)port;
}

int net_connect(const char *host, const char *port, int *gai_error)
{
    struct addrinfo hints, *results, *ai;
    int fd = -1, status, saved_errno = ECONNREFUSED;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC; /* IPv4 or IPv6, whichever the name has */
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    status = getaddrinfo(host, port, &hints, &results);
    if (status != 0) {
        if (gai_error != NULL)
            *gai_error = status;
        return NET_ERR_RESOLVE;
    }
    /* A name can have several addresses (localhost: ::1 and 127.0.0.1);
     * the first one may refuse while another accepts. */
    for (ai = results; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1) {
            saved_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(results);
    if (fd == -1)
        errno = saved_errno;
    return fd;
}

int net_connect_or_die(const char *host, const char *port)
{
    char what[512];
    int gai_error = 0;
    int fd = net_connect(host, port, &gai_error);

    if (fd == NET_ERR_RESOLVE) {
        snprintf(what, sizeof what, "look up %s", host);
        net_die(what, gai_strerror(gai_error));
    }
    if (fd == -1) {
        snprintf(what, sizeof what, "connect to %s port %s", host, port);
        net_die(what, strerror(errno));
    }
    return fd;
}

/* Create, configure, bind and listen one socket for AI. Returns the socket,
 * or -1 with errno set and nothing left open. */
static int listen_on(const struct addrinfo *ai, int backlog)
{
    int fd, on = 1, off = 0, saved_errno;

    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd == -1)
        return -1;
    /* Lets a restarted server bind at once, although connections it served
     * a moment ago are still in TIME_WAIT on this port. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
        goto fail;
    /* One IPv6 socket on "::" then takes IPv4 clients too (as ::ffff:a.b.c.d),
     * whatever the system default (net.ipv6.bindv6only) says. */
    if (ai->ai_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) == -1)
        goto fail;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(fd, backlog) == -1)
        goto fail;
    return fd;

fail:
    saved_errno = errno;
    close(fd);
    errno = saved_errno;
    return -1;
}

int net_listen(const char *host, const char *port, int backlog, int *gai_error)
{
    /* Every local address: try dual-stack IPv6 first, then IPv4 alone. */
    static const int any_families[] = { AF_INET6, AF_INET };
    struct addrinfo hints, *results, *ai;
    int fd = -1, status, saved_errno = EADDRNOTAVAIL;
    size_t tries = host == NULL ? 2 : 1;

    for (size_t i = 0; i < tries && fd == -1; i++) {
        memset(&hints, 0, sizeof hints);
        hints.ai_family = host == NULL ? any_families[i] : AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE; /* NULL host: the wildcard address */
        status = getaddrinfo(host, port, &hints, &results);
        if (status != 0) {
            if (host == NULL && i + 1 < tries)
                continue; /* no IPv6 here: fall back to IPv4 */
            if (gai_error != NULL)
                *gai_error = status;
            return NET_ERR_RESOLVE;
        }
        for (ai = results; ai != NULL && fd == -1; ai = ai->ai_next) {
            fd = listen_on(ai, backlog);
            if (fd == -1)
                saved_errno = errno;
        }
        freeaddrinfo(results);
        /* Port in use is final; only a missing IPv6 stack falls back. */
        if (fd == -1 && saved_errno != EAFNOSUPPORT && saved_errno != EADDRNOTAVAIL)
            break;
    }
    if (fd == -1)
        errno = saved_errno;
    return fd;
}

int net_listen_or_die(const char *host, const char *port, int backlog)
{
    char what[512];
    int gai_error = 0;
    int fd = net_listen(host, port, backlog, &gai_error);

    if (fd == NET_ERR_RESOLVE) {
        snprintf(what, sizeof what, "look up %s", host == NULL ? "*" : host);
        net_die(what, gai_strerror(gai_error));
    }
    if (fd == -1) {
        snprintf(what, sizeof what, "listen on %s port %s",
                 host == NULL ? "*" : host, port);
        net_die(what, strerror(errno));
    }
    return fd;
}

const char *net_format_ip(const struct sockaddr *addr, char *buf, size_t size)
{
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)addr;

    if (addr->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        /* An IPv4 client of a dual-stack socket: show it as 127.0.0.1,
         * not ::ffff:127.0.0.1. The last four bytes are the IPv4 address. */
        if (inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, (socklen_t)size) != NULL)
            return buf;
    } else if (addr->sa_family == AF_INET6) {
        if (inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)size) != NULL)
            return buf;
    } else if (addr->sa_family == AF_INET) {
        if (inet_ntop(AF_INET, &in4->sin_addr, buf, (socklen_t)size) != NULL)
            return buf;
    }
    snprintf(buf, size, "?");
    return buf;
}

const char *net_format_addr(const struct sockaddr *addr, char *buf, size_t size)
{
    char ip[NET_ADDR_STRLEN];
    unsigned port = 0;
    int bracket = 0;

    net_format_ip(addr, ip, sizeof ip);
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        port = ntohs(in6->sin6_port);
        bracket = !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
    } else if (addr->sa_family == AF_INET) {
        port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
    }
    snprintf(buf, size, bracket ? "[%s]:%u" : "%s:%u", ip, port);
    return buf;
}

const char *net_local_addr(int fd, char *buf, size_t size)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;

    if (getsockname(fd, (struct sockaddr *)&addr, &len) == -1)
        return NULL;
    return net_format_addr((struct sockaddr *)&addr, buf, size);
}

const char *net_peer_addr(int fd, char *buf, size_t size)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;

    if (getpeername(fd, (struct sockaddr *)&addr, &len) == -1)
        return NULL;
    return net_format_addr((struct sockaddr *)&addr, buf, size);
}

ssize_t net_write_all(int fd, const void *buf, size_t len)
{
    const char *next = buf;
    size_t bytes_left = len;

    while (bytes_left > 0) {
        ssize_t written = write(fd, next, bytes_left);
        if (written == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        next += written;
        bytes_left -= (size_t)written;
    }
    return (ssize_t)len;
}
