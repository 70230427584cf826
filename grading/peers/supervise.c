#define _GNU_SOURCE /* prctl(), setgroups(), signalfd(), NSIG: this peer is Linux-only */
/* supervise.c - run an untrusted program under limits; leave nothing behind.
 *
 * The grader runs every student program (and every build) through this.
 * supervise starts a small init of its own (this same program, "--init"),
 * which starts PROGRAM in a session of its own and, once PROGRAM has ended
 * (or when told to), kills everything PROGRAM left running.
 *
 * With --sandbox, the init runs in a bubblewrap sandbox as its pid 1: a
 * PID namespace of its own, so that everything PROGRAM starts dies with the
 * init, and whatever mounts and namespaces the options file gives. Without
 * it, the init runs beside supervise as a "child subreaper" (orphaned
 * descendants come to it) and kills its children until none is left.
 *
 *   supervise --> [bwrap -->] init --> PROGRAM
 *
 * supervise and the init talk over a socket pair: supervise passes on stop
 * signals and the timeout, the init answers with PROGRAM's wait status (a
 * signal that killed PROGRAM stays visible through the sandbox).
 *
 * Usage: supervise [options] -- PROGRAM [ARG...]
 *
 * Exit status: PROGRAM's own, 128+N when a signal N killed it, 124 when it
 * timed out, 127 when it could not be started, 1 when supervise itself
 * failed, 2 for a bad command line. With --status FILE, one line says how
 * PROGRAM ended: "exited N", "killed by signal N (SIGNAME)" or
 * "timed out after S s".
 *
 * Signals: SIGTERM, SIGINT or SIGHUP to supervise (also SIGTERM sent by the
 * kernel when whoever started supervise dies) is passed on to PROGRAM alone,
 * so that a test sees how the program itself handles it; after --grace
 * seconds everything left is killed with SIGKILL.
 */
#include "net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: supervise [options] -- PROGRAM [ARG...]\n"
    "\n"
    "Run PROGRAM under limits, in a session of its own, and make sure that it\n"
    "and every process it started are dead when supervise exits.\n"
    "\n"
    "  --timeout SECONDS  wall-clock limit (decimals allowed, e.g. 2.5; 0 = none,\n"
    "                     the default): then SIGTERM to PROGRAM's process group,\n"
    "                     SIGKILL to everything after the grace period\n"
    "  --grace SECONDS    time between SIGTERM and SIGKILL (default 1)\n"
    "  --status FILE      write one line saying how PROGRAM ended: \"exited N\",\n"
    "                     \"killed by signal N (SIGNAME)\" or \"timed out after S s\"\n"
    "  --cpu SECONDS      CPU time limit (RLIMIT_CPU: SIGXCPU, then SIGKILL 1 s later)\n"
    "  --nproc N          process limit of PROGRAM's user (RLIMIT_NPROC)\n"
    "  --fsize BYTES      largest file PROGRAM may write (RLIMIT_FSIZE: SIGXFSZ)\n"
    "  --as BYTES         address-space limit (RLIMIT_AS)\n"
    "  --nofile N         descriptor limit (RLIMIT_NOFILE, soft and hard); at most\n"
    "                     the current hard limit unless run as root\n"
    "  --user USER        when run as root, run PROGRAM as USER (a name, or a\n"
    "                     number used as both uid and gid), without\n"
    "                     supplementary groups; ignored when not root\n"
    "  --chdir DIR        run PROGRAM in folder DIR\n"
    "  --cgroup DIR       put PROGRAM and all it starts in the control group DIR\n"
    "                     (a folder in /sys/fs/cgroup; may be given twice, for\n"
    "                     cgroup v1's pids and memory hierarchies)\n"
    "  --sandbox FILE     run PROGRAM in a bubblewrap sandbox: FILE holds bwrap's\n"
    "                     options, each ended by a NUL (bwrap --args); before\n"
    "                     them supervise binds its init, the sandbox's pid 1,\n"
    "                     at /run/supervise\n"
    "  -h, --help         show this help\n"
    "\n"
    "Core dumps are always off (RLIMIT_CORE 0). A later option overrides an\n"
    "earlier one. SIGTERM, SIGINT or SIGHUP to supervise is passed on to PROGRAM\n"
    "alone; whatever is left after the grace period is killed.\n"
    "\n"
    "Exit status: PROGRAM's; 128+N when signal N killed it; 124 when it timed\n"
    "out; 127 when it could not be started; 1 when supervise failed; 2 for a\n"
    "bad command line.\n";

/* What a usage error prints after the problem. */
static const char short_usage[] =
    "Usage: supervise [options] -- PROGRAM [ARG...]\n"
    "Try 'supervise --help' for more information.\n";

#define NS_PER_SECOND 1000000000LL
#define EXIT_TIMED_OUT 124
#define EXIT_CANNOT_RUN 127
/* Longest --timeout or --grace: long enough for anything, and small enough
 * that nanoseconds fit a long long with room to add. */
#define MAX_SECONDS 10000000LL
/* How long the final clean-up may keep killing and reaping before it gives
 * up, so that neither supervise nor its init can hang. */
#define CLEANUP_LIMIT_NS (5 * NS_PER_SECOND)
/* The clean-up looks again at least this often while children remain. */
#define CLEANUP_RETRY_MS 20
/* Where the sandbox sees the init (this program, bound read-only). */
#define SANDBOX_INIT "/run/supervise"
#define MAX_CGROUPS 4

/* Orders supervise sends the init, one byte each. Any other byte is a
 * signal number to pass on to PROGRAM alone. */
#define ORDER_TERM_GROUP 'G' /* the timeout: SIGTERM to PROGRAM's process group */
#define ORDER_KILL_ALL 'K'   /* the grace period is over: kill everything, exit */

/* The resource limits supervise can set, in the order of the options. */
struct limit_option {
    const char *option;
    int resource;
};
static const struct limit_option limit_options[] = {
    { "--cpu", RLIMIT_CPU },     { "--nproc", RLIMIT_NPROC },
    { "--fsize", RLIMIT_FSIZE }, { "--as", RLIMIT_AS },
    { "--nofile", RLIMIT_NOFILE },
};
#define LIMIT_COUNT (sizeof limit_options / sizeof limit_options[0])

struct supervise_options {
    long long timeout_ns;          /* 0: no wall-clock limit */
    long long grace_ns;
    const char *status_path;       /* NULL: no status file */
    int limit_given[LIMIT_COUNT];
    rlim_t limit_value[LIMIT_COUNT];
    const char *user;              /* NULL: run as ourselves */
    const char *directory;         /* NULL: stay where we are */
    const char *cgroups[MAX_CGROUPS];
    int cgroup_count;
    const char *sandbox_options;   /* NULL: no sandbox */
    int init_fd;                   /* -1; else run as the init, told over this */
    char **command;                /* PROGRAM and its arguments */
};

/* What a child must do between fork() and exec(), all decided (and
 * checked where possible) in the parent, where errors can still exit 1. */
struct planned_limit {
    int resource;
    const char *option;   /* for error messages */
    struct rlimit value;
};
struct child_plan {
    int limit_count;
    struct planned_limit limits[LIMIT_COUNT + 1];  /* the options' and the core limit */
    int change_user;
    uid_t uid;
    gid_t gid;
    const char *directory;
    const char *cgroups[MAX_CGROUPS];
    int cgroup_count;
    int keep_fds[2];      /* descriptors the child keeps open across exec */
    char **command;
};

/* supervise's view of its child (bwrap, or the init) and of PROGRAM. */
struct supervision {
    pid_t child;            /* bwrap or the init; also its process group */
    int child_ended;
    int child_status;       /* from waitpid(), once child_ended */
    int control;            /* our end of the socket to the init; -1 once closed */
    int program_ended;      /* the init sent PROGRAM's wait status */
    int program_status;
    int timed_out;
    long long timeout_at;   /* monotonic ns; 0: none (or already fired) */
    long long kill_at;      /* monotonic ns of ORDER_KILL_ALL; 0: none due */
    long long give_up_at;   /* monotonic ns of the last resort SIGKILL; 0: none */
    long long grace_ns;
    int wait_status;        /* how it all ended: PROGRAM's, or the child's */
};

/* ---- the command line ---------------------------------------------------- */

/* Report PROBLEM about OPTION's VALUE as a usage error (exit 2). */
static _Noreturn void bad_value(const char *option, const char *value, const char *why)
{
    char problem[256];

    snprintf(problem, sizeof problem, "bad value for %s: '%s' (%s)", option, value, why);
    net_usage_error(problem, short_usage);
}

/* Parse TEXT, digits only, as a whole number of at most MAX.
 * Returns 0 and stores it in *VALUE, or -1. */
static int parse_whole(const char *text, unsigned long long max, unsigned long long *value)
{
    unsigned long long number = 0;

    if (*text == '\0')
        return -1;
    for (const char *p = text; *p != '\0'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (*p < '0' || *p > '9' || number > (max - digit) / 10)
            return -1;
        number = number * 10 + digit;
    }
    *value = number;
    return 0;
}

/* Parse TEXT as seconds, "2" or "2.5", into nanoseconds. Integer arithmetic,
 * so "0.1" is exactly 100 ms and no locale changes the decimal point.
 * Returns 0 and stores it in *NS, or -1. */
static int parse_seconds(const char *text, long long *ns)
{
    unsigned long long whole, fraction = 0;
    char whole_text[16];
    const char *dot = strchr(text, '.');
    size_t whole_len = dot == NULL ? strlen(text) : (size_t)(dot - text);
    long long scale = NS_PER_SECOND;

    if (whole_len == 0 || whole_len >= sizeof whole_text)
        return -1;
    memcpy(whole_text, text, whole_len);
    whole_text[whole_len] = '\0';
    if (parse_whole(whole_text, (unsigned long long)MAX_SECONDS, &whole) == -1)
        return -1;
    if (dot != NULL) {
        /* One to nine decimals: nanoseconds are as fine as clocks go. */
        if (dot[1] == '\0' || strlen(dot + 1) > 9)
            return -1;
        for (const char *p = dot + 1; *p != '\0'; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            scale /= 10;
            fraction += (unsigned long long)(*p - '0') * (unsigned long long)scale;
        }
    }
    *ns = (long long)whole * NS_PER_SECOND + (long long)fraction;
    return 0;
}

/* If NAME is one of the resource-limit options, parse VALUE into OPTIONS
 * and return 1; otherwise return 0. */
static int parse_limit_option(const char *name, const char *value,
                              struct supervise_options *options)
{
    for (size_t i = 0; i < LIMIT_COUNT; i++) {
        unsigned long long number;

        if (strcmp(name, limit_options[i].option) != 0)
            continue;
        /* RLIM_INFINITY is the largest rlim_t: a limit must stay below it. */
        if (parse_whole(value, (unsigned long long)RLIM_INFINITY - 2, &number) == -1)
            bad_value(name, value, "expected a whole number");
        options->limit_given[i] = 1;
        options->limit_value[i] = (rlim_t)number;
        return 1;
    }
    return 0;
}

/* Fill OPTIONS from the command line. Prints usage and exits 0 for --help,
 * exits 2 for anything wrong. */
static void parse_args(int argc, char *argv[], struct supervise_options *options)
{
    char problem[256];
    int i;

    memset(options, 0, sizeof *options);
    options->grace_ns = NS_PER_SECOND;
    options->init_fd = -1;
    for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
        const char *name = argv[i], *value = argv[i + 1];
        unsigned long long number;

        if (strcmp(name, "--") == 0) {
            i++;
            break;
        }
        if (net_is_help(name))
            net_show_help(usage_text);
        if (value == NULL) { /* argv[argc] is NULL */
            snprintf(problem, sizeof problem, "%s: unknown option or missing value", name);
            net_usage_error(problem, short_usage);
        }
        if (strcmp(name, "--timeout") == 0) {
            if (parse_seconds(value, &options->timeout_ns) == -1)
                bad_value(name, value, "expected seconds, e.g. 10 or 2.5");
        } else if (strcmp(name, "--grace") == 0) {
            if (parse_seconds(value, &options->grace_ns) == -1)
                bad_value(name, value, "expected seconds, e.g. 1 or 0.5");
        } else if (strcmp(name, "--status") == 0) {
            options->status_path = value;
        } else if (strcmp(name, "--user") == 0) {
            options->user = value;
        } else if (strcmp(name, "--chdir") == 0) {
            options->directory = value;
        } else if (strcmp(name, "--cgroup") == 0) {
            if (options->cgroup_count == MAX_CGROUPS)
                bad_value(name, value, "at most 4 control groups");
            options->cgroups[options->cgroup_count++] = value;
        } else if (strcmp(name, "--sandbox") == 0) {
            options->sandbox_options = value;
        } else if (strcmp(name, "--init") == 0) {
            /* Internal: how supervise starts its init (see the top). */
            if (parse_whole(value, 1000000, &number) == -1)
                bad_value(name, value, "expected a descriptor");
            options->init_fd = (int)number;
        } else if (!parse_limit_option(name, value, options)) {
            snprintf(problem, sizeof problem, "unknown option: %s", name);
            net_usage_error(problem, short_usage);
        }
    }
    if (i >= argc)
        net_usage_error("no PROGRAM to run", short_usage);
    options->command = &argv[i];
}

/* ---- preparing a child, in the parent ------------------------------------ */

/* Work out the rlimit for limit option I. Without root, a hard limit can
 * only go down, so a value above the current hard limit is an error here,
 * before anything has started, rather than a failed setrlimit() later. */
static struct rlimit plan_limit(size_t i, rlim_t value, int is_root)
{
    struct rlimit current, wanted = { value, value };
    char what[64], reason[128];

    if (getrlimit(limit_options[i].resource, &current) == -1)
        net_die("getrlimit", strerror(errno));
    if (!is_root && current.rlim_max != RLIM_INFINITY && value > current.rlim_max) {
        snprintf(what, sizeof what, "%s %llu", limit_options[i].option,
                 (unsigned long long)value);
        snprintf(reason, sizeof reason, "above the hard limit %llu (only root may raise it)",
                 (unsigned long long)current.rlim_max);
        net_die(what, reason);
    }
    /* CPU: the soft limit sends SIGXCPU, which names the cause in the
     * status line; the hard limit one second later is SIGKILL, for a
     * program that catches SIGXCPU. Where a low hard limit leaves no room
     * for that second, soft and hard are the same (SIGKILL at once). */
    if (limit_options[i].resource == RLIMIT_CPU &&
        (is_root || current.rlim_max == RLIM_INFINITY || value < current.rlim_max))
        wanted.rlim_max = value + 1;
    return wanted;
}

/* Look up USER (a name, or a number for both uid and gid) into PLAN.
 * Exits 1 for a name that does not exist. */
static void plan_user(const char *user, struct child_plan *plan)
{
    unsigned long long number;
    struct passwd *account;
    char what[128];

    plan->change_user = 1;
    if (parse_whole(user, 0x7fffffff, &number) == 0) {
        plan->uid = (uid_t)number;
        plan->gid = (gid_t)number;
        return;
    }
    errno = 0;
    account = getpwnam(user);
    if (account == NULL) {
        snprintf(what, sizeof what, "look up user %s", user);
        net_die(what, errno != 0 ? strerror(errno) : "no such user");
    }
    plan->uid = account->pw_uid;
    plan->gid = account->pw_gid;
}

/* Fill PLAN with every limit to set (the core limit and the options'). */
static void plan_limits(const struct supervise_options *options, struct child_plan *plan)
{
    int is_root = geteuid() == 0;

    /* A crashing student program must not fill the disk with core files. */
    plan->limits[plan->limit_count++] =
        (struct planned_limit){ RLIMIT_CORE, "core-dump limit", { 0, 0 } };
    for (size_t i = 0; i < LIMIT_COUNT; i++) {
        if (!options->limit_given[i])
            continue;
        plan->limits[plan->limit_count++] = (struct planned_limit){
            limit_options[i].resource, limit_options[i].option,
            plan_limit(i, options->limit_value[i], is_root),
        };
    }
}

/* Open the --status file now, so that a path that cannot be written fails
 * before PROGRAM runs. Close-on-exec: PROGRAM must not inherit it.
 * Returns the descriptor, or -1 when there is no status file. */
static int open_status_file(const char *path)
{
    int fd;
    char what[512];

    if (path == NULL)
        return -1;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        snprintf(what, sizeof what, "open status file %s", path);
        net_die(what, strerror(errno));
    }
    return fd;
}

/* ---- a child, between fork() and exec() ------------------------------------ */

/* Report WHAT and errno's reason, then end the child with 127, the shell's
 * "could not run" status. _exit(): the parent's stdio buffers are not ours
 * to flush. */
static _Noreturn void child_fail(const char *what)
{
    net_error(what, strerror(errno));
    _exit(EXIT_CANNOT_RUN);
}

/* Mark every descriptor from 3 up close-on-exec, so that a child inherits
 * only stdin, stdout and stderr (a test's pipes and sockets stay out of
 * reach). /proc/self/fd lists the open ones: looping up to the descriptor
 * limit would take a million fcntl() calls where that limit is high.
 * Marking rather than closing keeps the listing's own descriptor valid
 * while it is read. */
static void close_inherited_descriptors(void)
{
    DIR *listing = opendir("/proc/self/fd");
    struct dirent *entry;

    if (listing == NULL)
        child_fail("list open descriptors in /proc/self/fd");
    for (;;) {
        char *end;
        long fd;

        errno = 0; /* readdir() returns NULL at the end and on errors alike */
        entry = readdir(listing);
        if (entry == NULL && errno != 0)
            child_fail("list open descriptors in /proc/self/fd");
        if (entry == NULL)
            break;
        fd = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || end == entry->d_name || fd < 3 || fd == dirfd(listing))
            continue; /* ".", "..", the standard three, or the listing */
        if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) == -1)
            child_fail("mark a descriptor close-on-exec");
    }
    if (closedir(listing) == -1)
        child_fail("close /proc/self/fd");
}

/* Move the calling process into each control group of PLAN: what it
 * starts later stays there, whatever it does. */
static void join_cgroups(const struct child_plan *plan)
{
    char path[512], pid_text[32], what[600];

    for (int i = 0; i < plan->cgroup_count; i++) {
        int fd, len = snprintf(pid_text, sizeof pid_text, "%ld\n", (long)getpid());

        snprintf(path, sizeof path, "%s/cgroup.procs", plan->cgroups[i]);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd == -1 || write(fd, pid_text, (size_t)len) != len || close(fd) == -1) {
            snprintf(what, sizeof what, "join control group %s", plan->cgroups[i]);
            child_fail(what);
        }
    }
}

/* Give up root for the planned user: supplementary groups first, then the
 * group, then the user, since after setuid() the others are not allowed. */
static void drop_privileges(const struct child_plan *plan)
{
    if (setgroups(0, NULL) == -1)
        child_fail("drop supplementary groups");
    if (setgid(plan->gid) == -1)
        child_fail("change group");
    if (setuid(plan->uid) == -1)
        child_fail("change user");
}

/* Die with PARENT: if it is killed with SIGKILL and cannot clean up, the
 * kernel still kills this child. Set after the user change, which clears
 * it. */
static void die_with(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
        child_fail("set the parent-death signal");
    /* The parent may have died before prctl(): then no signal would come. */
    if (getppid() != parent)
        _exit(EXIT_CANNOT_RUN);
}

/* Give PROGRAM the signal state a freshly started program expects: default
 * actions (an ignored SIGPIPE or SIGINT would otherwise be inherited
 * through exec) and nothing blocked. */
static void restore_signals(void)
{
    struct sigaction default_action;
    sigset_t nothing;

    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    for (int signo = 1; signo < NSIG; signo++) {
        /* EINVAL: SIGKILL, SIGSTOP and the C library's own signals,
         * which cannot be changed; nothing to restore there. */
        if (sigaction(signo, &default_action, NULL) == -1 && errno != EINVAL)
            child_fail("restore a signal's default action");
    }
    sigemptyset(&nothing);
    if (sigprocmask(SIG_SETMASK, &nothing, NULL) == -1)
        child_fail("unblock signals");
}

/* A child, right after fork(): set its stage as PLAN says and exec PLAN's
 * command. Never returns. */
static _Noreturn void exec_child(const struct child_plan *plan, pid_t parent)
{
    char what[512];

    /* A session (and process group) of its own: the whole group can be
     * signalled at once, and the terminal's Ctrl-C does not reach it. */
    if (setsid() == -1)
        child_fail("start a new session");
    join_cgroups(plan);
    close_inherited_descriptors();
    for (int i = 0; i < 2; i++) {
        if (plan->keep_fds[i] >= 0 && fcntl(plan->keep_fds[i], F_SETFD, 0) == -1)
            child_fail("keep a descriptor open");
    }
    for (int i = 0; i < plan->limit_count; i++) {
        const struct planned_limit *limit = &plan->limits[i];

        if (setrlimit(limit->resource, &limit->value) == -1) {
            /* Root, too, may lack the capability to raise a hard limit. */
            snprintf(what, sizeof what, "set %s %llu", limit->option,
                     (unsigned long long)limit->value.rlim_cur);
            child_fail(what);
        }
    }
    if (plan->change_user)
        drop_privileges(plan);
    if (plan->directory != NULL && chdir(plan->directory) == -1) {
        snprintf(what, sizeof what, "change folder to %s", plan->directory);
        child_fail(what);
    }
    die_with(parent);
    restore_signals();
    execvp(plan->command[0], plan->command);
    snprintf(what, sizeof what, "cannot run %s", plan->command[0]);
    child_fail(what);
}

/* Nanoseconds on the monotonic clock, which no clock change moves. */
static long long now_ns(void)
{
    struct timespec now;

    if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
        net_die("read the monotonic clock", strerror(errno));
    return (long long)now.tv_sec * NS_PER_SECOND + now.tv_nsec;
}

/* ---- waiting: signals as a descriptor ------------------------------------ */

/* Block SIGNALS (COUNT of them) and return a descriptor that reads them
 * (signalfd), for poll() beside the control socket. Each gets its default
 * action first: an inherited SIG_IGN for SIGCHLD would make the kernel
 * reap children itself, and waitpid() would never see how they ended. */
static int signal_descriptor(const int *signals, size_t count)
{
    sigset_t set;
    int fd;

    sigemptyset(&set);
    for (size_t i = 0; i < count; i++) {
        sigaddset(&set, signals[i]);
        if (signal(signals[i], SIG_DFL) == SIG_ERR)
            net_die("reset a signal's action", strerror(errno));
    }
    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
        net_die("block signals", strerror(errno));
    fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd == -1)
        net_die("read signals from a descriptor", strerror(errno));
    return fd;
}

/* Milliseconds from now until monotonic DEADLINE (ns), for poll(); -1
 * (wait for ever) when DEADLINE is 0. */
static int ms_until(long long deadline)
{
    long long remaining;

    if (deadline == 0)
        return -1;
    remaining = deadline - now_ns();
    if (remaining <= 0)
        return 0;
    return (int)((remaining + 999999) / 1000000);
}

/* The earliest of the deadlines A, B and C that are set (not 0). */
static long long earliest(long long a, long long b, long long c)
{
    long long times[3] = { a, b, c }, first = 0;

    for (int i = 0; i < 3; i++) {
        if (times[i] != 0 && (first == 0 || times[i] < first))
            first = times[i];
    }
    return first;
}

/* ---- the init: PROGRAM's parent -------------------------------------------- */

/* Reap every child of the init that has ended; when PROGRAM is one, set
 * *ENDED and store its wait status in *STATUS. Returns 1 while children
 * remain, 0 when none does. */
static int reap_children(pid_t program, int *ended, int *status)
{
    for (;;) {
        int wait_status;
        pid_t pid = waitpid(-1, &wait_status, WNOHANG);

        if (pid > 0) {
            if (pid == program) {
                *ended = 1;
                *status = wait_status;
            }
            continue;
        }
        if (pid == 0)
            return 1; /* children remain, all still running */
        if (errno == ECHILD)
            return 0;
        if (errno != EINTR)
            net_die("wait for children", strerror(errno));
    }
}

/* Outside a sandbox: SIGKILL PROGRAM's process group and every child of
 * the init. Orphaned grandchildren come to the init (a subreaper) as their
 * parents die, and the next round kills them. */
static void kill_children(pid_t program)
{
    char path[64];
    long pid;
    FILE *children;

    kill(-program, SIGKILL); /* ESRCH: that group is gone already */
    snprintf(path, sizeof path, "/proc/self/task/%ld/children", (long)getpid());
    children = fopen(path, "re");
    if (children == NULL)
        net_die("list the init's children", strerror(errno));
    while (fscanf(children, "%ld", &pid) == 1)
        kill((pid_t)pid, SIGKILL);
    fclose(children);
}

/* Kill everything PROGRAM left and reap it all, until the init has no child
 * (then it has no descendant either). In a PID namespace of its own the
 * init is pid 1, and kill(-1) reaches every other process in it. Gives up
 * after CLEANUP_LIMIT_NS, so the init can never hang here. */
static void kill_all(pid_t program, int signals)
{
    long long give_up_at = now_ns() + CLEANUP_LIMIT_NS;
    int ended = 0, status;
    struct signalfd_siginfo info;

    for (;;) {
        if (getpid() == 1)
            kill(-1, SIGKILL);
        else
            kill_children(program);
        if (!reap_children(program, &ended, &status))
            return;
        if (now_ns() >= give_up_at) {
            net_error("kill the program's descendants", "some still run after 5 s");
            return;
        }
        /* A SIGCHLD ends the wait early. */
        struct pollfd wait_child = { signals, POLLIN, 0 };
        if (poll(&wait_child, 1, CLEANUP_RETRY_MS) > 0)
            while (read(signals, &info, sizeof info) > 0)
                ;
    }
}

/* The init (--init FD): start PROGRAM, pass on what supervise orders over
 * the control socket FD, send back PROGRAM's wait status once it has ended,
 * then kill whatever is left. Returns the init's exit status. */
static int run_init(const struct supervise_options *options)
{
    static const int init_signals[] = { SIGCHLD };
    int control = options->init_fd, signals, ended = 0, status = 0;
    struct signalfd_siginfo info;
    struct child_plan plan;
    pid_t program, self = getpid();

    memset(&plan, 0, sizeof plan);
    plan.keep_fds[0] = plan.keep_fds[1] = -1;
    /* Outside a sandbox the init stays root, so that PROGRAM cannot kill it
     * and escape the clean-up; PROGRAM alone becomes the user. */
    if (options->user != NULL && geteuid() == 0)
        plan_user(options->user, &plan);
    plan.command = options->command;
    if (fcntl(control, F_SETFD, FD_CLOEXEC) == -1)
        net_die("mark the control socket close-on-exec", strerror(errno));
    signals = signal_descriptor(init_signals, 1);
    /* Orphans must come to the init to be killed: as pid 1 of its own
     * namespace they do anyway; elsewhere only to a subreaper. */
    if (self != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
        net_die("become a subreaper", strerror(errno));
    program = fork();
    if (program == -1)
        net_die("fork", strerror(errno));
    if (program == 0)
        exec_child(&plan, self);

    while (!ended) {
        struct pollfd fds[2] = { { signals, POLLIN, 0 }, { control, POLLIN, 0 } };
        unsigned char order;
        ssize_t got;

        if (poll(fds, 2, -1) == -1 && errno != EINTR)
            net_die("wait for the program", strerror(errno));
        while (read(signals, &info, sizeof info) > 0)
            ;
        reap_children(program, &ended, &status);
        if (ended || fds[1].revents == 0)
            continue;
        got = read(control, &order, 1);
        if (got == -1 && (errno == EINTR || errno == EAGAIN))
            continue;
        /* End of file: supervise is gone; as good as the order to stop. */
        if (got != 1 || order == ORDER_KILL_ALL)
            break;
        if (order == ORDER_TERM_GROUP) {
            /* Just after fork() PROGRAM may not lead its group yet. */
            if (kill(-program, SIGTERM) == -1)
                kill(program, SIGTERM);
        } else {
            kill(program, order);
        }
    }
    if (ended && net_write_all(control, &status, sizeof status) == -1)
        net_error("report how the program ended", strerror(errno));
    kill_all(program, signals);
    return 0;
}

/* ---- supervise: the init's parent ------------------------------------------ */

/* Tell the init ORDER. A gone init (it has ended) is no error. */
static void send_order(const struct supervision *run, unsigned char order)
{
    if (run->control != -1 && write(run->control, &order, 1) == -1 &&
        errno != EPIPE && errno != ECONNRESET)
        net_error("give the init an order", strerror(errno));
}

/* Read PROGRAM's wait status from the init, if it has come; close the
 * socket once the init has closed its end. */
static void read_program_status(struct supervision *run)
{
    int status;
    ssize_t got = recv(run->control, &status, sizeof status, MSG_DONTWAIT);

    if (got == (ssize_t)sizeof status) {
        run->program_ended = 1;
        run->program_status = status;
    } else if (got == 0 || (got == -1 && errno != EAGAIN && errno != EINTR)) {
        close(run->control);
        run->control = -1;
    }
}

/* Schedule ORDER_KILL_ALL one grace period from now, unless an earlier one
 * is already due. */
static void schedule_kill(struct supervision *run)
{
    long long kill_at = now_ns() + run->grace_ns;

    if (run->kill_at == 0 || kill_at < run->kill_at)
        run->kill_at = kill_at;
}

/* Handle the signals waiting on SIGNALS: a stop signal is passed on to
 * PROGRAM (through the init) and starts the grace period; SIGCHLD means
 * supervise's one child (bwrap or the init) may have ended. */
static void take_signals(struct supervision *run, int signals)
{
    struct signalfd_siginfo info;
    int status;

    while (read(signals, &info, sizeof info) == (ssize_t)sizeof info) {
        if (info.ssi_signo != SIGCHLD) {
            send_order(run, (unsigned char)info.ssi_signo);
            schedule_kill(run);
        }
    }
    if (!run->child_ended && waitpid(run->child, &status, WNOHANG) == run->child) {
        run->child_ended = 1;
        run->child_status = status;
    }
}

/* Wait until the child ends, passing on stop signals and enforcing the
 * timeout and the grace period. Never busy: each pass sleeps in poll()
 * until a signal, a message from the init or the next deadline. */
static void supervise_child(struct supervision *run, int signals)
{
    while (!run->child_ended) {
        long long deadline = earliest(run->timeout_at, run->kill_at, run->give_up_at), now;
        struct pollfd fds[2] = { { signals, POLLIN, 0 }, { run->control, POLLIN, 0 } };

        if (poll(fds, 2, ms_until(deadline)) == -1 && errno != EINTR)
            net_die("wait for the program", strerror(errno));
        take_signals(run, signals);
        if (run->control != -1 && fds[1].revents != 0)
            read_program_status(run);
        now = now_ns();
        if (run->timeout_at != 0 && now >= run->timeout_at) {
            run->timed_out = 1;
            run->timeout_at = 0;
            send_order(run, ORDER_TERM_GROUP);
            schedule_kill(run);
        }
        if (run->kill_at != 0 && now >= run->kill_at) {
            run->kill_at = 0;
            send_order(run, ORDER_KILL_ALL);
            run->give_up_at = now + CLEANUP_LIMIT_NS;
        }
        if (run->give_up_at != 0 && now >= run->give_up_at) {
            /* The init did not end: kill it (in a sandbox, its namespace
             * dies with it) and bwrap, its whole process group. */
            run->give_up_at = 0;
            kill(-run->child, SIGKILL);
        }
    }
    /* The init has ended; what it sent last is still in the socket. */
    if (run->control != -1)
        read_program_status(run);
}

/* Make the death of whoever started supervise a stop request (SIGTERM). */
static void watch_starter(void)
{
    pid_t starter = getppid();

    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
        net_die("set the parent-death signal", strerror(errno));
    /* The starter may have died before prctl(): no signal would come, so
     * raise it ourselves (it stays pending, as SIGTERM is blocked). */
    if (getppid() != starter && raise(SIGTERM) != 0)
        net_die("raise SIGTERM", strerror(errno));
}

/* Fill PLAN for supervise's child: limits, control groups, and the command
 * that starts the init, in a sandbox or not. CONTROL is the init's end of
 * the socket. Exits 1 when the sandbox's options file cannot be opened. */
static void plan_child(const struct supervise_options *options, int control,
                       struct child_plan *plan)
{
    static char self[4096], control_text[16], options_text[16];
    size_t n = 0, args = 0;
    ssize_t len;
    char **argv;

    memset(plan, 0, sizeof *plan);
    plan->keep_fds[0] = control;
    plan->keep_fds[1] = -1;
    plan_limits(options, plan);
    plan->directory = options->directory;
    plan->cgroup_count = options->cgroup_count;
    memcpy(plan->cgroups, options->cgroups, sizeof plan->cgroups);
    len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0 || (size_t)len == sizeof self - 1)
        net_die("find supervise's own path in /proc/self/exe", strerror(errno));
    self[len] = '\0';
    snprintf(control_text, sizeof control_text, "%d", control);
    while (options->command[args] != NULL)
        args++;
    argv = calloc(args + 16, sizeof *argv);
    if (argv == NULL)
        net_die("plan the command", strerror(ENOMEM));
    if (options->sandbox_options != NULL) {
        int fd = open(options->sandbox_options, O_RDONLY | O_CLOEXEC);
        char what[512];

        if (fd == -1) {
            snprintf(what, sizeof what, "open the sandbox's options %s", options->sandbox_options);
            net_die(what, strerror(errno));
        }
        plan->keep_fds[1] = fd;
        snprintf(options_text, sizeof options_text, "%d", fd);
        /* bwrap is unprivileged: the user changes before it starts. */
        if (options->user != NULL && geteuid() == 0)
            plan_user(options->user, plan);
        /* The init first: the options may end by making / read-only. */
        const char *sandbox[] = { "bwrap", "--die-with-parent", "--as-pid-1",
                                  "--ro-bind", self, SANDBOX_INIT, "--args", options_text,
                                  "--", SANDBOX_INIT, "--init", control_text };
        for (size_t i = 0; i < sizeof sandbox / sizeof sandbox[0]; i++)
            argv[n++] = (char *)sandbox[i];
    } else {
        argv[n++] = self;
        argv[n++] = "--init";
        argv[n++] = control_text;
        if (options->user != NULL) {
            argv[n++] = "--user";
            argv[n++] = (char *)options->user;
        }
    }
    argv[n++] = "--";
    for (size_t i = 0; i < args; i++)
        argv[n++] = options->command[i];
    argv[n] = NULL;
    plan->command = argv;
}

/* The standard abbreviation of signal SIGNO: "SIGPIPE". Returns BUF or a
 * constant string. */
static const char *signal_name(int signo, char *buf, size_t size)
{
    static const struct { int signo; const char *name; } names[] = {
        { SIGHUP, "SIGHUP" },   { SIGINT, "SIGINT" },       { SIGQUIT, "SIGQUIT" },
        { SIGILL, "SIGILL" },   { SIGTRAP, "SIGTRAP" },     { SIGABRT, "SIGABRT" },
        { SIGBUS, "SIGBUS" },   { SIGFPE, "SIGFPE" },       { SIGKILL, "SIGKILL" },
        { SIGUSR1, "SIGUSR1" }, { SIGSEGV, "SIGSEGV" },     { SIGUSR2, "SIGUSR2" },
        { SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" },     { SIGTERM, "SIGTERM" },
        { SIGSTKFLT, "SIGSTKFLT" }, { SIGCHLD, "SIGCHLD" }, { SIGCONT, "SIGCONT" },
        { SIGSTOP, "SIGSTOP" }, { SIGTSTP, "SIGTSTP" },     { SIGTTIN, "SIGTTIN" },
        { SIGTTOU, "SIGTTOU" }, { SIGURG, "SIGURG" },       { SIGXCPU, "SIGXCPU" },
        { SIGXFSZ, "SIGXFSZ" }, { SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" },
        { SIGWINCH, "SIGWINCH" }, { SIGIO, "SIGIO" },       { SIGPWR, "SIGPWR" },
        { SIGSYS, "SIGSYS" },
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].signo == signo)
            return names[i].name;
    }
    if (signo >= SIGRTMIN && signo <= SIGRTMAX) {
        snprintf(buf, size, "SIGRTMIN+%d", signo - SIGRTMIN);
        return buf;
    }
    return "unknown signal";
}

/* Describe how PROGRAM ended in LINE ("exited 0", "killed by signal 13
 * (SIGPIPE)", "timed out after 2.5 s"); return supervise's exit status. */
static int describe_ending(const struct supervision *run, long long timeout_ns,
                           char *line, size_t size)
{
    char name[32];

    if (run->timed_out) {
        char seconds[48];
        long long fraction = timeout_ns % NS_PER_SECOND;
        int len = snprintf(seconds, sizeof seconds, "%lld", timeout_ns / NS_PER_SECOND);

        if (fraction != 0) {
            /* Nine decimals, then drop the trailing zeros: 2.500000000 -> 2.5 */
            len += snprintf(seconds + len, sizeof seconds - (size_t)len, ".%09lld", fraction);
            while (seconds[len - 1] == '0')
                seconds[--len] = '\0';
        }
        snprintf(line, size, "timed out after %s s", seconds);
        return EXIT_TIMED_OUT;
    }
    if (WIFSIGNALED(run->wait_status)) {
        int signo = WTERMSIG(run->wait_status);
        snprintf(line, size, "killed by signal %d (%s)", signo,
                 signal_name(signo, name, sizeof name));
        return 128 + signo;
    }
    snprintf(line, size, "exited %d", WEXITSTATUS(run->wait_status));
    return WEXITSTATUS(run->wait_status);
}

/* Write LINE and a newline to the status file FD (if any) and close it.
 * Exits 1 if that fails: a status file that says nothing misleads. */
static void write_status(int fd, const char *line, const char *path)
{
    char text[160], what[512];
    int len = snprintf(text, sizeof text, "%s\n", line);

    if (fd == -1)
        return;
    if (net_write_all(fd, text, (size_t)len) == -1 || close(fd) == -1) {
        snprintf(what, sizeof what, "write status file %s", path);
        net_die(what, strerror(errno));
    }
}

int main(int argc, char *argv[])
{
    static const int watched_signals[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
    struct supervise_options options;
    struct child_plan plan;
    struct supervision run;
    char ending[128];
    int status_fd, exit_status, signals, ends[2];
    pid_t supervisor;

    net_init("supervise");
    parse_args(argc, argv, &options);
    if (options.init_fd >= 0)
        return run_init(&options);
    status_fd = open_status_file(options.status_path);

    /* Block the signals before fork(), so none can slip in unnoticed
     * between the child's start and the first wait. */
    signals = signal_descriptor(watched_signals,
                                sizeof watched_signals / sizeof watched_signals[0]);
    watch_starter();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == -1)
        net_die("make the init's control socket", strerror(errno));
    plan_child(&options, ends[1], &plan);
    supervisor = getpid();
    memset(&run, 0, sizeof run);
    run.grace_ns = options.grace_ns;
    run.control = ends[0];
    if (options.timeout_ns > 0)
        run.timeout_at = now_ns() + options.timeout_ns;
    run.child = fork();
    if (run.child == -1)
        net_die("fork", strerror(errno));
    if (run.child == 0)
        exec_child(&plan, supervisor);
    close(ends[1]);
    if (plan.keep_fds[1] != -1)
        close(plan.keep_fds[1]);

    supervise_child(&run, signals);
    /* Without a status from the init, the child itself failed (bwrap could
     * not build the sandbox, or the init could not start): say how. */
    run.wait_status = run.program_ended ? run.program_status : run.child_status;
    exit_status = describe_ending(&run, options.timeout_ns, ending, sizeof ending);
    write_status(status_fd, ending, options.status_path);
    return exit_status;
}
