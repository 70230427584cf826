#define _GNU_SOURCE /* prctl(), setgroups(), NSIG: this peer is Linux-only */
/* supervise.c - run an untrusted program under limits; leave nothing behind.
 *
 * The grader runs every student program (and every build) through this.
 * It starts PROGRAM in a session of its own, with resource limits, as an
 * unprivileged user when asked, and guarantees that PROGRAM and every
 * process it started are dead when supervise exits: supervise is a "child
 * subreaper", so orphaned descendants are re-parented to it, and at the end
 * it kills the program's process group and every process under it in /proc.
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
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
    "  --user NAME        when run as root, run PROGRAM as user NAME, without\n"
    "                     supplementary groups; ignored when not root\n"
    "  --chdir DIR        run PROGRAM in folder DIR\n"
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
 * up, so that supervise itself can never hang. */
#define CLEANUP_LIMIT_NS (5 * NS_PER_SECOND)
/* The clean-up looks again at least this often while descendants remain. */
#define CLEANUP_RETRY_NS (20 * 1000000LL)

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
    char **command;                /* PROGRAM and its arguments */
};

/* What the child must do between fork() and exec(), all decided (and
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
    char **command;
};

/* The parent's view of the running program. */
struct supervision {
    pid_t child;            /* PROGRAM; also its process group and session */
    int child_ended;
    int wait_status;        /* from waitpid(), once child_ended */
    int timed_out;
    long long timeout_at;   /* monotonic ns; 0: none (or already fired) */
    long long kill_at;      /* monotonic ns of the SIGKILL; 0: none due */
    long long grace_ns;
};

/* Signals the parent waits for with sigtimedwait() instead of handling
 * them: no handler, so nothing has to be async-signal-safe. */
static const int watched_signals[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
#define WATCHED_COUNT (sizeof watched_signals / sizeof watched_signals[0])

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
    for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
        const char *name = argv[i], *value = argv[i + 1];

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
        } else if (!parse_limit_option(name, value, options)) {
            snprintf(problem, sizeof problem, "unknown option: %s", name);
            net_usage_error(problem, short_usage);
        }
    }
    if (i >= argc)
        net_usage_error("no PROGRAM to run", short_usage);
    options->command = &argv[i];
}

/* ---- preparing the child, in the parent ---------------------------------- */

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

/* Fill PLAN from OPTIONS: every limit to set, the user to become, the
 * folder and the command. Exits 1 for a limit that cannot be set or a user
 * that does not exist. */
static void plan_child(const struct supervise_options *options, struct child_plan *plan)
{
    int is_root = geteuid() == 0;

    memset(plan, 0, sizeof *plan);
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
    /* Only root can change user; anyone else already is unprivileged. */
    if (options->user != NULL && is_root) {
        struct passwd *account;
        char what[128];

        errno = 0;
        account = getpwnam(options->user);
        if (account == NULL) {
            snprintf(what, sizeof what, "look up user %s", options->user);
            net_die(what, errno != 0 ? strerror(errno) : "no such user");
        }
        plan->change_user = 1;
        plan->uid = account->pw_uid;
        plan->gid = account->pw_gid;
    }
    plan->directory = options->directory;
    plan->command = options->command;
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

/* ---- the child, between fork() and exec() -------------------------------- */

/* Report WHAT and errno's reason, then end the child with 127, the shell's
 * "could not run" status. _exit(): the parent's stdio buffers are not ours
 * to flush. */
static _Noreturn void child_fail(const char *what)
{
    net_error(what, strerror(errno));
    _exit(EXIT_CANNOT_RUN);
}

/* Mark every descriptor from 3 up close-on-exec, so PROGRAM inherits only
 * stdin, stdout and stderr (a test's pipes and sockets stay out of reach).
 * /proc/self/fd lists the open ones: looping up to the descriptor limit
 * would take a million close() calls where that limit is high. Marking
 * rather than closing keeps the listing's own descriptor valid while it is
 * read. */
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

/* Die with supervise: if supervise is killed with SIGKILL and cannot clean
 * up, the kernel still kills PROGRAM. Set after the user change, which
 * clears it. */
static void die_with_supervisor(pid_t supervisor)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
        child_fail("set the parent-death signal");
    /* Supervise may have died before prctl(): then no signal would come. */
    if (getppid() != supervisor)
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

/* The child: set PROGRAM's stage and exec it. Never returns. */
static _Noreturn void run_child(const struct child_plan *plan, pid_t supervisor)
{
    char what[512];

    /* A session (and process group) of its own: the whole group can be
     * signalled at once, and the terminal's Ctrl-C does not reach it. */
    if (setsid() == -1)
        child_fail("start a new session");
    close_inherited_descriptors();
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
    die_with_supervisor(supervisor);
    restore_signals();
    execvp(plan->command[0], plan->command);
    snprintf(what, sizeof what, "cannot run %s", plan->command[0]);
    child_fail(what);
}

/* ---- the parent: waiting ----------------------------------------------- */

/* Nanoseconds on the monotonic clock, which no clock change moves. */
static long long now_ns(void)
{
    struct timespec now;

    if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
        net_die("read the monotonic clock", strerror(errno));
    return (long long)now.tv_sec * NS_PER_SECOND + now.tv_nsec;
}

/* Block the watched signals (they stay pending until sigtimedwait() takes
 * them) and give each its default action: an inherited SIG_IGN for SIGCHLD
 * would make the kernel reap children itself, and waitpid() would never
 * see how PROGRAM ended. Stores the blocked set in *WATCHED. */
static void watch_signals(sigset_t *watched)
{
    sigemptyset(watched);
    for (size_t i = 0; i < WATCHED_COUNT; i++)
        sigaddset(watched, watched_signals[i]);
    if (sigprocmask(SIG_BLOCK, watched, NULL) == -1)
        net_die("block signals", strerror(errno));
    for (size_t i = 0; i < WATCHED_COUNT; i++) {
        if (signal(watched_signals[i], SIG_DFL) == SIG_ERR)
            net_die("reset a signal's action", strerror(errno));
    }
}

/* Make supervise the reaper of everything PROGRAM leaves behind, and turn
 * the death of whoever started supervise into a stop request (SIGTERM). */
static void adopt_orphans_and_watch_starter(void)
{
    pid_t starter = getppid();

    /* Orphaned descendants come to us instead of init, so they can be
     * found, killed and reaped. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
        net_die("become a subreaper", strerror(errno));
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
        net_die("set the parent-death signal", strerror(errno));
    /* The starter may have died before prctl(): no signal would come, so
     * raise it ourselves (it stays pending, as SIGTERM is blocked). */
    if (getppid() != starter && raise(SIGTERM) != 0)
        net_die("raise SIGTERM", strerror(errno));
}

/* Wait for one of the signals in WATCHED, until monotonic time DEADLINE
 * (0: no deadline). Returns the signal, or 0 when the deadline passed. */
static int wait_for_signal(const sigset_t *watched, long long deadline)
{
    struct timespec timeout;
    long long remaining;
    int signo;

    if (deadline == 0) {
        signo = sigwaitinfo(watched, NULL);
    } else {
        remaining = deadline - now_ns();
        if (remaining < 0)
            remaining = 0;
        timeout.tv_sec = (time_t)(remaining / NS_PER_SECOND);
        timeout.tv_nsec = (long)(remaining % NS_PER_SECOND);
        signo = sigtimedwait(watched, NULL, &timeout);
    }
    if (signo == -1 && errno != EAGAIN && errno != EINTR)
        net_die("wait for signals", strerror(errno));
    return signo == -1 ? 0 : signo;
}

/* Reap every child that has ended: PROGRAM, and any orphaned descendant
 * re-parented to us (left unreaped, it would stay a zombie). Records how
 * PROGRAM ended. Returns 1 while some child remains, 0 when none does. */
static int reap_children(struct supervision *run)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid > 0) {
            if (pid == run->child) {
                run->child_ended = 1;
                run->wait_status = status;
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

/* ---- the parent: killing ----------------------------------------------- */

/* One process in the /proc snapshot. */
struct process {
    pid_t pid;
    pid_t parent;
};

/* Parent of process PID, read from /proc/PID/stat ("PID (NAME) S PPID ...";
 * NAME may hold spaces and parentheses, so parse after the last ')').
 * Returns it, or -1 when the process is gone. */
static pid_t parent_of(const char *pid_text)
{
    char path[64], line[512], *name_end;
    int fd, parent;
    ssize_t length;

    snprintf(path, sizeof path, "/proc/%s/stat", pid_text);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1; /* it ended between readdir() and open() */
    length = read(fd, line, sizeof line - 1);
    if (close(fd) == -1 || length <= 0)
        return -1;
    line[length] = '\0';
    name_end = strrchr(line, ')');
    if (name_end == NULL || sscanf(name_end + 1, " %*c %d", &parent) != 1)
        return -1;
    return (pid_t)parent;
}

/* Snapshot every process's pid and parent from /proc into *TABLE (sorted
 * by pid; the caller frees it). Returns the count, or -1 with errno set. */
static long read_process_table(struct process **table)
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    struct process *entries = NULL;
    size_t count = 0, capacity = 0;

    if (proc == NULL)
        return -1;
    while ((entry = readdir(proc)) != NULL) {
        pid_t parent;

        if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
            continue; /* not a process: "self", "sys", ... */
        if ((parent = parent_of(entry->d_name)) == -1)
            continue;
        if (count == capacity) {
            size_t bigger = capacity == 0 ? 256 : capacity * 2;
            struct process *grown = realloc(entries, bigger * sizeof *grown);
            if (grown == NULL) {
                free(entries);
                closedir(proc);
                errno = ENOMEM;
                return -1;
            }
            entries = grown;
            capacity = bigger;
        }
        entries[count].pid = (pid_t)atol(entry->d_name);
        entries[count++].parent = parent;
    }
    if (closedir(proc) == -1) {
        free(entries);
        return -1;
    }
    *table = entries;
    return (long)count;
}

/* qsort()/bsearch() order of struct process: by pid. */
static int compare_pids(const void *a, const void *b)
{
    pid_t pid_a = ((const struct process *)a)->pid, pid_b = ((const struct process *)b)->pid;

    return (pid_a > pid_b) - (pid_a < pid_b);
}

/* Whether PROCESS's parent chain in TABLE (COUNT entries) leads to
 * ANCESTOR. The walk is bounded by COUNT: a snapshot taken while processes
 * come and go could, with pids reused, hold a loop. */
static int descends_from(const struct process *process, const struct process *table,
                         size_t count, pid_t ancestor)
{
    pid_t parent = process->parent;

    for (size_t steps = 0; steps < count && parent > 1; steps++) {
        struct process key = { parent, 0 }, *found;

        if (parent == ancestor)
            return 1;
        found = bsearch(&key, table, count, sizeof *table, compare_pids);
        if (found == NULL)
            return 0;
        parent = found->parent;
    }
    return 0;
}

/* SIGKILL every process whose parent chain leads to supervise: descendants
 * that left PROGRAM's process group (setsid, setpgid) are found this way.
 * A missing /proc is reported once, not on every retry. */
static void kill_descendants(void)
{
    static int reported;
    struct process *table;
    long count = read_process_table(&table);
    pid_t self = getpid();

    if (count == -1) {
        if (!reported)
            net_error("list processes in /proc", strerror(errno));
        reported = 1;
        return;
    }
    qsort(table, (size_t)count, sizeof *table, compare_pids);
    for (long i = 0; i < count; i++) {
        if (descends_from(&table[i], table, (size_t)count, self) &&
            kill(table[i].pid, SIGKILL) == -1 && errno != ESRCH)
            net_error("kill a descendant", strerror(errno));
    }
    free(table);
}

/* Send SIGNO to PROGRAM's process group. Just after fork() the child may
 * not have called setsid() yet, so there is no such group: then signal the
 * child alone, but only while it is unreaped (after that its pid may belong
 * to someone else). ESRCH, nobody left to signal, is no error. */
static void signal_group(const struct supervision *run, int signo)
{
    if (kill(-run->child, signo) == 0)
        return;
    if (errno == ESRCH) {
        if (run->child_ended || kill(run->child, signo) == 0 || errno == ESRCH)
            return;
    }
    net_error("signal the program's process group", strerror(errno));
}

/* SIGKILL PROGRAM's process group and every descendant of supervise. */
static void kill_everything(const struct supervision *run)
{
    signal_group(run, SIGKILL);
    kill_descendants();
}

/* Schedule the SIGKILL one grace period from now, unless an earlier one
 * is already due. */
static void schedule_kill(struct supervision *run)
{
    long long kill_at = now_ns() + run->grace_ns;

    if (run->kill_at == 0 || kill_at < run->kill_at)
        run->kill_at = kill_at;
}

/* ---- the parent: from start to end ------------------------------------- */

/* Wait until PROGRAM ends, passing on stop signals and enforcing the
 * timeout and the grace period. Never busy: each pass sleeps in
 * sigwaitinfo()/sigtimedwait() until a signal or the next deadline. */
static void supervise_child(struct supervision *run, const sigset_t *watched)
{
    for (;;) {
        long long deadline = run->timeout_at;
        int signo;

        reap_children(run);
        if (run->child_ended)
            return;
        if (run->kill_at != 0 && (deadline == 0 || run->kill_at < deadline))
            deadline = run->kill_at;
        signo = wait_for_signal(watched, deadline);
        if (signo == SIGTERM || signo == SIGINT || signo == SIGHUP) {
            /* PROGRAM alone: a test checks how the program itself stops. */
            if (kill(run->child, signo) == -1 && errno != ESRCH)
                net_error("pass on a signal", strerror(errno));
            schedule_kill(run);
        }
        if (run->timeout_at != 0 && now_ns() >= run->timeout_at) {
            run->timed_out = 1;
            run->timeout_at = 0;
            signal_group(run, SIGTERM);
            schedule_kill(run);
        }
        if (run->kill_at != 0 && now_ns() >= run->kill_at) {
            run->kill_at = 0;
            kill_everything(run);
        }
    }
}

/* PROGRAM has ended: kill whatever it left running and reap it all, until
 * supervise has no child at all (with no children it has no descendants).
 * Gives up after CLEANUP_LIMIT_NS, so supervise can never hang here. */
static void clean_up(struct supervision *run, const sigset_t *watched)
{
    long long give_up_at = now_ns() + CLEANUP_LIMIT_NS;

    for (;;) {
        long long now;

        kill_everything(run);
        if (!reap_children(run))
            return;
        now = now_ns();
        if (now >= give_up_at) {
            net_error("kill the program's descendants", "some still run after 5 s");
            return;
        }
        /* A SIGCHLD ends the wait early; a stop signal now changes nothing. */
        wait_for_signal(watched, now + CLEANUP_RETRY_NS < give_up_at
                                     ? now + CLEANUP_RETRY_NS : give_up_at);
    }
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
    struct supervise_options options;
    struct child_plan plan;
    struct supervision run;
    sigset_t watched;
    char ending[128];
    int status_fd, exit_status;
    pid_t supervisor;

    net_init("supervise");
    parse_args(argc, argv, &options);
    plan_child(&options, &plan);
    status_fd = open_status_file(options.status_path);

    /* Block the signals before fork(), so none can slip in unnoticed
     * between the child's start and the first wait. */
    watch_signals(&watched);
    adopt_orphans_and_watch_starter();
    supervisor = getpid();
    memset(&run, 0, sizeof run);
    run.grace_ns = options.grace_ns;
    if (options.timeout_ns > 0)
        run.timeout_at = now_ns() + options.timeout_ns;
    run.child = fork();
    if (run.child == -1)
        net_die("fork", strerror(errno));
    if (run.child == 0)
        run_child(&plan, supervisor);

    supervise_child(&run, &watched);
    clean_up(&run, &watched);
    exit_status = describe_ending(&run, options.timeout_ns, ending, sizeof ending);
    write_status(status_fd, ending, options.status_path);
    return exit_status;
}
