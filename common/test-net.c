/* test-net.c - unit tests of the kit's helper library, common/net.c.
 *
 * Build and run (from the kit's top folder; `make test` does it):
 *     cc -std=c11 -D_POSIX_C_SOURCE=200809L -Icommon \
 *        -o test-net common/test-net.c common/net.c && ./test-net
 *
 * A plain C program, no framework: one line "ok - NAME" or "not ok - NAME"
 * per check (a failed check adds "#" lines saying what was expected and
 * what came), and as the last line "N passed, N failed". Exit status 0 only
 * when no check failed. Sockets are on loopback only; every wait is bounded.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A backstop: a check that hangs ends the run instead of blocking make. */
#define RUN_TIME_LIMIT_SECONDS 30

/* More than a pipe holds (64 KiB on Linux), so writes block and get cut. */
#define PIPE_PAYLOAD_SIZE (1024 * 1024)

static int checks_passed, checks_failed;

/* ---- reporting ---------------------------------------------------------- */

/* Count one check and print its line. Returns CONDITION, so that a caller
 * can skip what depends on it. */
static int check(int condition, const char *name)
{
    printf("%s - %s\n", condition ? "ok" : "not ok", name);
    if (condition)
        checks_passed++;
    else
        checks_failed++;
    return condition;
}

/* check() that GOT equals EXPECTED; says both when it does not. */
static int check_int(long got, long expected, const char *name)
{
    if (check(got == expected, name))
        return 1;
    printf("#   expected %ld, got %ld\n", expected, got);
    return 0;
}

/* check() that string GOT equals EXPECTED; says both when it does not. */
static int check_string(const char *got, const char *expected, const char *name)
{
    if (check(got != NULL && strcmp(got, expected) == 0, name))
        return 1;
    printf("#   expected \"%s\", got %s%s%s\n", expected,
           got ? "\"" : "", got ? got : "NULL", got ? "\"" : "");
    return 0;
}

/* check() that a call returned -1 with errno EXPECTED_ERRNO. */
static int check_errno(long result, int saved_errno, int expected_errno, const char *name)
{
    if (check(result == -1 && saved_errno == expected_errno, name))
        return 1;
    printf("#   expected -1 with errno %s, got %ld with errno %s\n",
           strerror(expected_errno), result, strerror(saved_errno));
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* An IPv4 socket address for dotted IP and PORT. */
static struct sockaddr_in ipv4_address(const char *ip, unsigned short port)
{
    struct sockaddr_in addr;

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1)
        abort(); /* a typo in this file, not a failure of net.c */
    return addr;
}

/* An IPv6 socket address for IP (text form) and PORT. */
static struct sockaddr_in6 ipv6_address(const char *ip, unsigned short port)
{
    struct sockaddr_in6 addr;

    memset(&addr, 0, sizeof addr);
    addr.sin6_family = AF_INET6;
    addr.sin6_port = htons(port);
    if (inet_pton(AF_INET6, ip, &addr.sin6_addr) != 1)
        abort();
    return addr;
}

/* The number after the last ':' of an "ADDRESS:PORT" text; 0 if none. */
static int port_of(const char *address_text)
{
    const char *colon = strrchr(address_text, ':');

    return colon == NULL ? 0 : atoi(colon + 1);
}

/* Sleep MILLISECONDS, however often a signal interrupts. */
static void sleep_ms(long milliseconds)
{
    struct timespec left = { milliseconds / 1000, (milliseconds % 1000) * 1000000L };

    while (nanosleep(&left, &left) == -1 && errno == EINTR)
        ;
}

/* Run BODY in a child process with stderr going to a pipe. Puts what the
 * child wrote on stderr in STDERR_TEXT (SIZE bytes at most, NUL-ended).
 * Returns the child's wait() status, or -1 when it could not be run. */
static int run_in_child(void (*body)(void), char *stderr_text, size_t size)
{
    int pipe_fds[2], status;
    size_t used = 0;
    ssize_t got;
    pid_t child;

    if (pipe(pipe_fds) == -1)
        return -1;
    fflush(stdout); /* or the child would print our buffered lines again */
    child = fork();
    if (child == -1)
        return -1;
    if (child == 0) {
        close(pipe_fds[0]);
        if (dup2(pipe_fds[1], STDERR_FILENO) == -1)
            _exit(99);
        body();
        _exit(98); /* BODY was meant to exit by itself */
    }
    close(pipe_fds[1]);
    while (used + 1 < size &&
           (got = read(pipe_fds[0], stderr_text + used, size - 1 - used)) != 0) {
        if (got == -1) {
            if (errno == EINTR)
                continue;
            break;
        }
        used += (size_t)got;
    }
    stderr_text[used] = '\0';
    close(pipe_fds[0]);
    while (waitpid(child, &status, 0) == -1)
        if (errno != EINTR)
            return -1;
    return status;
}

/* ---- net_parse_port ----------------------------------------------------- */

static void test_parse_port(void)
{
    check_int(net_parse_port("80", 0), 80, "net_parse_port: \"80\" is 80");
    check_int(net_parse_port("1", 0), 1, "net_parse_port: \"1\" is 1");
    check_int(net_parse_port("65535", 0), 65535, "net_parse_port: \"65535\" is the largest port");
    check_int(net_parse_port("65536", 1), -1, "net_parse_port: \"65536\" is too large");
    check_int(net_parse_port("0", 0), -1, "net_parse_port: \"0\" is no client port");
    check_int(net_parse_port("0", 1), 0, "net_parse_port: \"0\" is a server's any-port");
    check_int(net_parse_port("007", 0), 7, "net_parse_port: \"007\" is 7 (leading zeros are decimal)");
    check_int(net_parse_port("", 1), -1, "net_parse_port: \"\" is refused");
    check_int(net_parse_port("+1", 1), -1, "net_parse_port: \"+1\" is refused (no sign)");
    check_int(net_parse_port("-1", 1), -1, "net_parse_port: \"-1\" is refused");
    check_int(net_parse_port(" 1", 1), -1, "net_parse_port: \" 1\" is refused (no spaces)");
    check_int(net_parse_port("1 ", 1), -1, "net_parse_port: \"1 \" is refused (no spaces)");
    check_int(net_parse_port("1x", 1), -1, "net_parse_port: \"1x\" is refused (digits only)");
    check_int(net_parse_port("0x50", 1), -1, "net_parse_port: \"0x50\" is refused (decimal only)");
    check_int(net_parse_port("http", 1), -1, "net_parse_port: \"http\" is refused (no service names)");
    check_int(net_parse_port("99999999999999999999999", 1), -1,
              "net_parse_port: a very long number is refused, not wrapped");
    check_int(net_parse_port("18446744073709551696", 1), -1,
              "net_parse_port: 2^64 + 80 is refused, not wrapped to 80");
}

/* ---- net_format_ip, net_format_addr ------------------------------------- */

static void test_format(void)
{
    char text[NET_ADDR_STRLEN];
    struct sockaddr_in v4 = ipv4_address("127.0.0.1", 5000);
    struct sockaddr_in6 v6 = ipv6_address("::1", 5000);
    struct sockaddr_in6 v6_long = ipv6_address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    struct sockaddr_in6 mapped = ipv6_address("::ffff:192.0.2.7", 80);
    struct sockaddr_in6 any6 = ipv6_address("::", 9000);
    struct sockaddr unknown;

    check_string(net_format_ip((struct sockaddr *)&v4, text, sizeof text), "127.0.0.1",
                 "net_format_ip: IPv4 is dotted");
    check_string(net_format_addr((struct sockaddr *)&v4, text, sizeof text), "127.0.0.1:5000",
                 "net_format_addr: IPv4 is IP:PORT");
    check_string(net_format_ip((struct sockaddr *)&v6, text, sizeof text), "::1",
                 "net_format_ip: IPv6 in its short form, no brackets");
    check_string(net_format_addr((struct sockaddr *)&v6, text, sizeof text), "[::1]:5000",
                 "net_format_addr: IPv6 in brackets, [IP]:PORT");
    check_string(net_format_addr((struct sockaddr *)&any6, text, sizeof text), "[::]:9000",
                 "net_format_addr: the IPv6 wildcard is [::]:PORT");
    check_string(net_format_addr((struct sockaddr *)&v6_long, text, sizeof text),
                 "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                 "net_format_addr: the longest IPv6 text and port fit NET_ADDR_STRLEN");
    check_string(net_format_ip((struct sockaddr *)&mapped, text, sizeof text), "192.0.2.7",
                 "net_format_ip: IPv4-mapped IPv6 is shown dotted");
    check_string(net_format_addr((struct sockaddr *)&mapped, text, sizeof text), "192.0.2.7:80",
                 "net_format_addr: IPv4-mapped IPv6 is IP:PORT, no brackets");

    memset(&unknown, 0, sizeof unknown);
    unknown.sa_family = AF_UNSPEC;
    check_string(net_format_ip(&unknown, text, sizeof text), "?",
                 "net_format_ip: an unknown family is \"?\"");
}

/* ---- net_write_all ------------------------------------------------------ */

static volatile sig_atomic_t interruptions;

static void count_interruption(int signo)
{
    (void)signo;
    interruptions++;
}

/* Read everything from FD until EOF into BUF (SIZE bytes at most).
 * Returns the byte count, or -1 with errno set. */
static ssize_t read_all(int fd, unsigned char *buf, size_t size)
{
    size_t used = 0;

    while (used < size) {
        ssize_t got = read(fd, buf + used, size - used);
        if (got == 0)
            break;
        if (got == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        used += (size_t)got;
    }
    return (ssize_t)used;
}

/* The slow reader's side: read the pipe in small bites and now and then
 * signal the writer twice while the pipe is full: the first signal cuts its
 * blocked write() short, the second makes the next write(), which has
 * written nothing yet, fail with EINTR. Sends back what it read on
 * REPLY_FD, then exits. */
static _Noreturn void slow_reader(int read_fd, int reply_fd, pid_t writer)
{
    static unsigned char received[PIPE_PAYLOAD_SIZE];
    size_t used = 0;

    for (int bites = 0; used < sizeof received && bites < 100000; bites++) {
        ssize_t got;

        if (bites % 8 == 0) {
            kill(writer, SIGUSR1);
            sleep_ms(1);
            kill(writer, SIGUSR1);
            sleep_ms(1);
        }
        got = read(read_fd, received + used, 4096);
        if (got <= 0)
            break;
        used += (size_t)got;
    }
    if (net_write_all(reply_fd, received, used) == -1)
        _exit(1);
    _exit(0);
}

static void test_write_all(void)
{
    static unsigned char payload[PIPE_PAYLOAD_SIZE], echoed[PIPE_PAYLOAD_SIZE];
    struct sigaction action, old_action;
    int data_pipe[2], reply_pipe[2], status;
    ssize_t written, echoed_size;
    int saved_errno;
    pid_t child;

    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (unsigned char)(i * 7 + i / 251); /* NULs included */

    /* A signal handler without SA_RESTART: write() returns early. */
    memset(&action, 0, sizeof action);
    action.sa_handler = count_interruption;
    sigemptyset(&action.sa_mask);
    if (!check(pipe(data_pipe) == 0 && pipe(reply_pipe) == 0 &&
               sigaction(SIGUSR1, &action, &old_action) == 0,
               "net_write_all: set up pipes and SIGUSR1"))
        return;
    fflush(stdout);
    child = fork();
    if (child == 0) {
        close(data_pipe[1]);
        close(reply_pipe[0]);
        slow_reader(data_pipe[0], reply_pipe[1], getppid());
    }
    if (!check(child != -1, "net_write_all: fork the slow reader"))
        return;
    close(data_pipe[0]);
    close(reply_pipe[1]);

    written = net_write_all(data_pipe[1], payload, sizeof payload);
    saved_errno = errno;
    close(data_pipe[1]);
    echoed_size = read_all(reply_pipe[0], echoed, sizeof echoed);
    close(reply_pipe[0]);
    waitpid(child, &status, 0);
    sigaction(SIGUSR1, &old_action, NULL);

    if (!check_int(written, PIPE_PAYLOAD_SIZE,
                   "net_write_all: 1 MiB into a pipe, through short writes and EINTR, returns 1 MiB"))
        printf("#   (errno %s)\n", strerror(saved_errno));
    check(echoed_size == PIPE_PAYLOAD_SIZE && memcmp(payload, echoed, sizeof payload) == 0,
          "net_write_all: the reader gets every byte, in order");
    printf("#   (the writer was interrupted %d times)\n", (int)interruptions);

    /* With SIGPIPE ignored (net_init()), a closed reader is EPIPE, not death. */
    if (!check(pipe(data_pipe) == 0, "net_write_all: a second pipe"))
        return;
    close(data_pipe[0]);
    written = net_write_all(data_pipe[1], "x", 1);
    check_errno(written, errno, EPIPE, "net_write_all: a pipe nobody reads is -1 with EPIPE");
    close(data_pipe[1]);

    check_int(net_write_all(STDOUT_FILENO, "", 0), 0, "net_write_all: zero bytes is 0");
}

/* ---- net_connect -------------------------------------------------------- */

static void test_connect(void)
{
    struct sockaddr_in addr = ipv4_address("127.0.0.1", 0);
    socklen_t addr_len = sizeof addr;
    char port[16];
    int holder, fd, gai_error = 0;

    /* A port that is bound but not listening refuses for sure, and nothing
     * else can take it while we hold it. */
    holder = socket(AF_INET, SOCK_STREAM, 0);
    if (!check(holder != -1 && bind(holder, (struct sockaddr *)&addr, sizeof addr) == 0 &&
               getsockname(holder, (struct sockaddr *)&addr, &addr_len) == 0,
               "net_connect: hold a port on 127.0.0.1 without listening"))
        return;
    snprintf(port, sizeof port, "%u", (unsigned)ntohs(addr.sin_port));
    errno = 0;
    fd = net_connect("127.0.0.1", port, &gai_error);
    check_errno(fd, errno, ECONNREFUSED,
                "net_connect: a refused port on 127.0.0.1 is -1 with ECONNREFUSED");
    if (fd >= 0)
        close(fd);
    close(holder);

    gai_error = 0;
    fd = net_connect("nosuch.invalid", "80", &gai_error);
    if (!check_int(fd, NET_ERR_RESOLVE, "net_connect: nosuch.invalid is NET_ERR_RESOLVE"))
        return;
    check(gai_error != 0 && gai_strerror(gai_error) != NULL,
          "net_connect: ... with the getaddrinfo() code set");
}

/* ---- net_listen, net_local_addr, net_peer_addr -------------------------- */

static void test_listen(void)
{
    char listen_text[NET_ADDR_STRLEN], peer_text[NET_ADDR_STRLEN];
    char local_text[NET_ADDR_STRLEN], client_side[NET_ADDR_STRLEN], port[16];
    struct sockaddr_storage client_addr;
    socklen_t client_addr_len = sizeof client_addr;
    int listener, second, client, accepted, gai_error = 0;

    listener = net_listen(NULL, "0", 5, &gai_error);
    if (!check(listener >= 0, "net_listen: NULL host, port \"0\" gives a socket"))
        return;
    if (!check(net_local_addr(listener, listen_text, sizeof listen_text) != NULL,
               "net_local_addr: works on the listening socket"))
        return;
    if (!check((strncmp(listen_text, "[::]:", 5) == 0 || strncmp(listen_text, "0.0.0.0:", 8) == 0) &&
                   port_of(listen_text) > 0,
               "net_local_addr: every address, a real port: [::]:N or 0.0.0.0:N, N > 0"))
        printf("#   got \"%s\"\n", listen_text);

    snprintf(port, sizeof port, "%d", port_of(listen_text));
    errno = 0;
    second = net_listen(NULL, port, 5, &gai_error);
    check_errno(second, errno, EADDRINUSE, "net_listen: a port in use is -1 with EADDRINUSE");
    if (second >= 0)
        close(second);

    /* An IPv4 client of the dual-stack socket. */
    client = net_connect("127.0.0.1", port, &gai_error);
    if (!check(client >= 0, "net_connect: 127.0.0.1 reaches net_listen(NULL, ...)"))
        goto close_listener;
    accepted = accept(listener, (struct sockaddr *)&client_addr, &client_addr_len);
    if (check(accepted >= 0, "net_listen: accept() takes the IPv4 client")) {
        net_local_addr(client, client_side, sizeof client_side);
        check_string(net_format_addr((struct sockaddr *)&client_addr, peer_text, sizeof peer_text),
                     client_side, "net_format_addr: the accepted IPv4 client is 127.0.0.1:PORT");
        snprintf(local_text, sizeof local_text, "127.0.0.1:%s", port);
        check_string(net_peer_addr(client, peer_text, sizeof peer_text), local_text,
                     "net_peer_addr: the client's peer is 127.0.0.1:PORT");
        close(accepted);
    }
    close(client);

    /* An IPv6 client, where the host has IPv6. */
    client = net_connect("::1", port, &gai_error);
    if (client >= 0) {
        client_addr_len = sizeof client_addr;
        accepted = accept(listener, (struct sockaddr *)&client_addr, &client_addr_len);
        if (check(accepted >= 0, "net_listen: accept() takes the IPv6 client ::1")) {
            net_local_addr(client, client_side, sizeof client_side);
            check(strncmp(client_side, "[::1]:", 6) == 0,
                  "net_local_addr: an IPv6 client's side is [::1]:PORT");
            check_string(net_format_addr((struct sockaddr *)&client_addr, peer_text,
                                         sizeof peer_text),
                         client_side, "net_format_addr: the accepted IPv6 client is [::1]:PORT");
            close(accepted);
        }
        close(client);
    } else {
        printf("# no IPv6 on this host: the ::1 checks are left out\n");
    }

close_listener:
    close(listener);

    listener = net_listen("127.0.0.1", "0", 5, &gai_error);
    if (check(listener >= 0, "net_listen: host 127.0.0.1, port \"0\" gives a socket")) {
        net_local_addr(listener, listen_text, sizeof listen_text);
        check(strncmp(listen_text, "127.0.0.1:", 10) == 0 && port_of(listen_text) > 0,
              "net_local_addr: it is 127.0.0.1:N, N > 0");
        close(listener);
    }
    check_int(net_listen("nosuch.invalid", "0", 5, &gai_error), NET_ERR_RESOLVE,
              "net_listen: nosuch.invalid is NET_ERR_RESOLVE");
}

/* ---- the failure line, exit statuses and stop signals ------------------- */

static void die_with_reason(void)
{
    net_die("connect to example port 9", "Connection refused");
}

static void refuse_usage(void)
{
    net_usage_error("unknown option: -x", "Usage: test-net\n");
}

/* In a child: a stop signal must set the flag, not end the process. */
static void catch_and_raise(int signo)
{
    if (net_catch_stop_signals() == -1)
        _exit(2);
    raise(signo);
    _exit(net_stop_requested == 1 ? 0 : 3);
}

static void raise_sigterm(void)
{
    catch_and_raise(SIGTERM);
}

static void raise_sigint(void)
{
    catch_and_raise(SIGINT);
}

/* check() that a run_in_child() STATUS is "exited 0"; says what it was. */
static int check_child_exit_0(int status, const char *name)
{
    if (check(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, name))
        return 1;
    if (status != -1 && WIFSIGNALED(status))
        printf("#   the child was killed by signal %d\n", WTERMSIG(status));
    else
        printf("#   the child's exit status was %d\n", status == -1 ? -1 : WEXITSTATUS(status));
    return 0;
}

static void test_messages_and_signals(void)
{
    char stderr_text[512];
    int status;

    status = run_in_child(die_with_reason, stderr_text, sizeof stderr_text);
    check(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1,
          "net_die: exits 1");
    check_string(stderr_text, "test-net: connect to example port 9: Connection refused\n",
                 "net_die: one stderr line, PROGRAM: WHAT: REASON");

    status = run_in_child(refuse_usage, stderr_text, sizeof stderr_text);
    check(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == NET_EXIT_USAGE,
          "net_usage_error: exits 2");
    check_string(stderr_text, "test-net: unknown option: -x\nUsage: test-net\n",
                 "net_usage_error: the problem, then the usage, on stderr");

    status = run_in_child(raise_sigterm, stderr_text, sizeof stderr_text);
    check_child_exit_0(status, "net_catch_stop_signals: SIGTERM sets net_stop_requested, kills nothing");
    status = run_in_child(raise_sigint, stderr_text, sizeof stderr_text);
    check_child_exit_0(status, "net_catch_stop_signals: SIGINT sets net_stop_requested, kills nothing");
}

int main(void)
{
    net_init("test-net");
    alarm(RUN_TIME_LIMIT_SECONDS);

    check_string(net_program(), "test-net", "net_init: remembers the program name");
    test_parse_port();
    test_format();
    test_write_all();
    test_connect();
    test_listen();
    test_messages_and_signals();

    printf("%d passed, %d failed\n", checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}
