/* net.h - the lab kit's small socket helper library.
 *
 * What every exercise needs and no slide is about: resolving names,
 * the connect and listen loops, strict port parsing, printing addresses,
 * a full-write loop, the "PROGRAM: WHAT: REASON" error line and signal
 * setup. The lesson of each slide (the select() loop, EAGAIN handling)
 * stays in the exercise's own file.
 *
 * Two layers, as in CS:APP's csapp.c: helpers return -1 with errno set,
 * or NET_ERR_RESOLVE when getaddrinfo() failed (it does not set errno);
 * the *_or_die wrappers print one error line and exit 1.
 */
#ifndef KIT_NET_H
#define KIT_NET_H

#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Returned by net_connect() and net_listen() when the name did not resolve. */
#define NET_ERR_RESOLVE (-2)

/* Room for "[ipv6-address]:65535" and its terminating NUL. */
#define NET_ADDR_STRLEN 64

/* Exit status for a wrong command line (the contract's G2). */
#define NET_EXIT_USAGE 2

/* Set by SIGINT and SIGTERM once net_catch_stop_signals() has run. */
extern volatile sig_atomic_t net_stop_requested;

/* Start-up every program shares: remember PROGRAM for error lines, ignore
 * SIGPIPE (a write to a closed peer then fails with EPIPE instead of killing
 * the process) and make stdout line-buffered, so each line reaches a pipe
 * or file when it is printed. */
void net_init(const char *program);

/* The name given to net_init(), for messages. */
const char *net_program(void);

/* Make SIGINT and SIGTERM set net_stop_requested. No SA_RESTART: a blocking
 * accept() or select() returns EINTR so the caller can notice the flag.
 * Returns 0, or -1 with errno set. */
int net_catch_stop_signals(void);

/* Print "PROGRAM: WHAT: REASON" on stderr. */
void net_error(const char *what, const char *reason);

/* net_error(), then exit(1). */
_Noreturn void net_die(const char *what, const char *reason);

/* Print "PROGRAM: PROBLEM" and USAGE on stderr, then exit(NET_EXIT_USAGE). */
_Noreturn void net_usage_error(const char *problem, const char *usage);

/* Whether ARG asks for help: "-h" or "--help". */
int net_is_help(const char *arg);

/* Print USAGE on stdout and exit 0 (G2: help is a request, not a mistake);
 * exit 1 with an error line when stdout cannot be written. */
_Noreturn void net_show_help(const char *usage);

/* Parse TEXT as a port: decimal digits only, 0 to 65535, no sign, no spaces.
 * Port 0 is accepted only when ALLOW_ZERO (a server's "any free port").
 * Returns the port, or -1 when TEXT is not a valid port. */
int net_parse_port(const char *text, int allow_zero);

/* Resolve HOST and PORT with getaddrinfo() and try every address in turn
 * until one connects. Returns a connected stream socket; -1 with errno set
 * from the last failed attempt; or NET_ERR_RESOLVE with *gai_error set to the
 * getaddrinfo() code (pass it to gai_strerror()). */
int net_connect(const char *host, const char *port, int *gai_error);

/* net_connect(), or exit 1 with "PROGRAM: connect to HOST port PORT: REASON"
 * ("PROGRAM: look up HOST: REASON" when the name does not resolve). */
int net_connect_or_die(const char *host, const char *port);

/* A listening TCP socket with SO_REUSEADDR and the given BACKLOG.
 * HOST NULL means every local address: one dual-stack IPv6 socket that also
 * accepts IPv4 where the host has IPv6, else IPv4 only. Otherwise every
 * address of HOST is tried in turn until one binds.
 * Returns the socket; -1 with errno set; or NET_ERR_RESOLVE as above. */
int net_listen(const char *host, const char *port, int backlog, int *gai_error);

/* net_listen(), or exit 1 with "PROGRAM: listen on HOST port PORT: REASON". */
int net_listen_or_die(const char *host, const char *port, int backlog);

/* Write ADDR's IP in its usual text form into BUF: "127.0.0.1", "::1";
 * an IPv4-mapped IPv6 address (::ffff:127.0.0.1) is shown dotted.
 * Returns BUF ("?" in it for an unknown family). */
const char *net_format_ip(const struct sockaddr *addr, char *buf, size_t size);

/* As net_format_ip(), with the port: "127.0.0.1:5000", "[::1]:5000". */
const char *net_format_addr(const struct sockaddr *addr, char *buf, size_t size);

/* Format the local address of socket FD (as net_format_addr()).
 * Returns BUF, or NULL with errno set. */
const char *net_local_addr(int fd, char *buf, size_t size);

/* Format the peer address of socket FD (as net_format_addr()).
 * Returns BUF, or NULL with errno set. */
const char *net_peer_addr(int fd, char *buf, size_t size);

/* Write all LEN bytes of BUF to the blocking descriptor FD, restarting after
 * EINTR and short writes (Stevens' writen). Returns LEN, or -1 with errno
 * set. */
ssize_t net_write_all(int fd, const void *buf, size_t len);

#endif
