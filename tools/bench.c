/* bench.c — esfs-bench: what esfs costs, measured against the alternatives.
 *
 * It runs the same workloads (durable appends by one writer, by 8 writers on
 * 8 streams and on one stream; reading every event cold and warm; listings;
 * random reads; a shell loop of appends; and, for esfs alone, how long a
 * live subscriber waits for an append) against esfs through a real FUSE
 * mount, plain files (one event, one file) on the same disk and on tmpfs,
 * the store library called directly, PostgreSQL with a classic
 * event-store table (positions from its sequence, and from a counter row),
 * esfs mounted on a PostgreSQL store of the same server (one daemon, and
 * two for the appends and the cross-host wake of a subscriber), and, for
 * the appends alone, the disk's ceiling (the same event lines written with
 * pwrite to a preallocated file, one fdatasync per group commit), at
 * several store sizes, and reports events/s
 * and p50/p99 latencies as a table on stdout, OUTDIR/results.csv and a
 * chart, OUTDIR/chart.png. With --count-flushes it also counts, with
 * strace, the flush system calls that esfs and the store library make per
 * append. See man/esfs-bench.1.
 *
 *   esfs-bench [--sizes 1e4,1e5]
 *              [--systems esfs,files,tmpfs,store,pg,pg-counter,esfs-pg,limit]
 *              [--workloads W1,...] [--count-flushes] OUTDIR
 *
 * It starts and stops everything itself (the esfs daemons, a PostgreSQL
 * server in a temporary directory) and leaves nothing mounted or running,
 * also when it fails or is interrupted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

/* ---- What is measured. ------------------------------------------------ */

enum { SYS_ESFS, SYS_FILES, SYS_TMPFS, SYS_STORE, SYS_PG, SYS_PGC, SYS_ESFS_PG, SYS_LIMIT, NSYS };
static const char *const sys_name[NSYS] = {"esfs", "files", "tmpfs", "store", "pg", "pg-counter",
					   "esfs-pg", "limit"};

/* Rows of the table: a workload can give several. The -2d rows and
 * W8-cross are esfs-pg's, with two daemons on one database. */
enum { R_W1, R_W1D, R_W2, R_W2D, R_W3, R_W4C, R_W4W, R_W4F, R_W5A, R_W5LA, R_W5S, R_W5LS, R_W6,
       R_W7, R_W8A, R_W8B, R_W8X, NROW };
static const char *const row_name[NROW] = {
	"W1", "W1-2d", "W2", "W2-2d", "W3", "W4-cold", "W4-warm", "W4-feed", "W5-ls-all",
	"W5-ls-l-all", "W5-ls-stream", "W5-ls-l-stream", "W6", "W7", "W8-sub-1", "W8-sub-8",
	"W8-cross",
};

#define DATA_LEN 200		/* bytes of an event's data object */
#define WRITERS 8		/* threads of W2 and W3 */
#define BIG_STREAM "Big-1"	/* the prefilled stream that holds half the events */
#define SMALL_STREAM_EVENTS 5	/* 1e6 events: 500,000 in BIG_STREAM, the rest in 100,000 streams */
#define PG_USER "esfsbench"
#define HANG_SECONDS 300	/* no progress this long is a hang */
#define W8_CONSUMERS 8		/* subscribers of W8-sub-8 */
#define W8_WAIT_SECONDS 10	/* an event not received by then is an error */
#define LINE_CAP 2048		/* the most bytes of an event's line */
#define FLUSH_APPENDS 500	/* appends of the untimed pass under strace */

/* ---- Options. ---------------------------------------------------------- */

static uint64_t g_sizes[16] = {10000, 100000};
static int g_nsizes = 2;
static int g_sys_on[NSYS] = {1, 1, 1, 1, 1, 1, 1, 1};
static int g_wl_on[9] = {0, 1, 1, 1, 1, 1, 1, 1, 1};	/* W1 … W8 */
static uint64_t g_ops = 2000;		/* appends of W1, and of W2, W3 in all */
static uint64_t g_reads = 10000;	/* random reads of W6 */
static uint64_t g_loop = 10000;		/* printf commands of W7 */
static int g_runs = 5;			/* runs of each listing of W5 */
static double g_max_seconds = 60;	/* cap of one timed workload */
static const char *g_outdir;
static char g_esfs[PATH_MAX];
static char g_tmp_parent[PATH_MAX] = "/var/tmp";
static int g_keep;
static int g_count_flushes;		/* --count-flushes */

/* ---- State that cleanup needs, also from a signal handler. ------------- */

static char g_base[PATH_MAX];		/* the temporary directory on disk */
static char g_shm[PATH_MAX];		/* the one on tmpfs */
static char g_mnt[2][PATH_MAX];		/* esfs's mount; esfs-pg's second daemon's */
static volatile sig_atomic_t g_esfs_pid[2];
static char g_pgbin[PATH_MAX];		/* directory of initdb, pg_ctl, psql */
static char g_pgctl[PATH_MAX];
/* The one PostgreSQL server of the run, for pg, pg-counter and esfs-pg,
 * each in a database of its own: initdb'd when first needed, stopped at
 * the end. */
static char g_pgdir[PATH_MAX];		/* its directory, and the socket's */
static char g_pgdata[PATH_MAX];
static int g_pgport;
static volatile sig_atomic_t g_pg_running;
static int g_pg_drop;			/* run the server as g_pg_uid */
static uid_t g_pg_uid;
static gid_t g_pg_gid;
static char g_pg_skip[256];		/* why pg is skipped, if it is */

static _Atomic uint64_t g_progress;	/* for the hang watchdog */
static char g_phase[128] = "starting";
static int g_dropped_ok = 1;		/* drop_caches worked */

static void emergency_cleanup(void);

static void die(const char *f, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *f, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("esfs-bench: ", stderr);
	va_start(ap, f);
	vfprintf(stderr, f, ap);
	va_end(ap);
	fputc('\n', stderr);
	emergency_cleanup();
	_exit(1);
}

/* snprintf that dies rather than truncate. */
static void fmt(char *buf, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t n, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	int r = vsnprintf(buf, n, f, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= n)
		die("a path or command is too long: %.60s…", buf);
}

/* snprintf that may truncate: for messages. */
static int msg(char *buf, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int msg(char *buf, size_t n, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	int r = vsnprintf(buf, n, f, ap);
	va_end(ap);
	return r;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int64_t real_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* ---- Child processes. -------------------------------------------------- */

struct sp {
	const char *out;	/* stdout to this file (truncated); NULL: inherit */
	const char *err;	/* stderr to this file (appended); NULL: inherit */
	int as_pg;		/* run as the PostgreSQL user */
	int session;		/* in a session of its own: no Ctrl-C from us */
	const char *cwd;
};

static pid_t spawn(char *const argv[], const struct sp *o)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (o && o->session)
		setsid();
	int fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	if (o && o->out) {
		fd = open(o->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
	}
	if (o && o->err) {
		fd = open(o->err, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
	}
	if (o && o->as_pg && g_pg_drop) {
		if (setgroups(0, NULL) != 0 || setgid(g_pg_gid) != 0 || setuid(g_pg_uid) != 0)
			_exit(126);
	}
	if (o && o->cwd && chdir(o->cwd) != 0)
		_exit(126);
	execvp(argv[0], argv);
	_exit(127);
}

/* The exit status of pid, or 128 + the signal that killed it. */
static int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(char *const argv[], const struct sp *o)
{
	pid_t pid = spawn(argv, o);

	return pid < 0 ? -1 : wait_child(pid);
}

static const struct sp quiet = {.out = "/dev/null", .err = "/dev/null"};

static void remove_tree(const char *path)
{
	if (!path[0])
		return;
	char *av[] = {"rm", "-rf", "--", (char *)path, NULL};
	run(av, &quiet);
}

/* Waits up to ms for pid to exit; 1 if it did. */
static int wait_exit(pid_t pid, int ms, int *status)
{
	int st;

	for (int i = 0; i <= ms / 10; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD)) {
			if (status)
				*status = r == pid ? (WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)) : -1;
			return 1;
		}
		usleep(10000);
	}
	return 0;
}

/* Unmounts esfs (both daemons of esfs-pg), stops PostgreSQL, removes the
 * temporary directories: on failure and on a signal, with async-signal-safe
 * calls only (fork, exec, kill, waitpid). */
static void emergency_cleanup(void)
{
	for (int k = 0; k < 2; k++) {
		if (g_esfs_pid[k] <= 0)
			continue;
		pid_t pid = g_esfs_pid[k];
		char *av[] = {"fusermount3", "-u", "-z", g_mnt[k], NULL};
		run(av, &quiet);
		kill(pid, SIGTERM);
		if (!wait_exit(pid, 10000, NULL)) {
			kill(pid, SIGKILL);
			wait_exit(pid, 5000, NULL);
			run(av, &quiet);
		}
		g_esfs_pid[k] = 0;
	}
	if (g_pg_running) {
		char *av[] = {g_pgctl, "-D", g_pgdata, "-m", "immediate", "-w", "stop", NULL};
		struct sp o = quiet;
		o.as_pg = 1;
		run(av, &o);
		g_pg_running = 0;
	}
	if (!g_keep) {
		remove_tree(g_base);
		remove_tree(g_shm);
	}
}

static void on_signal(int sig)
{
	static const char msg[] = "\nesfs-bench: interrupted; cleaning up\n";
	ssize_t r = write(2, msg, sizeof msg - 1);
	(void)r;
	emergency_cleanup();
	_exit(128 + sig);
}

/* A crash of the tool itself: clean up, then die of the signal. */
static void on_crash(int sig)
{
	static const char msg[] = "\nesfs-bench: crashed; cleaning up\n";
	ssize_t r = write(2, msg, sizeof msg - 1);
	(void)r;
	g_keep = 1;	/* keep the data to look at */
	emergency_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Kills everything when nothing has progressed for HANG_SECONDS. */
static void *watchdog(void *arg)
{
	uint64_t last = (uint64_t)-1;
	int idle = 0;

	(void)arg;
	for (;;) {
		sleep(5);
		uint64_t p = atomic_load(&g_progress);
		if (p != last) {
			last = p;
			idle = 0;
			continue;
		}
		idle += 5;
		if (idle >= HANG_SECONDS) {
			fprintf(stderr, "esfs-bench: HANG: no progress for %d s during %s; "
				"unmounting and giving up\n", idle, g_phase);
			emergency_cleanup();
			_exit(3);
		}
	}
	return NULL;
}

static void progress(void)
{
	atomic_fetch_add_explicit(&g_progress, 1, memory_order_relaxed);
}

static void phase(const char *f, ...) __attribute__((format(printf, 1, 2)));
static void phase(const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(g_phase, sizeof g_phase, f, ap);
	va_end(ap);
	progress();
}

/* Prints the last lines of a log file to stderr. */
static void tail_log(const char *path, int lines)
{
	char cmd[PATH_MAX + 64];

	fmt(cmd, sizeof cmd, "tail -n %d '%s' >&2", lines, path);
	fprintf(stderr, "esfs-bench: last lines of %s:\n", path);
	fflush(stderr);
	if (system(cmd) != 0)
		fprintf(stderr, "  (could not read it)\n");
}

/* Drops the kernel's caches: 1 if that worked (as root). */
static int drop_caches(void)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0)
		return g_dropped_ok = 0;
	int ok = write(fd, "3\n", 2) == 2;
	close(fd);
	if (!ok)
		g_dropped_ok = 0;
	return ok;
}

/* ---- Events. ----------------------------------------------------------- */

/* The data object of event i: exactly DATA_LEN bytes of JSON. */
static size_t make_data(char *buf, uint64_t i)
{
	int n = snprintf(buf, DATA_LEN + 1,
			 "{\"order_id\":\"ord-%010" PRIu64 "\",\"customer\":\"cust-%05" PRIu64
			 "\",\"total\":%" PRIu64 ".%02u,\"currency\":\"EUR\",\"items\":"
			 "[{\"sku\":\"sku-%05" PRIu64 "\",\"qty\":%u}],\"note\":\"",
			 i, i % 99991, i % 100000, (unsigned)(i % 100), (i * 7) % 100000,
			 (unsigned)(i % 9 + 1));
	while (n < DATA_LEN - 2)
		buf[n++] = 'x';
	buf[n++] = '"';
	buf[n++] = '}';
	buf[n] = 0;
	return (size_t)n;
}

static void make_uuid(char *out, uint64_t *rng)
{
	uint64_t a = splitmix(rng), b = splitmix(rng);
	unsigned char u[16];

	memcpy(u, &a, 8);
	memcpy(u + 8, &b, 8);
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		u[12], u[13], u[14], u[15]);
}

/* The line a plain file holds: the envelope esfs would serve. */
static size_t make_line(char *buf, size_t cap, const char *stream, uint64_t ver,
			uint64_t pos, const char *data, uint64_t *rng)
{
	char id[40], when[32];

	make_uuid(id, rng);
	es_time_format(real_us(), when);
	int n = snprintf(buf, cap,
			 "{\"event_id\":\"%s\",\"stream_id\":\"%s\",\"event_type\":\"OrderPlaced\","
			 "\"version\":%" PRIu64 ",\"schema_version\":1,\"data\":%s,\"metadata\":{},"
			 "\"global_position\":%" PRIu64 ",\"created_at\":\"%s\"}\n",
			 id, stream, ver, data, pos, when);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* Where the prefill puts event i of n: the first half in BIG_STREAM, the
 * rest in streams Order-0000000, Order-0000001, … of SMALL_STREAM_EVENTS. */
struct layout {
	uint64_t n, big, small_streams;
};

static struct layout layout_of(uint64_t n)
{
	struct layout L = {n, n / 2, 0};

	L.small_streams = (n - L.big + SMALL_STREAM_EVENTS - 1) / SMALL_STREAM_EVENTS;
	return L;
}

static void small_name(char *buf, uint64_t k)
{
	sprintf(buf, "Order-%07" PRIu64, k);
}

static void event_at(const struct layout *L, uint64_t i, char *stream, uint64_t *ver)
{
	if (i < L->big) {
		strcpy(stream, BIG_STREAM);
		*ver = i + 1;
	} else {
		uint64_t j = i - L->big;
		small_name(stream, j / SMALL_STREAM_EVENTS);
		*ver = j % SMALL_STREAM_EVENTS + 1;
	}
}

/* ---- Results. ---------------------------------------------------------- */

struct result {
	int row, sys;
	uint64_t size, events;
	double secs, evps, p50, p99;	/* p50, p99 in µs */
	char note[400];
};

static struct result *g_res;
static size_t g_nres, g_capres;
static long g_hwm_kb[16][NSYS];		/* the esfs daemon's peak RSS per size */
static double g_recover[16][2];		/* the store's open after kill -9, after a cut (s) */
static pthread_mutex_t g_res_lock = PTHREAD_MUTEX_INITIALIZER;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile of n sorted values, by nearest rank, in µs. */
static double pct(const uint64_t *v, size_t n, int p)
{
	size_t rank = (n * (size_t)p + 99) / 100;	/* ceil(n p / 100) */

	return n ? (double)v[rank ? rank - 1 : 0] / 1000.0 : 0;
}

/* Records a row: events done in secs, with latencies in ns (sorted here). */
static void record(int row, int sys, uint64_t size, uint64_t events, double secs,
		   uint64_t *lat, size_t nlat, const char *note)
{
	struct result r = {.row = row, .sys = sys, .size = size, .events = events, .secs = secs};

	qsort(lat, nlat, sizeof *lat, cmp_u64);
	r.evps = secs > 0 ? (double)events / secs : 0;
	r.p50 = pct(lat, nlat, 50);
	r.p99 = pct(lat, nlat, 99);
	msg(r.note, sizeof r.note, "%s", note ? note : "");
	pthread_mutex_lock(&g_res_lock);
	if (g_nres == g_capres) {
		g_capres = g_capres ? 2 * g_capres : 64;
		g_res = realloc(g_res, g_capres * sizeof *g_res);
		if (!g_res)
			die("out of memory");
	}
	g_res[g_nres++] = r;
	pthread_mutex_unlock(&g_res_lock);
	fprintf(stderr, "esfs-bench:   %-14s %-10s %12.1f events/s  p50 %10.1f us  p99 %10.1f us  %s\n",
		row_name[row], sys_name[sys], r.evps, r.p50, r.p99, r.note);
}

/* ---- The systems. ------------------------------------------------------ */

/* An esfs daemon and its mount. */
struct daemon {
	char mnt[PATH_MAX], log[PATH_MAX];
	pid_t pid;
};

struct sysctx {
	int sys;
	int si;				/* index of the size */
	struct layout L;
	char dir[PATH_MAX];		/* the system's own directory */
	char data[PATH_MAX];		/* store dir or URI, files root, limit's log */
	/* esfs, esfs-pg: d[0] is the daemon of every workload; d[1], esfs-pg's
	 * second host, is mounted for W1-2d, W2-2d and W8-cross only */
	struct daemon d[2];
	long hwm_kb;
	/* store */
	es_store *st;
	/* files, tmpfs */
	_Atomic uint64_t gpos;
	int durable;
	/* pg, pg-counter, esfs-pg: a database of the run's server */
	char db[64];
	char conninfo[PATH_MAX + 128];
	PGconn *conn;
	/* limit: the preallocated log and its group commit, under lk */
	int lfd;
	pthread_mutex_t lk;
	pthread_cond_t synced_cv;
	uint64_t off, cap;		/* the next byte; the bytes preallocated */
	uint64_t written, synced;	/* records written; records durable */
	int flushing, flush_err;	/* an fdatasync runs; the errno of a failed one */
	int writers;			/* writers that have not finished */
	uint64_t flushes;		/* fdatasyncs since the last preallocation */
};

/* Whether the system is esfs through a FUSE mount (on a directory or on
 * PostgreSQL). */
static int mounted(const struct sysctx *c)
{
	return c->sys == SYS_ESFS || c->sys == SYS_ESFS_PG;
}

/* Whether the system is PostgreSQL's own table (BIGSERIAL or counter). */
static int pg_table(const struct sysctx *c)
{
	return c->sys == SYS_PG || c->sys == SYS_PGC;
}

/* Whether system s runs on the run's PostgreSQL server. */
static int on_pg(int s)
{
	return s == SYS_PG || s == SYS_PGC || s == SYS_ESFS_PG;
}

/* The root of the tree that all/ and streams/ are in. */
static const char *tree(const struct sysctx *c)
{
	return mounted(c) ? c->d[0].mnt : c->data;
}

/* ---- esfs: the daemon. -------------------------------------------------- */

static int is_mounted(const char *mnt)
{
	struct stat a, b;
	char parent[PATH_MAX];

	fmt(parent, sizeof parent, "%s/..", mnt);
	if (stat(mnt, &a) != 0 || stat(parent, &b) != 0)
		return 0;
	return a.st_dev != b.st_dev;
}

/* The number after "field:" in a /proc status or fdinfo file, in base;
 * -1 if there is none. */
static long status_field(const char *path, const char *field, int base)
{
	char line[256];
	size_t n = strlen(field);
	long v = -1;

	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, base);
			break;
		}
	fclose(f);
	return v;
}

static long read_hwm(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	long kb = status_field(path, "VmHWM", 10);
	return kb < 0 ? 0 : kb;
}

/* Starts daemon k of c (0, or esfs-pg's second host 1) on c->data. */
static void esfs_mount(struct sysctx *c, int k)
{
	struct daemon *d = &c->d[k];
	char *av[] = {g_esfs, "-f", c->data, d->mnt, NULL};
	struct sp o = {.out = "/dev/null", .err = d->log, .session = 1};
	int st;

	fmt(g_mnt[k], sizeof g_mnt[k], "%s", d->mnt);
	d->pid = spawn(av, &o);
	if (d->pid < 0)
		die("cannot start %s: %s", g_esfs, strerror(errno));
	g_esfs_pid[k] = d->pid;
	for (int i = 0; !is_mounted(d->mnt); i++) {
		if (wait_exit(d->pid, 10, &st)) {
			g_esfs_pid[k] = 0;
			tail_log(d->log, 10);
			die("esfs exited at start with status %d", st);
		}
		if (i > 3000)
			die("esfs did not mount %s within 30 s", d->mnt);
	}
}

static void esfs_unmount(struct sysctx *c, int k)
{
	struct daemon *d = &c->d[k];
	long kb = read_hwm(d->pid);
	int st = -1;

	if (kb > c->hwm_kb)
		c->hwm_kb = kb;
	char *av[] = {"fusermount3", "-u", d->mnt, NULL};
	for (int i = 0; i < 50 && run(av, &quiet) != 0; i++)
		usleep(100000);
	if (!wait_exit(d->pid, 60000, &st)) {
		fprintf(stderr, "esfs-bench: esfs did not exit 60 s after the unmount; SIGTERM\n");
		kill(d->pid, SIGTERM);
		if (!wait_exit(d->pid, 10000, &st)) {
			kill(d->pid, SIGKILL);
			wait_exit(d->pid, 5000, &st);
		}
		char *lazy[] = {"fusermount3", "-u", "-z", d->mnt, NULL};
		run(lazy, &quiet);
	}
	if (st != 0) {
		fprintf(stderr, "esfs-bench: esfs exited with status %d\n", st);
		tail_log(d->log, 10);
	}
	g_esfs_pid[k] = 0;
	d->pid = 0;
}

/* The last lines of the logs of c's running daemons, after an error. */
static void tail_logs(const struct sysctx *c)
{
	for (int k = 0; k < 2; k++)
		if (c->d[k].pid > 0)
			tail_log(c->d[k].log, 10);
}

/* ---- The store library: prefill. ---------------------------------------- */

struct pf_job {
	es_store *st;
	const struct layout *L;
	int t, nt;
	char err[300];
};

static void *prefill_small(void *p)
{
	struct pf_job *j = p;
	es_event_in ev[SMALL_STREAM_EVENTS];
	static _Thread_local char data[SMALL_STREAM_EVENTS][DATA_LEN + 1];
	char name[32];

	for (uint64_t k = (uint64_t)j->t; k < j->L->small_streams; k += (uint64_t)j->nt) {
		uint64_t first = j->L->big + k * SMALL_STREAM_EVENTS;
		uint64_t n = j->L->n - first < SMALL_STREAM_EVENTS ? j->L->n - first : SMALL_STREAM_EVENTS;
		small_name(name, k);
		for (uint64_t i = 0; i < n; i++) {
			ev[i] = (es_event_in){.type = "OrderPlaced", .type_len = 11, .data = data[i]};
			ev[i].data_len = make_data(data[i], first + i);
		}
		int err = es_stream_create(j->st, name, strlen(name));
		if (!err)
			err = es_append(j->st, name, strlen(name), 0, ev, n, NULL);
		if (err) {
			msg(j->err, sizeof j->err, "%s: %s", name, es_why());
			return NULL;
		}
		progress();
	}
	return NULL;
}

/* Fills a store with the layout's events, in batches, 8 threads at once. */
static void store_prefill(const char *dir, const struct layout *L)
{
	es_store *st;
	enum { BATCH = 1000 };
	es_event_in *ev = calloc(BATCH, sizeof *ev);
	char *data = malloc((size_t)BATCH * (DATA_LEN + 1));
	int err = es_open(dir, NULL, &st);

	if (err)
		die("cannot open a store in %s: %s", dir, es_why());
	if (!ev || !data)
		die("out of memory");
	if (L->big && (err = es_stream_create(st, BIG_STREAM, strlen(BIG_STREAM))))
		die("prefill: %s", es_why());
	for (uint64_t off = 0; off < L->big; off += BATCH) {
		size_t n = L->big - off < BATCH ? L->big - off : BATCH;
		for (size_t i = 0; i < n; i++) {
			char *d = data + i * (DATA_LEN + 1);
			ev[i] = (es_event_in){.type = "OrderPlaced", .type_len = 11, .data = d};
			ev[i].data_len = make_data(d, off + i);
		}
		if ((err = es_append(st, BIG_STREAM, strlen(BIG_STREAM), (int64_t)off, ev, n, NULL)))
			die("prefill: %s", es_why());
		progress();
	}
	pthread_t th[WRITERS];
	struct pf_job jobs[WRITERS];
	for (int t = 0; t < WRITERS; t++) {
		jobs[t] = (struct pf_job){.st = st, .L = L, .t = t, .nt = WRITERS};
		if (pthread_create(&th[t], NULL, prefill_small, &jobs[t]) != 0)
			die("pthread_create failed");
	}
	for (int t = 0; t < WRITERS; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < WRITERS; t++)
		if (jobs[t].err[0])
			die("prefill: %s", jobs[t].err);
	es_close(st);
	free(ev);
	free(data);
}

/* ---- Plain files. -------------------------------------------------------- */

static int open_dir(const char *path)
{
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Writes the layout's events as files streams/S/VERSION, each hard-linked
 * as all/POSITION, without fsync; then syncs the filesystem once. */
static void files_prefill(struct sysctx *c)
{
	char path[PATH_MAX], stream[32], sname[64], pname[32], data[DATA_LEN + 1], line[1024];
	uint64_t rng = 42, ver;

	fmt(path, sizeof path, "%s/streams", c->data);
	int sfd = open_dir(path);
	fmt(path, sizeof path, "%s/all", c->data);
	int afd = open_dir(path);
	if (sfd < 0 || afd < 0)
		die("%s: %s", c->data, strerror(errno));
	for (uint64_t i = 0; i < c->L.n; i++) {
		event_at(&c->L, i, stream, &ver);
		if (ver == 1 && mkdirat(sfd, stream, 0755) != 0)
			die("mkdir %s/%s: %s", c->data, stream, strerror(errno));
		make_data(data, i);
		size_t len = make_line(line, sizeof line, stream, ver, i + 1, data, &rng);
		snprintf(sname, sizeof sname, "%s/%020" PRIu64, stream, ver);
		snprintf(pname, sizeof pname, "%020" PRIu64, i + 1);
		int fd = openat(sfd, sname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd < 0 || write(fd, line, len) != (ssize_t)len || close(fd) != 0 ||
		    linkat(sfd, sname, afd, pname, 0) != 0)
			die("prefill %s/streams/%s: %s", c->data, sname, strerror(errno));
		if (i % 1000 == 0)
			progress();
	}
	syncfs(sfd);
	close(sfd);
	close(afd);
	atomic_store(&c->gpos, c->L.n);
}

/* ---- PostgreSQL. --------------------------------------------------------- */

static const char *const pg_schema[] = {
	"CREATE TABLE events (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), "
	"stream_id VARCHAR(255) NOT NULL, stream_type VARCHAR(255) NOT NULL, "
	"event_type VARCHAR(255) NOT NULL, event_data JSONB NOT NULL, "
	"metadata JSONB DEFAULT '{}', version BIGINT NOT NULL, "
	"global_position BIGSERIAL, created_at TIMESTAMPTZ DEFAULT NOW(), "
	"CONSTRAINT unique_stream_version UNIQUE (stream_id, version))",
	"CREATE INDEX idx_events_stream ON events(stream_id, version)",
	"CREATE INDEX idx_events_global ON events(global_position)",
	"CREATE INDEX idx_events_type ON events(event_type)",
};

/* pg-counter: the same table, whose global_position an append takes from a
 * one-row counter instead of the sequence. */
static const char *const pg_counter_schema[] = {
	"ALTER TABLE events ALTER COLUMN global_position DROP DEFAULT",
	"DROP SEQUENCE events_global_position_seq",
	"CREATE TABLE head (pos BIGINT NOT NULL)",
};

/* An append: the expected version is checked in the same statement, which
 * is its own transaction; UNIQUE (stream_id, version) catches a concurrent
 * append, and with Expected-Version any that unique violation is retried. */
#define PG_INSERT "INSERT INTO events (stream_id, stream_type, event_type, event_data, version) " \
	"SELECT $1::varchar, $2::varchar, $3::varchar, $4::jsonb, m.v + 1 FROM " \
	"(SELECT coalesce(max(version), 0) AS v FROM events WHERE stream_id = $1::varchar) m "
/* pg-counter's append, also one statement: the UPDATE of the counter row
 * (head) holds that row's lock, as SELECT … FOR UPDATE would, until the
 * commit, and gives the position; so positions are gapless and in commit
 * order, as esfs-pg's (its esfs_head), and appends are serialized. A
 * failed expected version updates nothing and inserts nothing; a unique
 * violation rolls the counter back with the insert. */
#define PG_COUNTER_VERSION "WITH m AS (SELECT coalesce(max(version), 0) AS v FROM events " \
	"WHERE stream_id = $1::varchar), "
#define PG_COUNTER_INSERT "INSERT INTO events (stream_id, stream_type, event_type, event_data, " \
	"version, global_position) SELECT $1::varchar, $2::varchar, $3::varchar, $4::jsonb, " \
	"(SELECT v FROM m) + 1, h.pos FROM h RETURNING version, global_position"
#define PG_COLUMNS "SELECT id, stream_id, stream_type, event_type, event_data, metadata, " \
	"version, global_position, created_at FROM events "

/* The appends, [pg-counter][Expected-Version any]: name and statement. */
static const char *const pg_append[2][2][2] = {
	{{"app_exact", PG_INSERT "WHERE m.v = $5::bigint RETURNING version, global_position"},
	 {"app_any", PG_INSERT "RETURNING version, global_position"}},
	{{"app_exact", PG_COUNTER_VERSION "h AS (UPDATE head SET pos = pos + 1 "
	  "WHERE (SELECT v FROM m) = $5::bigint RETURNING pos) " PG_COUNTER_INSERT},
	 {"app_any", PG_COUNTER_VERSION "h AS (UPDATE head SET pos = pos + 1 RETURNING pos) "
	  PG_COUNTER_INSERT}},
};

static const char *const pg_prepared[][2] = {
	{"get_pos", PG_COLUMNS "WHERE global_position = $1::bigint"},
	{"get_sv", PG_COLUMNS "WHERE stream_id = $1::varchar AND version = $2::bigint"},
	{"get_page", PG_COLUMNS "WHERE global_position > $1::bigint ORDER BY global_position LIMIT 1000"},
};

static const char *const pg_list_sql[4] = {
	"SELECT global_position FROM events ORDER BY global_position",
	"SELECT global_position, octet_length(event_data::text), created_at FROM events ORDER BY global_position",
	"SELECT version FROM events WHERE stream_id = '" BIG_STREAM "' ORDER BY version",
	"SELECT version, octet_length(event_data::text), created_at FROM events WHERE stream_id = '"
	BIG_STREAM "' ORDER BY version",
};

/* Finds the server binaries; sets g_pg_skip when there are none. */
static void pg_find(void)
{
	glob_t g;

	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
		snprintf(g_pg_skip, sizeof g_pg_skip,
			 "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb); `make bench-deps` installs them");
		return;
	}
	/* The newest version: compare the numbers, not the text. */
	size_t best = 0;
	for (size_t i = 1; i < g.gl_pathc; i++)
		if (atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/")) >
		    atoi(g.gl_pathv[best] + strlen("/usr/lib/postgresql/")))
			best = i;
	snprintf(g_pgbin, sizeof g_pgbin, "%.*s", (int)(strlen(g.gl_pathv[best]) - strlen("/initdb")),
		 g.gl_pathv[best]);
	fmt(g_pgctl, sizeof g_pgctl, "%s/pg_ctl", g_pgbin);
	globfree(&g);
	if (geteuid() == 0) {	/* PostgreSQL refuses to run as root */
		struct passwd *pw = getpwnam("postgres");
		if (!pw) {
			snprintf(g_pg_skip, sizeof g_pg_skip,
				 "running as root and there is no user postgres to run the server as");
			return;
		}
		g_pg_drop = 1;
		g_pg_uid = pw->pw_uid;
		g_pg_gid = pw->pw_gid;
	}
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("cannot find a free port: %s", strerror(errno));
	close(fd);
	return ntohs(a.sin_port);
}

static void pg_prepare_all(PGconn *conn)
{
	for (size_t i = 0; i < sizeof pg_prepared / sizeof *pg_prepared; i++) {
		PGresult *r = PQprepare(conn, pg_prepared[i][0], pg_prepared[i][1], 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			die("PostgreSQL: prepare %s: %s", pg_prepared[i][0], PQerrorMessage(conn));
		PQclear(r);
	}
}

/* A connection; with the statements prepared once the table exists. */
static PGconn *pg_connect(struct sysctx *c, int prepare)
{
	PGconn *conn = PQconnectdb(c->conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
		die("cannot connect to PostgreSQL: %s", PQerrorMessage(conn));
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	if (prepare)
		pg_prepare_all(conn);
	return conn;
}

static void pg_exec(PGconn *conn, const char *sql)
{
	PGresult *r = PQexec(conn, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die("PostgreSQL: %s: %s", sql, PQerrorMessage(conn));
	PQclear(r);
}

static void pg_server_start(void)
{
	char opts[PATH_MAX + 128], log[PATH_MAX];

	fmt(opts, sizeof opts, "-h 127.0.0.1 -p %d -k '%s'", g_pgport, g_pgdir);
	fmt(log, sizeof log, "%s/server.log", g_pgdir);
	char *av[] = {g_pgctl, "-D", g_pgdata, "-l", log, "-w", "-t", "120", "-o", opts, "start", NULL};
	struct sp o = {.out = "/dev/null", .as_pg = 1, .session = 1};
	g_pg_running = 1;
	if (run(av, &o) != 0) {
		tail_log(log, 10);
		die("pg_ctl start failed");
	}
}

static void pg_server_stop(void)
{
	char *av[] = {g_pgctl, "-D", g_pgdata, "-m", "fast", "-w", "-t", "120", "stop", NULL};
	struct sp o = {.out = "/dev/null", .as_pg = 1, .session = 1};

	if (run(av, &o) != 0)
		fprintf(stderr, "esfs-bench: pg_ctl stop failed\n");
	g_pg_running = 0;
}

/* The run's server, running: made with initdb in the temporary directory
 * the first time, with its default settings, listening on a free loopback
 * port and on a unix socket in that directory. */
static void pg_server(void)
{
	char initdb[PATH_MAX], log[PATH_MAX];

	if (g_pg_running)
		return;
	if (!g_pgdir[0]) {
		fmt(g_pgdir, sizeof g_pgdir, "%s/pg-server", g_base);
		if (mkdir(g_pgdir, 0755) != 0)
			die("mkdir %s: %s", g_pgdir, strerror(errno));
		if (g_pg_drop && chown(g_pgdir, g_pg_uid, g_pg_gid) != 0)
			die("chown %s: %s", g_pgdir, strerror(errno));
		fmt(g_pgdata, sizeof g_pgdata, "%s/data", g_pgdir);
		fmt(initdb, sizeof initdb, "%s/initdb", g_pgbin);
		fmt(log, sizeof log, "%s/initdb.log", g_pgdir);
		char *av[] = {initdb, "-D", g_pgdata, "-U", PG_USER, "-A", "trust", "-E", "UTF8",
			      "--no-locale", NULL};
		struct sp o = {.out = log, .err = log, .as_pg = 1, .session = 1};
		if (run(av, &o) != 0) {
			tail_log(log, 10);
			die("initdb failed");
		}
		g_pgport = free_port();
	}
	pg_server_start();
}

/* Runs sql in the server's database postgres. */
static void pg_admin(const char *sql)
{
	char conninfo[PATH_MAX + 128];

	fmt(conninfo, sizeof conninfo, "host=%s port=%d user=" PG_USER " dbname=postgres", g_pgdir,
	    g_pgport);
	PGconn *conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
		die("cannot connect to PostgreSQL: %s", PQerrorMessage(conn));
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	pg_exec(conn, sql);
	PQfinish(conn);
}

/* A new database of the run's server for c, named after the system and
 * the size: c->db, c->conninfo. */
static void pg_database(struct sysctx *c)
{
	char sql[128];

	pg_server();
	snprintf(c->db, sizeof c->db, "%s_%" PRIu64, sys_name[c->sys], c->L.n);
	for (char *p = c->db; *p; p++)
		if (*p == '-')
			*p = '_';
	fmt(sql, sizeof sql, "CREATE DATABASE %s", c->db);
	pg_admin(sql);
	fmt(c->conninfo, sizeof c->conninfo, "host=%s port=%d user=" PG_USER " dbname=%s", g_pgdir,
	    g_pgport, c->db);
}

/* Drops c's database (kept with --keep); the server runs on. */
static void pg_database_drop(struct sysctx *c)
{
	char sql[128];

	if (c->conn) {
		PQfinish(c->conn);
		c->conn = NULL;
	}
	if (g_keep || !c->db[0] || !g_pg_running)
		return;
	fmt(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", c->db);
	pg_admin(sql);
}

/* Restarts the server, with the kernel's caches dropped in between: the
 * next reads are cold. */
static void pg_server_cold(void)
{
	pg_server_stop();
	drop_caches();
	pg_server_start();
}

/* pg, pg-counter: a database of the run's server, the table, the layout's
 * events COPYed in (pg-counter: with their positions, and the counter at
 * the last). */
static void pg_setup(struct sysctx *c)
{
	int counter = c->sys == SYS_PGC;

	pg_database(c);
	c->conn = pg_connect(c, 0);
	for (size_t i = 0; i < sizeof pg_schema / sizeof *pg_schema; i++)
		pg_exec(c->conn, pg_schema[i]);
	for (size_t i = 0; counter && i < sizeof pg_counter_schema / sizeof *pg_counter_schema; i++)
		pg_exec(c->conn, pg_counter_schema[i]);
	pg_prepare_all(c->conn);

	PGresult *r = PQexec(c->conn, counter ? "COPY events (stream_id, stream_type, event_type, "
				 "event_data, version, global_position) FROM STDIN"
			     : "COPY events (stream_id, stream_type, event_type, event_data, version) FROM STDIN");
	if (PQresultStatus(r) != PGRES_COPY_IN)
		die("PostgreSQL: COPY: %s", PQerrorMessage(c->conn));
	PQclear(r);
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap), stream[32], data[DATA_LEN + 1];
	uint64_t ver;
	if (!buf)
		die("out of memory");
	for (uint64_t i = 0; i < c->L.n; i++) {
		event_at(&c->L, i, stream, &ver);
		make_data(data, i);
		len += (size_t)sprintf(buf + len, "%s\t%.*s\tOrderPlaced\t%s\t%" PRIu64, stream,
				       (int)strcspn(stream, "-"), stream, data, ver);
		len += (size_t)(counter ? sprintf(buf + len, "\t%" PRIu64 "\n", i + 1)
					: sprintf(buf + len, "\n"));
		if (len > cap - 1024) {
			if (PQputCopyData(c->conn, buf, (int)len) != 1)
				die("PostgreSQL: COPY: %s", PQerrorMessage(c->conn));
			len = 0;
			progress();
		}
	}
	if ((len && PQputCopyData(c->conn, buf, (int)len) != 1) || PQputCopyEnd(c->conn, NULL) != 1)
		die("PostgreSQL: COPY: %s", PQerrorMessage(c->conn));
	free(buf);
	while ((r = PQgetResult(c->conn))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			die("PostgreSQL: COPY: %s", PQerrorMessage(c->conn));
		PQclear(r);
	}
	if (counter) {
		char sql[64];
		fmt(sql, sizeof sql, "INSERT INTO head VALUES (%" PRIu64 ")", c->L.n);
		pg_exec(c->conn, sql);
	}
	pg_exec(c->conn, "VACUUM ANALYZE");
	pg_exec(c->conn, "CHECKPOINT");
}

/* esfs-pg: a database of the run's server, which the store library fills
 * (es_open makes esfs's schema), then esfs mounted on its URI. */
static void esfs_pg_setup(struct sysctx *c)
{
	pg_database(c);
	fmt(c->data, sizeof c->data, "postgresql:///%s?host=%s&port=%d&user=" PG_USER, c->db, g_pgdir,
	    g_pgport);
	store_prefill(c->data, &c->L);
	c->conn = pg_connect(c, 0);
	pg_exec(c->conn, "VACUUM ANALYZE");	/* as the pg systems' tables */
	pg_exec(c->conn, "CHECKPOINT");
	PQfinish(c->conn);
	c->conn = NULL;
	esfs_mount(c, 0);
}

/* ---- limit: the disk's ceiling for durable appends. ---------------------- *
 * Each event's line is written with pwrite at the end of a log file whose
 * blocks were allocated (zeros written and fdatasynced) before the timed
 * part, so an append overwrites allocated blocks and its fdatasync flushes
 * data and no metadata. A group commit makes the lines durable: a writer
 * waits until an fdatasync that began after its pwrite has returned. The
 * group is full when every writer has written a line not yet durable: the
 * writer that fills it runs the fdatasync, for every line written so far.
 * So W1 has one event per fdatasync, and W2 and W3 have 8, as many as their
 * 8 concurrent appends can share. (Starting the fdatasync as soon as none
 * runs halves the groups: the writers that one fdatasync wakes miss the
 * next, which has started at once.) */

static void limit_open(struct sysctx *c)
{
	fmt(c->data, sizeof c->data, "%s/log", c->dir);
	c->lfd = open(c->data, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c->lfd < 0)
		die("%s: %s", c->data, strerror(errno));
	if (pthread_mutex_init(&c->lk, NULL) != 0 || pthread_cond_init(&c->synced_cv, NULL) != 0)
		die("pthread_mutex_init failed");
	atomic_store(&c->gpos, c->L.n);	/* positions as long as the others' */
}

/* Writes zeros over the log's first bytes and makes them durable; the next
 * appends, by nwriters writers, start at byte 0 again. */
static void limit_prealloc(struct sysctx *c, uint64_t bytes, int nwriters)
{
	static const char zeros[1 << 16];

	for (uint64_t o = 0; o < bytes; o += sizeof zeros) {
		size_t n = bytes - o < sizeof zeros ? (size_t)(bytes - o) : sizeof zeros;
		if (pwrite(c->lfd, zeros, n, (off_t)o) != (ssize_t)n)
			die("preallocating %s: %s", c->data, strerror(errno));
	}
	if (fdatasync(c->lfd) != 0)
		die("fdatasync %s: %s", c->data, strerror(errno));
	c->off = c->written = c->synced = c->flushes = 0;
	c->cap = bytes;
	c->flush_err = 0;
	c->writers = nwriters;
}

/* A writer has finished: the groups are one smaller. */
static void limit_leave(struct sysctx *c)
{
	pthread_mutex_lock(&c->lk);
	c->writers--;
	pthread_cond_broadcast(&c->synced_cv);
	pthread_mutex_unlock(&c->lk);
}

/* Appends len bytes and returns once they are durable: 0 or an errno. */
static int limit_write(struct sysctx *c, const char *buf, size_t len)
{
	int err = 0;

	pthread_mutex_lock(&c->lk);
	if (c->off + len > c->cap) {
		err = ENOSPC;	/* the preallocated bytes are used up */
	} else {
		ssize_t w = pwrite(c->lfd, buf, len, (off_t)c->off);
		if (w != (ssize_t)len)
			err = w < 0 ? errno : EIO;
	}
	c->off += err ? 0 : len;
	uint64_t me = err ? 0 : ++c->written;
	while (!err && c->synced < me) {
		if ((err = c->flush_err))
			break;
		if (c->flushing || c->written - c->synced < (uint64_t)c->writers) {
			pthread_cond_wait(&c->synced_cv, &c->lk);
			continue;
		}
		uint64_t upto = c->written;	/* every line written before it starts */
		c->flushing = 1;
		pthread_mutex_unlock(&c->lk);
		int rc = fdatasync(c->lfd), e = errno;
		pthread_mutex_lock(&c->lk);
		c->flushing = 0;
		c->flushes++;
		if (rc != 0)
			c->flush_err = e;
		else
			c->synced = upto;
		pthread_cond_broadcast(&c->synced_cv);
	}
	pthread_mutex_unlock(&c->lk);
	return err;
}

/* ---- Setting a system up and down. --------------------------------------- */

static void mkdir_or_die(const char *path)
{
	if (mkdir(path, 0755) != 0)
		die("mkdir %s: %s", path, strerror(errno));
}

static void setup(struct sysctx *c)
{
	char path[PATH_MAX];
	const char *name = sys_name[c->sys];

	fmt(c->dir, sizeof c->dir, "%s/%s-%" PRIu64, c->sys == SYS_TMPFS ? g_shm : g_base, name, c->L.n);
	mkdir_or_die(c->dir);
	if (mounted(c))
		for (int k = 0; k < 2; k++) {
			fmt(c->d[k].mnt, sizeof c->d[k].mnt, "%s/mnt%s", c->dir, k ? "-b" : "");
			fmt(c->d[k].log, sizeof c->d[k].log, "%s/esfs%s.log", c->dir, k ? "-b" : "");
			mkdir_or_die(c->d[k].mnt);
		}
	switch (c->sys) {
	case SYS_ESFS:
		fmt(c->data, sizeof c->data, "%s/store", c->dir);
		store_prefill(c->data, &c->L);
		esfs_mount(c, 0);
		break;
	case SYS_ESFS_PG:
		esfs_pg_setup(c);
		break;
	case SYS_STORE:
		fmt(c->data, sizeof c->data, "%s/store", c->dir);
		store_prefill(c->data, &c->L);
		if (es_open(c->data, NULL, &c->st))
			die("%s: %s", c->data, es_why());
		break;
	case SYS_FILES:
	case SYS_TMPFS:
		c->durable = c->sys == SYS_FILES;
		fmt(c->data, sizeof c->data, "%s/tree", c->dir);
		mkdir_or_die(c->data);
		fmt(path, sizeof path, "%s/all", c->data);
		mkdir_or_die(path);
		fmt(path, sizeof path, "%s/streams", c->data);
		mkdir_or_die(path);
		files_prefill(c);
		break;
	case SYS_PG:
	case SYS_PGC:
		pg_setup(c);
		break;
	case SYS_LIMIT:
		limit_open(c);	/* no prefill: an append to a log does not look at it */
		break;
	}
}

static void teardown(struct sysctx *c)
{
	for (int k = 0; k < 2; k++)
		if (mounted(c) && c->d[k].pid > 0)
			esfs_unmount(c, k);
	switch (c->sys) {
	case SYS_STORE:
		es_close(c->st);
		c->st = NULL;
		break;
	case SYS_PG:
	case SYS_PGC:
	case SYS_ESFS_PG:
		pg_database_drop(c);
		break;
	case SYS_LIMIT:
		close(c->lfd);
		pthread_mutex_destroy(&c->lk);
		pthread_cond_destroy(&c->synced_cv);
		break;
	}
	if (!g_keep)
		remove_tree(c->dir);
}

/* A writer of the store that dies by SIGKILL after one append. */
static void die_writing(struct sysctx *c)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		es_store *s;
		es_event_in e = {.type = "Recovered", .type_len = 9, .data = "{}", .data_len = 2};
		if (es_open(c->data, NULL, &s) != 0)
			_exit(1);
		int err = es_stream_create(s, "Recover-1", 9);
		if ((err && err != EEXIST) || es_append(s, "Recover-1", 9, ES_ANY, &e, 1, NULL) != 0)
			_exit(1);
		kill(getpid(), SIGKILL);	/* no es_close */
		_exit(1);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		die("the dying writer failed");
}

/* Recovery, of the store library at this size: the time of es_open after
 * a writer was killed (the index trusted, the log's tail replayed), and
 * after a power cut (the state naming another boot, as after a reboot, and
 * the page cache dropped: the index rebuilt from the whole log). */
static void recovery(struct sysctx *c)
{
	char path[PATH_MAX];
	FILE *f;

	phase("recovery of the store at %" PRIu64 " events", c->L.n);
	es_close(c->st);
	c->st = NULL;
	for (int cut = 0; cut < 2; cut++) {
		die_writing(c);
		if (cut) {	/* the state names another boot, as after a reboot */
			fmt(path, sizeof path, "%s/state", c->data);
			if (!(f = fopen(path, "w")) || fputs("open before-the-cut\n", f) < 0 ||
			    fclose(f) != 0)
				die("%s: %s", path, strerror(errno));
			drop_caches();
		}
		uint64_t t0 = now_ns();
		if (es_open(c->data, NULL, &c->st))
			die("%s: %s", c->data, es_why());
		g_recover[c->si][cut] = (double)(now_ns() - t0) / 1e9;
		fprintf(stderr, "esfs-bench: size %" PRIu64 ": es_open after %s: %.3f s\n", c->L.n,
			cut ? "a power cut" : "kill -9", g_recover[c->si][cut]);
		if (!cut) {
			es_close(c->st);
			c->st = NULL;
		}
	}
}

/* Makes the next reads cold: restarts whatever holds a cache of its own
 * (the esfs daemon's and our own mapping of the store, PostgreSQL's shared
 * buffers, and for esfs-pg both), and drops the kernel's caches in
 * between. */
static void go_cold(struct sysctx *c)
{
	switch (c->sys) {
	case SYS_ESFS:
		esfs_unmount(c, 0);
		drop_caches();
		esfs_mount(c, 0);
		break;
	case SYS_ESFS_PG:
		esfs_unmount(c, 0);
		pg_server_cold();
		esfs_mount(c, 0);
		break;
	case SYS_STORE:
		es_close(c->st);
		drop_caches();
		if (es_open(c->data, NULL, &c->st))
			die("%s: %s", c->data, es_why());
		break;
	case SYS_PG:
	case SYS_PGC:
		PQfinish(c->conn);
		pg_server_cold();
		c->conn = pg_connect(c, 1);
		break;
	default:
		drop_caches();
	}
}

/* ---- Writers: W1, W2, W3. ------------------------------------------------ */

struct wjob {
	struct sysctx *c;
	int host;		/* esfs-pg: the daemon it writes through, 0 or 1 */
	char stream[64];
	int any;
	uint64_t nops, seq0;
	uint64_t deadline;
	pthread_barrier_t *bar;
	_Atomic uint64_t *hint;	/* files, any: the stream's version, as known */
	uint64_t *lat;
	size_t nlat;
	unsigned long retries;
	char err[300];
	/* the writer's state */
	int fd, sfd, afd;
	uint64_t ver, rng;
	PGconn *pg;
	char buf[LINE_CAP], data[DATA_LEN + 1];
};

static void create_stream(struct sysctx *c, const char *name)
{
	char path[PATH_MAX];

	switch (c->sys) {
	case SYS_ESFS:
	case SYS_ESFS_PG:
	case SYS_FILES:
	case SYS_TMPFS:
		fmt(path, sizeof path, "%s/streams/%s", tree(c), name);
		if (mkdir(path, 0755) != 0)
			die("mkdir %s: %s", path, strerror(errno));
		break;
	case SYS_STORE:
		if (es_stream_create(c->st, name, strlen(name)))
			die("es_stream_create %s: %s", name, es_why());
		break;
	}
}

static int writer_open(struct wjob *j)
{
	struct sysctx *c = j->c;
	char path[PATH_MAX];

	j->fd = j->sfd = j->afd = -1;
	switch (c->sys) {
	case SYS_ESFS:
	case SYS_ESFS_PG:
		fmt(path, sizeof path, "%s/streams/%s/new", c->d[j->host].mnt, j->stream);
		if ((j->fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
			return msg(j->err, sizeof j->err, "open %s: %s", path, strerror(errno)), -1;
		break;
	case SYS_FILES:
	case SYS_TMPFS:
		fmt(path, sizeof path, "%s/streams/%s", c->data, j->stream);
		j->sfd = open_dir(path);
		fmt(path, sizeof path, "%s/all", c->data);
		j->afd = open_dir(path);
		if (j->sfd < 0 || j->afd < 0)
			return msg(j->err, sizeof j->err, "open %s: %s", path, strerror(errno)), -1;
		break;
	case SYS_PG:
	case SYS_PGC:
		j->pg = PQconnectdb(c->conninfo);
		if (PQstatus(j->pg) != CONNECTION_OK)
			return msg(j->err, sizeof j->err, "connect: %s", PQerrorMessage(j->pg)), -1;
		const char *const *app = pg_append[c->sys == SYS_PGC][j->any];
		PGresult *r = PQprepare(j->pg, app[0], app[1], 0, NULL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok)
			return msg(j->err, sizeof j->err, "prepare: %s", PQerrorMessage(j->pg)), -1;
		break;
	}
	return 0;
}

static void writer_close(struct wjob *j)
{
	if (j->fd >= 0 && close(j->fd) != 0 && !j->err[0])
		msg(j->err, sizeof j->err, "close: %s", strerror(errno));
	if (j->sfd >= 0)
		close(j->sfd);
	if (j->afd >= 0)
		close(j->afd);
	if (j->pg)
		PQfinish(j->pg);
	if (j->c->sys == SYS_LIMIT)
		limit_leave(j->c);
}

/* One durable append of event seq; 0 or -1 with j->err set. */
static int writer_append(struct wjob *j, uint64_t seq)
{
	struct sysctx *c = j->c;
	size_t dlen = make_data(j->data, seq);

	switch (c->sys) {
	case SYS_ESFS:
	case SYS_ESFS_PG: {
		int n = j->any ? snprintf(j->buf, sizeof j->buf,
					  "Expected-Version: any\nEvent-Type: OrderPlaced\n\n%s\n", j->data)
			       : snprintf(j->buf, sizeof j->buf,
					  "Expected-Version: %" PRIu64 "\nEvent-Type: OrderPlaced\n\n%s\n",
					  j->ver, j->data);
		ssize_t w = write(j->fd, j->buf, (size_t)n);
		if (w != n)
			return msg(j->err, sizeof j->err, "write of a %d-byte message to streams/%s/new: %s",
					n, j->stream, w < 0 ? strerror(errno) : "short count"), -1;
		j->ver++;
		return 0;
	}
	case SYS_STORE: {
		es_event_in ev = {.type = "OrderPlaced", .type_len = 11, .data = j->data, .data_len = dlen};
		if (es_append(c->st, j->stream, strlen(j->stream), j->any ? ES_ANY : (int64_t)j->ver, &ev, 1, NULL))
			return msg(j->err, sizeof j->err, "es_append: %s", es_why()), -1;
		j->ver++;
		return 0;
	}
	case SYS_FILES:
	case SYS_TMPFS:
		for (;;) {
			char vname[32], pname[32];
			uint64_t v = (j->any ? atomic_load(j->hint) : j->ver) + 1;
			snprintf(vname, sizeof vname, "%020" PRIu64, v);
			int fd = openat(j->sfd, vname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
			if (fd < 0 && errno == EEXIST && j->any) {
				/* another writer took v: move the hint on, try again */
				uint64_t h = v - 1;
				atomic_compare_exchange_strong(j->hint, &h, v);
				j->retries++;
				continue;
			}
			if (fd < 0)
				return msg(j->err, sizeof j->err, "create %s/%s: %s", j->stream, vname,
						strerror(errno)), -1;
			uint64_t pos = atomic_fetch_add(&c->gpos, 1) + 1;
			size_t len = make_line(j->buf, sizeof j->buf, j->stream, v, pos, j->data, &j->rng);
			snprintf(pname, sizeof pname, "%020" PRIu64, pos);
			int bad = write(fd, j->buf, len) != (ssize_t)len ||
				  linkat(j->sfd, vname, j->afd, pname, 0) != 0 ||
				  (c->durable && (fsync(fd) != 0 || fsync(j->sfd) != 0 || fsync(j->afd) != 0));
			int e = errno;
			close(fd);
			if (bad)
				return msg(j->err, sizeof j->err, "append %s/%s: %s", j->stream, vname,
						strerror(e)), -1;
			j->ver = v;
			if (j->any) {
				uint64_t h = atomic_load(j->hint);
				while (h < v && !atomic_compare_exchange_weak(j->hint, &h, v))
					;
			}
			return 0;
		}
	case SYS_PG:
	case SYS_PGC:
		for (;;) {
			char verbuf[24], type[64];
			snprintf(verbuf, sizeof verbuf, "%" PRIu64, j->ver);
			snprintf(type, sizeof type, "%.*s", (int)strcspn(j->stream, "-"), j->stream);
			const char *vals[5] = {j->stream, type, "OrderPlaced", j->data, verbuf};
			PGresult *r = PQexecPrepared(j->pg, pg_append[c->sys == SYS_PGC][j->any][0],
						     j->any ? 4 : 5, vals,
						     NULL, NULL, 0);
			ExecStatusType st = PQresultStatus(r);
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			if (st == PGRES_TUPLES_OK && PQntuples(r) == 1) {
				PQclear(r);
				j->ver++;
				return 0;
			}
			if (st == PGRES_FATAL_ERROR && state && !strcmp(state, "23505") && j->any) {
				PQclear(r);
				j->retries++;
				continue;
			}
			msg(j->err, sizeof j->err, "append to %s: %s", j->stream,
				 st == PGRES_TUPLES_OK ? "wrong expected version" : PQerrorMessage(j->pg));
			PQclear(r);
			return -1;
		}
	case SYS_LIMIT: {
		uint64_t v = j->any ? atomic_fetch_add(j->hint, 1) + 1 : j->ver + 1;
		uint64_t pos = atomic_fetch_add(&c->gpos, 1) + 1;
		size_t len = make_line(j->buf, sizeof j->buf, j->stream, v, pos, j->data, &j->rng);
		int err = len ? limit_write(c, j->buf, len) : ENAMETOOLONG;
		if (err)
			return msg(j->err, sizeof j->err, "append of %zu bytes to %s: %s", len, c->data,
					strerror(err)), -1;
		j->ver = v;
		return 0;
	}
	}
	return -1;
}

static void *writer_main(void *p)
{
	struct wjob *j = p;
	int ok = writer_open(j) == 0;

	pthread_barrier_wait(j->bar);
	if (!ok) {
		writer_close(j);
		return NULL;
	}
	for (uint64_t i = 0; i < j->nops; i++) {
		if (i && now_ns() > j->deadline)
			break;
		uint64_t t0 = now_ns();
		int rc = writer_append(j, j->seq0 + i);
		uint64_t t1 = now_ns();
		if (rc)
			break;
		j->lat[j->nlat++] = t1 - t0;
		progress();
	}
	writer_close(j);
	return NULL;
}

/* nthreads writers, each on a stream of its own or all on one, with an
 * exact Expected-Version or with any; g_ops appends in all. With hosts 2
 * (esfs-pg), writer t writes through daemon t % 2. */
static void w_writers(struct sysctx *c, int row, int nthreads, int one_stream, int any, int hosts)
{
	struct wjob *jobs = calloc((size_t)nthreads, sizeof *jobs);
	pthread_t *th = calloc((size_t)nthreads, sizeof *th);
	pthread_barrier_t bar;
	_Atomic uint64_t hint = 0;
	uint64_t per = g_ops / (uint64_t)nthreads ? g_ops / (uint64_t)nthreads : 1;
	char note[400] = "";

	if (!jobs || !th)
		die("out of memory");
	phase("%s on %s", row_name[row], sys_name[c->sys]);
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
	for (int t = 0; t < nthreads; t++) {
		struct wjob *j = &jobs[t];
		j->c = c;
		j->host = t % hosts;
		snprintf(j->stream, sizeof j->stream, "%s-%d", row_name[row], one_stream ? 1 : t + 1);
		if (t == 0 || !one_stream)
			create_stream(c, j->stream);
		j->any = any;
		j->nops = per;
		j->seq0 = 1000000000u * (uint64_t)(row + 1) + (uint64_t)t * per;
		j->bar = &bar;
		j->hint = &hint;
		j->rng = (uint64_t)t + 7;
		j->lat = malloc(per * sizeof *j->lat);
		if (!j->lat)
			die("out of memory");
	}
	if (c->sys == SYS_LIMIT)
		limit_prealloc(c, per * (uint64_t)nthreads * LINE_CAP, nthreads);
	for (int t = 0; t < nthreads; t++)
		if (pthread_create(&th[t], NULL, writer_main, &jobs[t]) != 0)
			die("pthread_create failed");
	uint64_t t0 = now_ns();
	for (int t = 0; t < nthreads; t++)	/* before they pass the barrier */
		jobs[t].deadline = t0 + (uint64_t)(g_max_seconds * 1e9);
	pthread_barrier_wait(&bar);
	t0 = now_ns();
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	pthread_barrier_destroy(&bar);

	size_t total = 0;
	unsigned long retries = 0;
	for (int t = 0; t < nthreads; t++) {
		total += jobs[t].nlat;
		retries += jobs[t].retries;
	}
	uint64_t *lat = malloc((total + 1) * sizeof *lat);
	if (!lat)
		die("out of memory");
	size_t k = 0;
	for (int t = 0; t < nthreads; t++) {
		memcpy(lat + k, jobs[t].lat, jobs[t].nlat * sizeof *lat);
		k += jobs[t].nlat;
		if (jobs[t].err[0] && !note[0])
			msg(note, sizeof note, "ERROR (writer %d after %zu appends): %s", t + 1,
				 jobs[t].nlat, jobs[t].err);
		free(jobs[t].lat);
	}
	if (note[0] && mounted(c)) {
		fprintf(stderr, "esfs-bench: %s %s: %s\n", row_name[row], sys_name[c->sys], note);
		tail_logs(c);
	}
	if (!note[0] && total < per * (uint64_t)nthreads)
		msg(note, sizeof note, "time cap: %zu of %" PRIu64 " appends", total,
			 per * (uint64_t)nthreads);
	if (retries) {
		size_t l = strlen(note);
		msg(note + l, sizeof note - l, "%s%lu retries (%s)", l ? "; " : "", retries,
			 pg_table(c) ? "unique violations" : "EEXIST on the version file");
	}
	if (c->sys == SYS_LIMIT && c->flushes) {
		size_t l = strlen(note);
		msg(note + l, sizeof note - l, "%s%" PRIu64 " fdatasyncs, %.2f events each", l ? "; " : "",
		    c->flushes, (double)total / (double)c->flushes);
	}
	record(row, c->sys, c->L.n, total, secs, lat, total, note);
	free(lat);
	free(jobs);
	free(th);
}

/* ---- Readers: W4, W6. ---------------------------------------------------- */

struct reader {
	struct sysctx *c;
	char buf[65536];
	char err[300];
};

/* open, read to the end, close: as cat does. */
static int read_file(struct reader *r, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return msg(r->err, sizeof r->err, "open %s: %s", path, strerror(errno)), -1;
	while ((n = read(fd, r->buf, sizeof r->buf)) > 0)
		total += n;
	int e = errno;
	close(fd);
	if (n < 0)
		return msg(r->err, sizeof r->err, "read %s: %s", path, strerror(e)), -1;
	if (total == 0)
		return msg(r->err, sizeof r->err, "read %s: empty", path), -1;
	return 0;
}

/* Copies row t's text into r->buf, as a client would take it. */
static void pg_take_row(struct reader *r, PGresult *res, int t)
{
	size_t k = 0;

	for (int f = 0; f < PQnfields(res); f++) {
		size_t len = (size_t)PQgetlength(res, t, f);
		if (k + len < sizeof r->buf) {
			memcpy(r->buf + k, PQgetvalue(res, t, f), len);
			k += len;
		}
	}
}

static int pg_read(struct reader *r, const char *stmt, int n, const char *const *vals)
{
	PGresult *res = PQexecPrepared(r->c->conn, stmt, n, vals, NULL, NULL, 0);
	int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;

	if (ok) {
		pg_take_row(r, res, 0);
	} else {
		msg(r->err, sizeof r->err, "%s %s: %s", stmt, vals[0],
			 PQresultStatus(res) == PGRES_TUPLES_OK ? "no such row" : PQerrorMessage(r->c->conn));
	}
	PQclear(res);
	return ok ? 0 : -1;
}

static int read_pos(struct reader *r, uint64_t pos)
{
	struct sysctx *c = r->c;
	char path[PATH_MAX], num[24];

	switch (c->sys) {
	case SYS_STORE: {
		es_read *rd;
		es_event ev;
		int err = es_read_begin(c->st, &rd);
		if (!err) {
			err = es_event_get(rd, pos, &ev);
			if (!err)
				memcpy(r->buf, ev.json, ev.json_len < sizeof r->buf ? ev.json_len : sizeof r->buf);
			es_read_end(rd);
		}
		if (err)
			return msg(r->err, sizeof r->err, "event %" PRIu64 ": %s", pos, es_why()), -1;
		return 0;
	}
	case SYS_PG:
	case SYS_PGC: {
		snprintf(num, sizeof num, "%" PRIu64, pos);
		const char *vals[1] = {num};
		return pg_read(r, "get_pos", 1, vals);
	}
	default:
		fmt(path, sizeof path, "%s/all/%020" PRIu64, tree(c), pos);
		return read_file(r, path);
	}
}

static int read_sv(struct reader *r, const char *stream, uint64_t ver)
{
	struct sysctx *c = r->c;
	char path[PATH_MAX], num[24];

	switch (c->sys) {
	case SYS_STORE: {
		es_read *rd;
		es_stream st;
		es_event ev;
		int err = es_read_begin(c->st, &rd);
		if (!err) {
			err = es_stream_get(rd, stream, strlen(stream), &st);
			if (!err)
				err = es_stream_event(rd, st.id, ver, &ev);
			if (!err)
				memcpy(r->buf, ev.json, ev.json_len < sizeof r->buf ? ev.json_len : sizeof r->buf);
			es_read_end(rd);
		}
		if (err)
			return msg(r->err, sizeof r->err, "%s version %" PRIu64 ": %s", stream, ver,
					es_why()), -1;
		return 0;
	}
	case SYS_PG:
	case SYS_PGC: {
		snprintf(num, sizeof num, "%" PRIu64, ver);
		const char *vals[2] = {stream, num};
		return pg_read(r, "get_sv", 2, vals);
	}
	default:
		fmt(path, sizeof path, "%s/streams/%s/%020" PRIu64, tree(c), stream, ver);
		return read_file(r, path);
	}
}

/* The global positions there are: 1 … head, except in PostgreSQL, whose
 * sequence skips the numbers of failed inserts. */
static uint64_t *positions(struct sysctx *c, size_t *n)
{
	uint64_t head = 0, *pos;

	switch (c->sys) {
	case SYS_ESFS:
	case SYS_ESFS_PG: {
		char path[PATH_MAX];
		struct stat st;
		fmt(path, sizeof path, "%s/all", tree(c));
		if (stat(path, &st) != 0)
			die("stat %s: %s", path, strerror(errno));
		head = (uint64_t)st.st_size;	/* all/'s size is the last position */
		break;
	}
	case SYS_STORE: {
		es_read *rd;
		int64_t when;
		if (es_read_begin(c->st, &rd) || es_head(rd, &head, &when))
			die("es_head: %s", es_why());
		es_read_end(rd);
		break;
	}
	case SYS_PG:
	case SYS_PGC: {
		PGresult *r = PQexec(c->conn, "SELECT global_position FROM events ORDER BY global_position");
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die("PostgreSQL: %s", PQerrorMessage(c->conn));
		*n = (size_t)PQntuples(r);
		if (!(pos = malloc((*n + 1) * sizeof *pos)))
			die("out of memory");
		for (size_t i = 0; i < *n; i++)
			pos[i] = strtoull(PQgetvalue(r, (int)i, 0), NULL, 10);
		PQclear(r);
		return pos;
	}
	default:
		head = atomic_load(&c->gpos);
	}
	if (!(pos = malloc((head + 1) * sizeof *pos)))
		die("out of memory");
	for (uint64_t i = 0; i < head; i++)
		pos[i] = i + 1;
	*n = head;
	return pos;
}

/* Reads n events one at a time with one(r, i, arg), timing each, until
 * done or past the time cap; fills lat and note. Returns how many. */
static size_t timed_reads(struct reader *r, size_t n,
			  int (*one)(struct reader *r, size_t i, void *arg), void *arg,
			  uint64_t *lat, char *note, size_t note_size)
{
	uint64_t deadline = now_ns() + (uint64_t)(g_max_seconds * 1e9);
	size_t done = 0;

	for (; done < n; done++) {
		if (done && now_ns() > deadline)
			break;
		uint64_t t0 = now_ns();
		int rc = one(r, done, arg);
		uint64_t t1 = now_ns();
		if (rc) {
			msg(note, note_size, "ERROR after %zu reads: %s", done, r->err);
			break;
		}
		lat[done] = t1 - t0;
		progress();
	}
	return done;
}

static int read_nth_pos(struct reader *r, size_t i, void *pos)
{
	return read_pos(r, ((uint64_t *)pos)[i]);
}

/* W4: every event once, by global position. */
static void w_read_all(struct sysctx *c, int row)
{
	struct reader *r = calloc(1, sizeof *r);
	size_t n;
	uint64_t *pos = positions(c, &n);
	uint64_t *lat = malloc((n + 1) * sizeof *lat);
	char note[400] = "";

	if (!r || !lat)
		die("out of memory");
	phase("%s on %s", row_name[row], sys_name[c->sys]);
	r->c = c;
	uint64_t start = now_ns();
	size_t done = timed_reads(r, n, read_nth_pos, pos, lat, note, sizeof note);
	double secs = (double)(now_ns() - start) / 1e9;
	if (!note[0] && done < n)
		msg(note, sizeof note, "time cap: read %zu of %zu events", done, n);
	if (row == R_W4C && !g_dropped_ok) {
		size_t l = strlen(note);
		msg(note + l, sizeof note - l, "%scaches not dropped (not root)", l ? "; " : "");
	}
	record(row, c->sys, c->L.n, done, secs, lat, done, note);
	free(pos);
	free(lat);
	free(r);
}

/* W4-feed: the whole log in one pass, as a reader of everything would:
 * esfs's feed/0 read as cat reads it (a buffer of the file's st_blksize,
 * at least 128 KiB), a walk of the store library, PostgreSQL's pages of
 * 1000 by global position. Latencies are per read() or page. */
#define CAT_BUF (128u << 10)	/* coreutils cat's smallest buffer */
static int count_walked(void *arg, const es_event *ev)
{
	(void)ev;
	++*(uint64_t *)arg;
	return 0;
}

static void w_read_feed(struct sysctx *c)
{
	struct reader *r = calloc(1, sizeof *r);
	size_t cap = 1024, nlat = 0;
	uint64_t *lat = malloc(cap * sizeof *lat), events = 0, last = 0;
	char note[400] = "", path[PATH_MAX], num[24];
	int fd = -1;

	if (!r || !lat)
		die("out of memory");
	if (c->sys == SYS_FILES || c->sys == SYS_TMPFS) {	/* no feed: W4 is theirs */
		free(lat);
		free(r);
		return;
	}
	phase("W4-feed on %s", sys_name[c->sys]);
	r->c = c;
	char *buf = NULL;
	size_t size = CAT_BUF;
	if (mounted(c)) {
		struct stat st;
		fmt(path, sizeof path, "%s/feed/0", tree(c));
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0)
			msg(note, sizeof note, "ERROR: open %s: %s", path, strerror(errno));
		else if ((size_t)st.st_blksize > size)
			size = (size_t)st.st_blksize;
		if (!(buf = malloc(size)))
			die("out of memory");
	}
	uint64_t start = now_ns();
	while (!note[0]) {
		uint64_t t0 = now_ns(), got = 0;
		if (mounted(c)) {
			ssize_t n = read(fd, buf, size);
			if (n < 0)
				msg(note, sizeof note, "ERROR: read feed/0: %s", strerror(errno));
			for (ssize_t i = 0; i < n; i++)
				got += buf[i] == '\n';
			if (n <= 0)
				break;
		} else if (c->sys == SYS_STORE) {
			es_read *rd;
			if (es_read_begin(c->st, &rd) || es_log_walk(rd, 0, 0, count_walked, &got))
				msg(note, sizeof note, "ERROR: walk: %s", es_why());
			else
				es_read_end(rd);
		} else {
			snprintf(num, sizeof num, "%" PRIu64, last);
			const char *vals[1] = {num};
			PGresult *res = PQexecPrepared(c->conn, "get_page", 1, vals, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK) {
				msg(note, sizeof note, "ERROR: page after %s: %s", num, PQerrorMessage(c->conn));
			} else {
				got = (uint64_t)PQntuples(res);
				for (int t = 0; t < PQntuples(res); t++)
					pg_take_row(r, res, t);
				if (got)
					last = strtoull(PQgetvalue(res, (int)got - 1, 7), NULL, 10);
			}
			PQclear(res);
		}
		if (nlat == cap && !(lat = realloc(lat, (cap *= 2) * sizeof *lat)))
			die("out of memory");
		lat[nlat++] = now_ns() - t0;
		events += got;
		progress();
		if (c->sys == SYS_STORE || (pg_table(c) && got == 0))
			break;
	}
	double secs = (double)(now_ns() - start) / 1e9;
	if (fd >= 0)
		close(fd);
	if (!note[0] && events < c->L.n)
		msg(note, sizeof note, "ERROR: read %" PRIu64 " events, fewer than the %" PRIu64
		    " of the prefill", events, c->L.n);
	record(R_W4F, c->sys, c->L.n, events, secs, lat, nlat, note);
	free(buf);
	free(lat);
	free(r);
}

/* W6: random events by stream and version, of the prefill. */
static int read_random(struct reader *r, size_t i, void *rng)
{
	char stream[32];
	uint64_t ver;

	(void)i;
	event_at(&r->c->L, splitmix(rng) % r->c->L.n, stream, &ver);
	return read_sv(r, stream, ver);
}

static void w_random(struct sysctx *c)
{
	struct reader *r = calloc(1, sizeof *r);
	uint64_t *lat = malloc((g_reads + 1) * sizeof *lat), rng = 12345;
	char note[400] = "";

	if (!r || !lat)
		die("out of memory");
	phase("W6 on %s", sys_name[c->sys]);
	r->c = c;
	uint64_t start = now_ns();
	size_t done = c->L.n ? timed_reads(r, g_reads, read_random, &rng, lat, note, sizeof note) : 0;
	double secs = (double)(now_ns() - start) / 1e9;
	if (!note[0] && done < g_reads)
		msg(note, sizeof note, "time cap: %zu of %" PRIu64 " reads", done, g_reads);
	record(R_W6, c->sys, c->L.n, done, secs, lat, done, note);
	free(lat);
	free(r);
}

/* ---- Listings: W5. ------------------------------------------------------- */

struct lsarg {
	int longfmt;
	uint64_t count;
	size_t n;
	char out[8192];
};

/* What ls prints for one entry, written to a buffer that wraps. */
static int ls_entry(void *arg, const es_event *ev)
{
	struct lsarg *a = arg;
	char line[160], when[32];
	int n;

	if (a->longfmt) {
		es_time_format(ev->created_us, when);
		n = snprintf(line, sizeof line, "-r--r--r-- 2 root root %zu %s %020" PRIu64 "\n",
			     ev->json_len, when, a->count + 1);
	} else {
		n = snprintf(line, sizeof line, "%020" PRIu64 "\n", a->count + 1);
	}
	if (a->n + (size_t)n > sizeof a->out)
		a->n = 0;
	memcpy(a->out + a->n, line, (size_t)n);
	a->n += (size_t)n;
	a->count++;
	return 0;
}

/* One listing by the store library, in this process; 0 or -1. */
static int store_list(struct sysctx *c, int stream, int longfmt, char *err, size_t errlen)
{
	static struct lsarg a;
	es_read *rd;
	es_stream st;
	int e = es_read_begin(c->st, &rd);

	if (e) {
		msg(err, errlen, "%s", es_why());
		return -1;
	}
	a.longfmt = longfmt;
	a.count = a.n = 0;
	e = stream ? es_stream_get(rd, BIG_STREAM, strlen(BIG_STREAM), &st) : 0;
	if (!e)
		e = stream ? es_stream_walk(rd, st.id, 1, ls_entry, &a) : es_log_walk(rd, 1, 0, ls_entry, &a);
	if (e)
		msg(err, errlen, "%s", es_why());
	es_read_end(rd);
	return e ? -1 : 0;
}

static void w_list(struct sysctx *c)
{
	size_t nall;
	uint64_t *pos = positions(c, &nall);

	free(pos);
	for (int k = 0; k < 4; k++) {
		int row = R_W5A + k, stream = k >= 2, longfmt = k & 1;
		uint64_t entries = stream ? c->L.big : nall;
		uint64_t lat[64];
		int runs = 0;
		char note[400] = "", dir[PATH_MAX];

		if (stream && !c->L.big)
			continue;
		phase("%s on %s", row_name[row], sys_name[c->sys]);
		fmt(dir, sizeof dir, "%s/%s%s", tree(c), stream ? "streams/" : "all", stream ? BIG_STREAM : "");
		char psql[PATH_MAX], port[16];
		fmt(psql, sizeof psql, "%s/psql", g_pgbin);
		snprintf(port, sizeof port, "%d", g_pgport);
		char *ls[] = {"ls", longfmt ? "-l" : dir, longfmt ? dir : NULL, NULL};
		char *pq[] = {psql, "-X", "-q", "-A", "-t", "-h", g_pgdir, "-p", port, "-U", PG_USER,
			      "-d", c->db, "-c", (char *)pg_list_sql[k], NULL};
		struct sp o = {.out = "/dev/null"};
		uint64_t start = now_ns();
		while (runs < g_runs && runs < 64) {
			if (runs && now_ns() - start > (uint64_t)(g_max_seconds * 1e9))
				break;
			uint64_t t0 = now_ns();
			int rc;
			if (c->sys == SYS_STORE)
				rc = store_list(c, stream, longfmt, note, sizeof note);
			else
				rc = run(pg_table(c) ? pq : ls, &o);
			uint64_t t1 = now_ns();
			if (rc) {
				if (c->sys != SYS_STORE)
					msg(note, sizeof note, "ERROR: %s exited with status %d",
						 pg_table(c) ? "psql" : "ls", rc);
				break;
			}
			lat[runs++] = t1 - t0;
			progress();
		}
		double secs = (double)(now_ns() - start) / 1e9;
		if (!note[0] && runs < g_runs)
			msg(note, sizeof note, "time cap: %d of %d runs", runs, g_runs);
		record(row, c->sys, c->L.n, entries * (uint64_t)runs, secs, lat, (size_t)runs, note);
	}
}

/* ---- The shell loop: W7. ------------------------------------------------- */

static const char w7_esfs[] =
	"cd -- \"$1\" || exit 1\n"
	"for ((i = 1; i <= $2; i++)); do\n"
	"\tprintf 'Expected-Version: any\\nEvent-Type: Noted\\n\\n{\"i\":%d,\"note\":\"%s\"}\\n' \"$i\" \"$3\" > new || exit 1\n"
	"done\n";
static const char w7_files[] =
	"cd -- \"$1\" || exit 1\n"
	"set -C\n"
	"for ((i = 1; i <= $2; i++)); do\n"
	"\tprintf -v f %020d \"$i\"\n"
	"\tprintf '{\"i\":%d,\"note\":\"%s\"}\\n' \"$i\" \"$3\" > \"$f\" || exit 1\n"
	"done\n";

static void w_shell(struct sysctx *c)
{
	char dir[PATH_MAX], count[24], pad[DATA_LEN], note[400] = "";
	uint64_t lat[1];

	if (c->sys == SYS_STORE || pg_table(c))
		return;		/* no shell interface */
	phase("W7 on %s", sys_name[c->sys]);
	create_stream(c, "W7-1");
	fmt(dir, sizeof dir, "%s/streams/W7-1", tree(c));
	snprintf(count, sizeof count, "%" PRIu64, g_loop);
	memset(pad, 'x', DATA_LEN - 20);	/* {"i":N,"note":"…"}: about DATA_LEN bytes */
	pad[DATA_LEN - 20] = 0;
	char *av[] = {"bash", "-c", (char *)(mounted(c) ? w7_esfs : w7_files), "bash", dir,
		      count, pad, NULL};
	char errf[PATH_MAX];
	fmt(errf, sizeof errf, "%s/w7.err", c->dir);
	struct sp o = {.out = "/dev/null", .err = errf};
	uint64_t t0 = now_ns();
	int rc = run(av, &o);
	lat[0] = now_ns() - t0;
	progress();
	uint64_t done = g_loop;
	if (rc) {
		FILE *f = fopen(errf, "r");
		char line[300] = "";
		if (f) {
			if (!fgets(line, sizeof line, f))
				line[0] = 0;
			fclose(f);
		}
		line[strcspn(line, "\n")] = 0;
		msg(note, sizeof note, "ERROR: bash exited with status %d: %s", rc, line);
	}
	/* Count what was stored: an esfs stream directory's size is its
	 * number of events; for files, count the files. */
	struct stat st;
	if (mounted(c) && stat(dir, &st) == 0) {
		done = (uint64_t)st.st_size;
		if (!note[0] && done != g_loop)
			msg(note, sizeof note, "ERROR: %" PRIu64 " events stored of %" PRIu64, done, g_loop);
		if (note[0]) {
			fprintf(stderr, "esfs-bench: W7 %s: %s\n", sys_name[c->sys], note);
			tail_logs(c);
		}
	}
	record(R_W7, c->sys, c->L.n, done, (double)lat[0] / 1e9, lat, 1, note);
}

/* ---- Live subscriptions: W8. --------------------------------------------- *
 * N consumer threads each read subscriptions/NAME, starting at the head;
 * one appender writes one event at a time to streams/W8-N/new. For each
 * event and consumer, the latency is from the append's write() returning
 * to the consumer's read() returning with the event, both on
 * CLOCK_MONOTONIC in this process. Before each append the appender waits
 * for every consumer to have the event before and then 1 ms more, so that
 * each consumer is waiting in read() (parked in the daemon) when it comes. */

struct w8_consumer {
	pthread_t th;
	int fd;
	uint64_t first;			/* the global position of event 1 */
	uint64_t n;			/* events to receive */
	uint64_t *at;			/* at[i]: when event i arrived */
	_Atomic uint64_t seen;
	atomic_int done;		/* it has stopped */
	const atomic_int *stop;
	char err[300];
	char buf[65536];
};

static void w8_nothing(int sig)
{
	(void)sig;
}

static void *w8_consume(void *p)
{
	struct w8_consumer *k = p;
	size_t have = 0;

	while (atomic_load(&k->seen) < k->n && !atomic_load(k->stop)) {
		ssize_t r = read(k->fd, k->buf + have, sizeof k->buf - have);
		uint64_t t = now_ns();
		if (r < 0 && errno == EINTR)
			continue;	/* stop is checked above */
		if (r <= 0) {
			msg(k->err, sizeof k->err, "read of a subscription: %s",
			    r < 0 ? strerror(errno) : "end of file");
			break;
		}
		have += (size_t)r;
		char *nl;
		while ((nl = memchr(k->buf, '\n', have))) {
			uint64_t i = atomic_load(&k->seen), pos = 0;
			const char *g = memmem(k->buf, (size_t)(nl - k->buf), "\"global_position\":", 18);
			if (g)
				pos = strtoull(g + 18, NULL, 10);
			if (pos != k->first + i) {
				msg(k->err, sizeof k->err, "event %" PRIu64 " has global_position %" PRIu64
				    ", not %" PRIu64, i + 1, pos, k->first + i);
				goto out;
			}
			k->at[i] = t;
			atomic_store(&k->seen, i + 1);
			have -= (size_t)(nl + 1 - k->buf);
			memmove(k->buf, nl + 1, have);
		}
		if (have == sizeof k->buf) {
			msg(k->err, sizeof k->err, "an event longer than %zu bytes", sizeof k->buf);
			break;
		}
	}
out:
	atomic_store(&k->done, 1);
	return NULL;
}

/* Writes s and a newline to path, as echo does. */
static int write_text(const char *path, const char *s, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t n = strlen(s);

	if (fd < 0 || write(fd, s, n) != (ssize_t)n || close(fd) != 0) {
		msg(err, errlen, "writing %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

/* The consumers read through daemon host (0, or for W8-cross esfs-pg's
 * second daemon, 1); the appender always writes through daemon 0. */
static void w_subscribe(struct sysctx *c, int row, int nconsumers, int host)
{
	struct w8_consumer *k = calloc((size_t)nconsumers, sizeof *k);
	uint64_t n = g_ops / 2, *t_w = calloc(n + 1, sizeof *t_w), done = 0;
	atomic_int stop = 0;
	char path[PATH_MAX], stream[32], text[32], note[400] = "";
	struct wjob *j = calloc(1, sizeof *j);
	struct stat st;
	int started = 0;

	if (!mounted(c)) {	/* live subscriptions are esfs's own */
		free(k), free(t_w), free(j);
		return;
	}
	if (!k || !t_w || !j)
		die("out of memory");
	phase("%s on %s", row_name[row], sys_name[c->sys]);
	struct sigaction sa = {.sa_handler = w8_nothing};	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	const char *sub = c->d[host].mnt;
	snprintf(stream, sizeof stream, "W8-%d%s", nconsumers, host ? "-cross" : "");
	create_stream(c, stream);
	fmt(path, sizeof path, "%s/all", sub);
	if (stat(path, &st) != 0)	/* all/'s size is the last position */
		die("stat %s: %s", path, strerror(errno));
	snprintf(text, sizeof text, "%jd\n", (intmax_t)st.st_size);
	for (int i = 0; i < nconsumers && !note[0]; i++) {
		char name[64];
		snprintf(name, sizeof name, "w8-%d-%d%s", nconsumers, i + 1, host ? "-cross" : "");
		fmt(path, sizeof path, "%s/checkpoints/%s", sub, name);
		if (write_text(path, text, note, sizeof note) != 0)
			break;
		fmt(path, sizeof path, "%s/subscriptions/%s", sub, name);
		k[i] = (struct w8_consumer){.fd = open(path, O_RDONLY | O_CLOEXEC),
					    .first = (uint64_t)st.st_size + 1, .n = n, .stop = &stop,
					    .at = calloc(n + 1, sizeof *k[i].at)};
		if (k[i].fd < 0 || !k[i].at) {
			msg(note, sizeof note, "ERROR: open %s: %s", path, strerror(errno));
			break;
		}
		if (pthread_create(&k[i].th, NULL, w8_consume, &k[i]) != 0)
			die("pthread_create failed");
		started++;
	}
	j->c = c;
	snprintf(j->stream, sizeof j->stream, "%s", stream);
	j->any = 1;
	if (!note[0] && writer_open(j) != 0)
		msg(note, sizeof note, "ERROR: %s", j->err);
	uint64_t deadline = now_ns() + (uint64_t)(g_max_seconds * 1e9);
	for (; !note[0] && done < n && (done == 0 || now_ns() < deadline); done++) {
		/* Every consumer has event done and waits for the next one. */
		for (int i = 0; i < started && !note[0]; i++) {
			uint64_t give_up = now_ns() + W8_WAIT_SECONDS * 1000000000ull;
			while (atomic_load(&k[i].seen) < done && !atomic_load(&k[i].done) &&
			       now_ns() < give_up)
				usleep(20);
			if (atomic_load(&k[i].seen) < done)
				msg(note, sizeof note, "ERROR: consumer %d did not get event %" PRIu64
				    " in %d s%s%s", i + 1, done, W8_WAIT_SECONDS, k[i].err[0] ? ": " : "",
				    k[i].err);
		}
		if (note[0])
			break;
		usleep(1000);
		if (writer_append(j, j->seq0 + done) != 0) {
			msg(note, sizeof note, "ERROR after %" PRIu64 " appends: %s", done, j->err);
			break;
		}
		t_w[done] = now_ns();
		progress();
	}
	/* Wait for the last event, then stop whoever still waits. */
	for (int i = 0; i < started; i++) {
		uint64_t give_up = now_ns() + W8_WAIT_SECONDS * 1000000000ull;
		while (!note[0] && atomic_load(&k[i].seen) < done && !atomic_load(&k[i].done) &&
		       now_ns() < give_up)
			usleep(20);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < started; i++) {
		while (!atomic_load(&k[i].done)) {
			pthread_kill(k[i].th, SIGUSR1);	/* a parked read ends with EINTR */
			usleep(1000);
		}
		pthread_join(k[i].th, NULL);
	}
	writer_close(j);

	uint64_t *lat = malloc((n * (uint64_t)nconsumers + 1) * sizeof *lat);
	size_t nlat = 0;
	if (!lat)
		die("out of memory");
	for (int i = 0; i < started; i++) {
		if (!note[0] && (k[i].err[0] || atomic_load(&k[i].seen) < done))
			msg(note, sizeof note, "ERROR: consumer %d got %" PRIu64 " of %" PRIu64 " events%s%s",
			    i + 1, atomic_load(&k[i].seen), done, k[i].err[0] ? ": " : "", k[i].err);
		for (uint64_t e = 0; e < atomic_load(&k[i].seen) && e < done; e++)
			lat[nlat++] = k[i].at[e] > t_w[e] ? k[i].at[e] - t_w[e] : 0;
		close(k[i].fd);
		free(k[i].at);
	}
	if (note[0]) {
		fprintf(stderr, "esfs-bench: %s %s: %s\n", row_name[row], sys_name[c->sys], note);
		tail_logs(c);
	} else {
		msg(note, sizeof note, "%" PRIu64 " appends, %d consumer%s%s; latency from write() "
		    "returning to read() returning; paced, no events/s", done, nconsumers,
		    nconsumers > 1 ? "s" : "", host ? " on the second daemon, appends through the first" : "");
	}
	record(row, c->sys, c->L.n, nlat, 0, lat, nlat, note);
	free(lat);
	free(t_w);
	free(k);
	free(j);
}

/* ---- Flushes per append: W1's appends under strace. ---------------------- *
 * An untimed pass of FLUSH_APPENDS appends like W1's, with strace attached
 * to the process that makes them durable (the esfs daemon; for the store
 * library a child of this process that opens the store and appends), counts
 * fsync, fdatasync, msync, sync_file_range and the writes to descriptors
 * open with O_DSYNC or O_SYNC (LMDB writes its meta page through one): the
 * ones open before strace attached are read from /proc/PID/fdinfo, the ones
 * opened while it runs from its openat lines. */

enum { FL_FSYNC, FL_FDATASYNC, FL_MSYNC, FL_SFR, FL_DSYNC, NFL };
static const char *const fl_name[NFL] = {"fsync", "fdatasync", "msync", "sync_file_range",
					 "dsync_write"};
#define STRACE_CALLS "trace=fsync,fdatasync,msync,sync_file_range,?open,openat,close," \
	"write,pwrite64,writev,pwritev,pwritev2"
#define MAX_FD 4096		/* descriptors above this are not looked at */

struct flushes {
	uint64_t size, appends;
	int sys;
	uint64_t n[NFL];
	char note[300];
};

static struct flushes g_fl[2 * 16];
static int g_nfl;

/* The flush calls of all kinds. */
static uint64_t fl_total(const struct flushes *x)
{
	uint64_t total = 0;

	for (int k = 0; k < NFL; k++)
		total += x->n[k];
	return total;
}

/* Marks the descriptors of pid that are open with O_DSYNC (O_SYNC has it). */
static void dsync_fds(pid_t pid, unsigned char *dsync)
{
	char pat[64];
	glob_t g;

	memset(dsync, 0, MAX_FD);
	snprintf(pat, sizeof pat, "/proc/%d/fdinfo/*", (int)pid);
	if (glob(pat, 0, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		long fd = strtol(strrchr(g.gl_pathv[i], '/') + 1, NULL, 10);
		long flags = status_field(g.gl_pathv[i], "flags", 8);
		if (fd >= 0 && fd < MAX_FD && flags > 0 && (flags & O_DSYNC))
			dsync[fd] = 1;
	}
	globfree(&g);
}

/* 1 when every thread of pid has a tracer. */
static int all_traced(pid_t pid)
{
	char pat[64];
	glob_t g;
	int all = 1;

	snprintf(pat, sizeof pat, "/proc/%d/task/*/status", (int)pid);
	if (glob(pat, 0, NULL, &g) != 0)
		return 0;
	for (size_t i = 0; i < g.gl_pathc && all; i++)
		all = status_field(g.gl_pathv[i], "TracerPid", 10) > 0;
	globfree(&g);
	return all;
}

/* Starts strace on pid, writing to out; returns its pid once it traces
 * every thread, or -1 with err set. */
static pid_t strace_start(pid_t pid, const char *out, const char *log, char *err, size_t errlen)
{
	char pidstr[24];

	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	char *av[] = {"strace", "-f", "-qq", "-e", STRACE_CALLS, "-o", (char *)out, "-p", pidstr, NULL};
	struct sp o = {.out = "/dev/null", .err = log, .session = 1};
	pid_t spid = spawn(av, &o);
	int st;

	if (spid < 0)
		return msg(err, errlen, "ERROR: cannot start strace: %s", strerror(errno)), -1;
	for (int i = 0; !all_traced(pid); i++) {
		if (wait_exit(spid, 10, &st)) {
			msg(err, errlen, "ERROR: strace exited with status %d%s", st,
			    st == 127 ? ": it is not installed (`make bench-deps`)" : "");
			return -1;
		}
		if (i > 1000) {
			kill(spid, SIGKILL);
			wait_child(spid);
			msg(err, errlen, "ERROR: strace did not attach to %d within 10 s", (int)pid);
			return -1;
		}
	}
	return spid;
}

/* Detaches strace; 0 or -1. */
static int strace_stop(pid_t spid)
{
	return kill(spid, SIGINT) == 0 && wait_child(spid) >= 0 ? 0 : -1;
}

/* The return value at the end of an strace line, "… = N"; -1 if none. */
static long trace_ret(const char *line)
{
	const char *eq = NULL;

	for (const char *p = line; (p = strstr(p, " = ")); p++)
		eq = p;
	return eq ? strtol(eq + 3, NULL, 10) : -1;
}

/* Counts the flushes in strace's output, with dsync the O_DSYNC descriptors
 * open when it attached; 0 or -1 with err set. */
static int count_trace(const char *path, unsigned char *dsync, uint64_t n[NFL], char *err, size_t errlen)
{
	static const struct { const char *name; int kind; } flush[] = {
		{"fsync", FL_FSYNC}, {"fdatasync", FL_FDATASYNC}, {"msync", FL_MSYNC},
		{"sync_file_range", FL_SFR},
	};
	static const char *const writes[] = {"write", "pwrite64", "writev", "pwritev", "pwritev2"};
	long opening[64];		/* threads in an unfinished openat with O_DSYNC */
	int nopening = 0;
	char line[8192];
	FILE *f = fopen(path, "r");

	if (!f)
		return msg(err, errlen, "ERROR: %s: %s", path, strerror(errno)), -1;
	memset(n, 0, NFL * sizeof *n);
	while (fgets(line, sizeof line, f)) {
		char *p;
		long tid = strtol(line, &p, 10), fd;
		while (*p == ' ')
			p++;
		if (!strncmp(p, "<... openat resumed>", 20)) {
			for (int i = 0; i < nopening; i++)
				if (opening[i] == tid) {
					if ((fd = trace_ret(p)) >= 0 && fd < MAX_FD)
						dsync[fd] = 1;
					opening[i] = opening[--nopening];
					break;
				}
			continue;
		}
		size_t len = strcspn(p, "(");
		if (p[len] != '(' || !strncmp(p, "<...", 4))
			continue;
		p[len] = 0;
		fd = strtol(p + len + 1, NULL, 10);
		int inset = fd >= 0 && fd < MAX_FD && dsync[fd];
		for (size_t i = 0; i < sizeof flush / sizeof *flush; i++)
			n[flush[i].kind] += !strcmp(p, flush[i].name);
		for (size_t i = 0; i < sizeof writes / sizeof *writes; i++)
			n[FL_DSYNC] += inset && !strcmp(p, writes[i]);
		if (!strcmp(p, "close") && fd >= 0 && fd < MAX_FD)
			dsync[fd] = 0;
		char *rest = p + len + 1;
		if ((!strcmp(p, "openat") || !strcmp(p, "open")) &&
		    (strstr(rest, "O_DSYNC") || strstr(rest, "O_SYNC"))) {
			if (strstr(rest, "<unfinished ...>")) {
				if (nopening < 64)
					opening[nopening++] = tid;
			} else if ((fd = trace_ret(rest)) >= 0 && fd < MAX_FD) {
				dsync[fd] = 1;
			}
		}
	}
	fclose(f);
	return 0;
}

/* The store library's side of the pass, in a child: opens the store,
 * says so on done, waits for go, appends, says so, waits for go to close. */
static void store_child(struct sysctx *c, struct wjob *j, int go, int done)
{
	char b;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (es_open(c->data, NULL, &c->st) || es_stream_create(c->st, j->stream, strlen(j->stream))) {
		fprintf(stderr, "esfs-bench: flush count: %s\n", es_why());
		_exit(1);
	}
	if (write(done, "r", 1) != 1 || read(go, &b, 1) != 1)
		_exit(1);
	for (uint64_t i = 0; i < FLUSH_APPENDS; i++)
		if (writer_append(j, j->seq0 + i) != 0) {
			fprintf(stderr, "esfs-bench: flush count: %s\n", j->err);
			_exit(1);
		}
	if (write(done, "d", 1) != 1)
		_exit(1);
	while (read(go, &b, 1) > 0)
		;
	es_close(c->st);
	_exit(0);
}

/* Runs the pass for esfs or store and records what it counted. */
static void count_flushes(struct sysctx *c)
{
	struct flushes *r = &g_fl[g_nfl++];
	struct wjob *j = calloc(1, sizeof *j);
	unsigned char *dsync = malloc(MAX_FD);
	char out[PATH_MAX], log[PATH_MAX], b;
	pid_t traced = c->d[0].pid, spid = -1, child = -1;
	int go[2] = {-1, -1}, done[2] = {-1, -1}, ok = 0;

	if (!j || !dsync)
		die("out of memory");
	phase("flush count on %s", sys_name[c->sys]);
	*r = (struct flushes){.size = c->L.n, .sys = c->sys, .appends = FLUSH_APPENDS};
	fmt(out, sizeof out, "%s/strace.out", c->dir);
	fmt(log, sizeof log, "%s/strace.log", c->dir);
	*j = (struct wjob){.c = c, .stream = "F1-1", .seq0 = 900000000u, .rng = 99};
	if (c->sys == SYS_ESFS) {
		create_stream(c, j->stream);
		ok = writer_open(j) == 0;
		if (!ok)
			msg(r->note, sizeof r->note, "ERROR: %s", j->err);
	} else {
		es_close(c->st);	/* the child opens its own */
		c->st = NULL;
		if (pipe(go) != 0 || pipe(done) != 0 || (child = fork()) < 0)
			die("flush count: %s", strerror(errno));
		if (child == 0) {
			close(go[1]);
			close(done[0]);
			store_child(c, j, go[0], done[1]);
		}
		close(go[0]);
		close(done[1]);
		traced = child;
		ok = read(done[0], &b, 1) == 1;
		if (!ok)
			msg(r->note, sizeof r->note, "ERROR: the child did not open the store");
	}
	if (ok) {
		dsync_fds(traced, dsync);
		spid = strace_start(traced, out, log, r->note, sizeof r->note);
		ok = spid > 0;
	}
	if (ok && c->sys == SYS_ESFS) {
		for (uint64_t i = 0; ok && i < FLUSH_APPENDS; i++)
			ok = writer_append(j, j->seq0 + i) == 0;
		usleep(100000);	/* anything the daemon does just after */
		if (!ok)
			msg(r->note, sizeof r->note, "ERROR: %s", j->err);
	} else if (ok) {
		ok = write(go[1], "g", 1) == 1 && read(done[0], &b, 1) == 1;
		if (!ok)
			msg(r->note, sizeof r->note, "ERROR: the child failed (see above)");
	}
	if (spid > 0 && strace_stop(spid) != 0 && ok) {
		ok = 0;
		msg(r->note, sizeof r->note, "ERROR: stopping strace: %s", strerror(errno));
	}
	if (ok)
		ok = count_trace(out, dsync, r->n, r->note, sizeof r->note) == 0;
	if (c->sys == SYS_ESFS) {
		writer_close(j);
	} else {
		close(go[1]);
		close(done[0]);
		if (child > 0 && wait_child(child) != 0 && ok)
			msg(r->note, sizeof r->note, "ERROR: the child exited with an error");
		if (es_open(c->data, NULL, &c->st))
			die("%s: %s", c->data, es_why());
	}
	fprintf(stderr, "esfs-bench:   flushes   %-5s %.2f per append  %s\n", sys_name[c->sys],
		(double)fl_total(r) / FLUSH_APPENDS, r->note);
	free(dsync);
	free(j);
}

/* ---- The machine. -------------------------------------------------------- */

static char g_machine[2048];

static void machine(void)
{
	struct utsname u;
	struct sysinfo si;
	char fs[64] = "?", cmd[PATH_MAX + 32], path[PATH_MAX];
	size_t k = 0;

	uname(&u);
	sysinfo(&si);
	fmt(cmd, sizeof cmd, "stat -f -c %%T '%s'", g_base);
	FILE *p = popen(cmd, "r");
	if (p) {
		if (!fgets(fs, sizeof fs, p))
			strcpy(fs, "?");
		fs[strcspn(fs, "\n")] = 0;
		pclose(p);
	}
	/* fdatasync latency: the median of 200, each after a 4 KiB append. */
	fmt(path, sizeof path, "%s/fdatasync-probe", g_base);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	uint64_t lat[200];
	char block[4096];
	memset(block, 'x', sizeof block);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	for (int i = 0; i < 200; i++) {
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			die("%s: %s", path, strerror(errno));
		uint64_t t0 = now_ns();
		if (fdatasync(fd) != 0)
			die("fdatasync: %s", strerror(errno));
		lat[i] = now_ns() - t0;
	}
	close(fd);
	unlink(path);
	qsort(lat, 200, sizeof *lat, cmp_u64);
	k += (size_t)snprintf(g_machine + k, sizeof g_machine - k, "machine: nproc %ld, memory %.1f GiB, kernel %s %s %s\n",
			      sysconf(_SC_NPROCESSORS_ONLN),
			      (double)si.totalram * si.mem_unit / (1024.0 * 1024 * 1024), u.sysname,
			      u.release, u.machine);
	snprintf(g_machine + k, sizeof g_machine - k,
		 "disk: temp dir %s, filesystem %s, fdatasync after a 4 KiB append: median %.0f us (p99 %.0f us, of 200)\n",
		 g_base, fs, (double)lat[100] / 1000, (double)lat[198] / 1000);
}

/* ---- Report. ------------------------------------------------------------- */

static FILE *g_txt;

static void rep(const char *f, ...) __attribute__((format(printf, 1, 2)));
static void rep(const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vprintf(f, ap);
	va_end(ap);
	if (g_txt) {
		va_start(ap, f);
		vfprintf(g_txt, f, ap);
		va_end(ap);
	}
}

static int cmp_res(const void *a, const void *b)
{
	const struct result *x = a, *y = b;

	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	if (x->row != y->row)
		return x->row - y->row;
	return x->sys - y->sys;
}

static const struct result *find(uint64_t size, int row, int sys)
{
	for (size_t i = 0; i < g_nres; i++)
		if (g_res[i].size == size && g_res[i].row == row && g_res[i].sys == sys)
			return &g_res[i];
	return NULL;
}

static void ratio(const struct result *r, char *buf, size_t n)
{
	const struct result *e = find(r->size, r->row, SYS_ESFS);

	if (!e || !r->evps || !e->evps)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.2f", e->evps / r->evps);
}

/* The targets of issue 11 for esfs-pg, as ratios of this run's events/s,
 * at each size: what it must at least reach, and whether it did. */
static const struct target {
	int row, sys, base_row, base_sys;
	double min;
	const char *what;
} g_targets[] = {
	{R_W2, SYS_ESFS_PG, R_W2, SYS_PGC, 2.0, "8 writers, one daemon / PostgreSQL's counter append, 8 clients"},
	{R_W1, SYS_ESFS_PG, R_W1, SYS_PGC, 0.8, "1 writer / PostgreSQL's counter append, 1 client"},
	{R_W1D, SYS_ESFS_PG, R_W1, SYS_ESFS_PG, 1.0, "two daemons / one, 1 writer on each / 1 writer"},
	{R_W2D, SYS_ESFS_PG, R_W2, SYS_ESFS_PG, 1.0, "two daemons / one, 8 writers in all"},
	{R_W4F, SYS_ESFS_PG, R_W4F, SYS_PG, 1.0, "cat feed/0 / PostgreSQL's paged read-all"},
};

static void targets(void)
{
	int head = 0;

	for (int s = 0; s < g_nsizes; s++)
		for (size_t t = 0; t < sizeof g_targets / sizeof *g_targets; t++) {
			const struct target *x = &g_targets[t];
			const struct result *a = find(g_sizes[s], x->row, x->sys);
			const struct result *b = find(g_sizes[s], x->base_row, x->base_sys);
			char name[64];
			if (!a && !b)
				continue;
			if (!head++)
				rep("\ntargets (issue 11), events/s of the first row over the second's:\n");
			msg(name, sizeof name, "%s %s / %s %s", sys_name[x->sys], row_name[x->row],
			    sys_name[x->base_sys], row_name[x->base_row]);
			if (!a || !b || a->evps <= 0 || b->evps <= 0) {
				rep("  %8" PRIu64 "  %-32s %6s  (>= %.1f)  not measured  %s\n", g_sizes[s], name,
				    "-", x->min, x->what);
				continue;
			}
			double q = a->evps / b->evps;
			rep("  %8" PRIu64 "  %-32s %6.2f  (>= %.1f)  %-12s  %s\n", g_sizes[s], name, q, x->min,
			    q >= x->min ? "met" : "MISSED", x->what);
		}
	for (int s = 0; s < g_nsizes; s++) {
		const struct result *w = find(g_sizes[s], R_W8X, SYS_ESFS_PG);
		const struct result *l = find(g_sizes[s], R_W8A, SYS_ESFS_PG);
		if (w)
			rep("  %8" PRIu64 "  cross-host wake (W8-cross): p50 %.0f us, p99 %.0f us; "
			    "one daemon (W8-sub-1): %s%.0f us, %.0f us\n", g_sizes[s], w->p50, w->p99,
			    l ? "" : "not run, ", l ? l->p50 : 0, l ? l->p99 : 0);
	}
}

static const char legend[] =
	"Workloads (each at each store size; the store is prefilled with SIZE events, half in stream\n"
	BIG_STREAM ", half in streams of 5):\n"
	"  W1        1 writer appends ~200-byte events to a new stream, one message per write(), durable\n"
	"  W1-2d     esfs-pg only: W1 with two daemons on one database (two hosts), a writer on each;\n"
	"            events/s of both together\n"
	"  W2        8 writers (threads), 8 streams, exact Expected-Version\n"
	"  W2-2d     esfs-pg only: W2 with two daemons, 4 writers on each; events/s of all 8\n"
	"  W3        8 writers on one stream, Expected-Version: any\n"
	"  W4-cold   read every event once through all/ (open+read+close per file) after sync,\n"
	"            drop_caches and a restart of what caches (esfs daemon, store map, pg server)\n"
	"  W4-warm   the same again at once\n"
	"  W4-feed   the whole log in one pass: esfs cat feed/0, the store a walk, pg pages of 1000\n"
	"            by global position (files and tmpfs have no feed); p50/p99 per read() or page\n"
	"  W5-*      ls / ls -l of all/ and of streams/" BIG_STREAM " (SIZE/2 events) as child processes;\n"
	"            events/s = entries listed per second; p50/p99 per whole command\n"
	"  W6        random reads by stream and version (streams/S/VERSION)\n"
	"  W7        a bash loop of printf > new (files, tmpfs: printf > VERSION with set -C, no fsync);\n"
	"            p50 = p99 = the whole command\n"
	"  W8-sub-N  esfs, esfs-pg: N consumers wait in read() on subscriptions/; one appender writes one\n"
	"            event at a time; p50/p99 from the append's write() returning to each consumer's\n"
	"            read() returning with it (paced: no events/s)\n"
	"  W8-cross  esfs-pg only: W8-sub-1 with the consumer on a second daemon on the same database,\n"
	"            the appender on the first: the cross-host wake\n"
	"Systems: esfs = FUSE mount of bin/esfs; files = one file per event on the disk, streams/S/VERSION\n"
	"  hard-linked as all/POSITION, the version claimed with O_EXCL, fsync of the file and both\n"
	"  directories per event; tmpfs = the same in /dev/shm without fsync; store = the store library\n"
	"  in-process (W5 walks in-process, no W7); pg = PostgreSQL, defaults (fsync on, synchronous_commit on),\n"
	"  over its unix socket, one connection per writer, no W7; limit = the disk's ceiling, W1-W3 only:\n"
	"  the same event lines written with pwrite to a preallocated file (zeros written and\n"
	"  fdatasynced before the timed part), made durable by a group commit: a writer waits for an\n"
	"  fdatasync begun after its pwrite; the writer that fills a group (a line from every writer)\n"
	"  runs one for all: 1 event per fdatasync in W1, 8 in W2 and W3.\n"
	"  pg-counter = pg with positions from a one-row counter, W1-W3 only; esfs-pg = FUSE mount of\n"
	"  bin/esfs on a PostgreSQL store. pg, pg-counter and esfs-pg: one server, a database each.\n"
	"pg appends: one statement per append in its own transaction,\n"
	"  INSERT … SELECT max(version)+1 … WHERE max = expected; a concurrent append fails on\n"
	"  UNIQUE (stream_id, version) (23505), and with Expected-Version any it is retried;\n"
	"  global_position is a BIGSERIAL. pg-counter: the same statement with UPDATE head SET pos =\n"
	"  pos + 1 RETURNING pos in it, which locks the one counter row until commit (gapless\n"
	"  positions in commit order, as esfs-pg's esfs_head, taken FOR UPDATE).\n"
	"esfs/this = esfs events/s divided by this row's events/s (above 1: esfs is faster).\n";

/* Opens OUTDIR/name, its path in path, for writing, or dies. */
static FILE *out_file(const char *name, char *path, size_t n)
{
	fmt(path, n, "%s/%s", g_outdir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	return f;
}

/* OUTDIR/flushes.csv: the flush calls per append, by kind. */
static void flushes_csv(void)
{
	char path[PATH_MAX];
	FILE *f = out_file("flushes.csv", path, sizeof path);

	fprintf(f, "size,system,appends");
	for (int k = 0; k < NFL; k++)
		fprintf(f, ",%s_per_append", fl_name[k]);
	fprintf(f, ",total_per_append,note\n");
	for (int i = 0; i < g_nfl; i++) {
		const struct flushes *x = &g_fl[i];
		fprintf(f, "%" PRIu64 ",%s,%" PRIu64, x->size, sys_name[x->sys], x->appends);
		for (int k = 0; k < NFL; k++)
			fprintf(f, ",%.3f", (double)x->n[k] / (double)x->appends);
		fprintf(f, ",%.3f,\"%s\"\n", (double)fl_total(x) / (double)x->appends, x->note);
	}
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

static void report(void)
{
	char path[PATH_MAX], r[32];

	qsort(g_res, g_nres, sizeof *g_res, cmp_res);
	fmt(path, sizeof path, "%s/results.txt", g_outdir);
	g_txt = fopen(path, "w");
	rep("\n%s", g_machine);
	if (g_pg_skip[0] && (g_sys_on[SYS_PG] || g_sys_on[SYS_PGC] || g_sys_on[SYS_ESFS_PG]))
		rep("pg: skipped: %s\n", g_pg_skip);
	rep("\n%s\n", legend);
	rep("%-15s %8s %-10s %12s %11s %11s %9s\n", "workload", "size", "system", "events/s", "p50_us",
	    "p99_us", "esfs/this");
	for (size_t i = 0; i < g_nres; i++) {
		const struct result *x = &g_res[i];
		ratio(x, r, sizeof r);
		rep("%-15s %8" PRIu64 " %-10s %12.1f %11.1f %11.1f %9s\n", row_name[x->row], x->size,
		    sys_name[x->sys], x->evps, x->p50, x->p99, r);
	}
	rep("\n");
	for (int s = 0; s < g_nsizes; s++)
		for (int y = 0; y < NSYS; y++)
			if (g_hwm_kb[s][y])
				rep("%s daemon peak RSS (VmHWM) at %" PRIu64 " events: %.1f MiB\n",
				    sys_name[y], g_sizes[s], (double)g_hwm_kb[s][y] / 1024);
	targets();
	for (int s = 0; s < g_nsizes; s++)
		if (g_sys_on[SYS_STORE] && g_recover[s][1] > 0)
			rep("store recovery at %" PRIu64 " events: es_open after kill -9 %.3f s (the log's tail"
			    " replayed), after a power cut %.3f s (the index rebuilt from the log, cold cache)\n",
			    g_sizes[s], g_recover[s][0], g_recover[s][1]);
	if (g_nfl) {
		rep("\nflushes per append (strace of %d untimed appends like W1's; dsync_write = a write\n"
		    "to a descriptor open with O_DSYNC or O_SYNC):\n%-8s %-6s", FLUSH_APPENDS, "size", "system");
		for (int k = 0; k < NFL; k++)
			rep(" %9s", fl_name[k]);
		rep(" %9s\n", "total");
	}
	for (int i = 0; i < g_nfl; i++) {
		const struct flushes *x = &g_fl[i];
		rep("%-8" PRIu64 " %-6s", x->size, sys_name[x->sys]);
		for (int k = 0; k < NFL; k++)	/* as wide as the names */
			rep(" %*.2f", strlen(fl_name[k]) > 9 ? (int)strlen(fl_name[k]) : 9,
			    (double)x->n[k] / (double)x->appends);
		rep(" %9.2f%s%s\n", (double)fl_total(x) / (double)x->appends, x->note[0] ? "  " : "",
		    x->note);
	}
	rep("\nnotes:\n");
	for (size_t i = 0; i < g_nres; i++)
		if (g_res[i].note[0])
			rep("  %-15s %8" PRIu64 " %-10s %s\n", row_name[g_res[i].row], g_res[i].size,
			    sys_name[g_res[i].sys], g_res[i].note);
	if (g_txt)
		fclose(g_txt);

	/* results.csv */
	FILE *f = out_file("results.csv", path, sizeof path);
	fprintf(f, "workload,size,system,events,seconds,events_per_s,p50_us,p99_us,esfs_ratio,note\n");
	for (size_t i = 0; i < g_nres; i++) {
		const struct result *x = &g_res[i];
		ratio(x, r, sizeof r);
		fprintf(f, "%s,%" PRIu64 ",%s,%" PRIu64 ",%.6f,%.3f,%.3f,%.3f,%s,\"", row_name[x->row],
			x->size, sys_name[x->sys], x->events, x->secs, x->evps, x->p50, x->p99,
			strcmp(r, "-") ? r : "");
		for (const char *p = x->note; *p; p++)
			fputs(*p == '"' ? "\"\"" : (char[]){*p, 0}, f);
		fprintf(f, "\"\n");
	}
	fclose(f);
	if (g_nfl)
		flushes_csv();
}

/* A bar chart of events/s per workload and system at the largest size. */
static void chart(void)
{
	char dat[PATH_MAX], gp[PATH_MAX], png[PATH_MAX];
	uint64_t size = 0;
	int used[NSYS] = {0}, nused = 0;

	for (size_t i = 0; i < g_nres; i++)
		if (g_res[i].size > size)
			size = g_res[i].size;
	for (size_t i = 0; i < g_nres; i++)
		if (g_res[i].size == size)
			used[g_res[i].sys] = 1;
	fmt(png, sizeof png, "%s/chart.png", g_outdir);
	FILE *f = out_file("chart.dat", dat, sizeof dat);
	fprintf(f, "workload");
	for (int s = 0; s < NSYS; s++)
		if (used[s])
			fprintf(f, " %s", sys_name[s]), nused++;
	fprintf(f, "\n");
	for (int row = 0; row < NROW; row++) {
		int any = 0;
		for (int s = 0; s < NSYS; s++)
			any |= find(size, row, s) != NULL;
		if (!any)
			continue;
		fprintf(f, "%s", row_name[row]);
		for (int s = 0; s < NSYS; s++) {
			if (!used[s])
				continue;
			const struct result *x = find(size, row, s);
			if (x && x->evps > 0)
				fprintf(f, " %.3f", x->evps);
			else
				fprintf(f, " ?");
		}
		fprintf(f, "\n");
	}
	fclose(f);
	if (!nused)
		return;
	f = out_file("chart.gp", gp, sizeof gp);
	fprintf(f,
		"set terminal pngcairo size 1400,750 noenhanced font ',11'\n"
		"set output '%s'\n"
		"set title 'esfs-bench: events/s at %" PRIu64 " events (log scale; higher is better)'\n"
		"set style data histogram\n"
		"set style histogram cluster gap 1\n"
		"set style fill solid 0.85 border -1\n"
		"set boxwidth 0.9\n"
		"set logscale y\n"
		"set format y '%%.0s%%c'\n"
		"set ylabel 'events/s'\n"
		"set grid ytics\n"
		"set xtics rotate by -30 nomirror\n"
		"set key outside right top\n"
		"set datafile missing '?'\n"
		"plot '%s' using 2:xtic(1) title columnheader(2)",
		png, size, dat);
	for (int k = 3; k <= nused + 1; k++)
		fprintf(f, ", '' using %d title columnheader(%d)", k, k);
	fprintf(f, "\n");
	fclose(f);
	char *av[] = {"gnuplot", gp, NULL};
	int rc = run(av, NULL);
	if (rc == 127)
		fprintf(stderr, "esfs-bench: no chart: gnuplot is not installed (`make bench-deps`)\n");
	else if (rc != 0)
		fprintf(stderr, "esfs-bench: gnuplot failed (status %d)\n", rc);
}

/* ---- main. --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: esfs-bench [--sizes 1e4,1e5]\n"
		"                  [--systems esfs,files,tmpfs,store,pg,pg-counter,esfs-pg,limit]\n"
		"                  [--workloads W1,...,W8] [--ops N] [--reads N] [--loop N]\n"
		"                  [--runs N] [--max-seconds S] [--dir DIR] [--esfs PATH] [--keep]\n"
		"                  [--count-flushes] OUTDIR\n"
		"See esfs-bench(1).\n");
}

static uint64_t parse_count(const char *s, const char *what)
{
	char *end;
	double d = strtod(s, &end);

	if (end == s || *end || d < 1 || d > 1e9 || d != (double)(uint64_t)d) {
		fprintf(stderr, "esfs-bench: %s: bad number '%s'\n", what, s);
		exit(2);
	}
	return (uint64_t)d;
}

/* Calls fn on each comma-separated item of list. */
static void each_item(char *list, void (*fn)(const char *))
{
	for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
		fn(t);
}

static void add_size(const char *t)
{
	if (g_nsizes == (int)(sizeof g_sizes / sizeof *g_sizes)) {
		fprintf(stderr, "esfs-bench: too many sizes\n");
		exit(2);
	}
	g_sizes[g_nsizes++] = parse_count(t, "--sizes");
}

static void add_system(const char *t)
{
	for (int s = 0; s < NSYS; s++)
		if (!strcmp(t, sys_name[s])) {
			g_sys_on[s] = 1;
			return;
		}
	fprintf(stderr, "esfs-bench: unknown system '%s' (esfs, files, tmpfs, store, pg, pg-counter, "
		"esfs-pg, limit)\n", t);
	exit(2);
}

static void add_workload(const char *t)
{
	if ((t[0] == 'W' || t[0] == 'w') && t[1] >= '1' && t[1] <= '8' && !t[2]) {
		g_wl_on[t[1] - '0'] = 1;
		return;
	}
	fprintf(stderr, "esfs-bench: unknown workload '%s' (W1 … W8)\n", t);
	exit(2);
}

static char *self_dir(char *buf, size_t n)
{
	ssize_t l = readlink("/proc/self/exe", buf, n - 1);

	if (l <= 0)
		return NULL;
	buf[l] = 0;
	char *slash = strrchr(buf, '/');
	if (slash)
		*slash = 0;
	return buf;
}

/* esfs-pg with a second daemon on the same database, a second host:
 * W1 and W2 with the writers split between the two (W1-2d one each, W2-2d
 * 4 + 4; events/s in total), and W8-cross, a subscriber on the second
 * daemon woken by appends through the first. */
static void two_hosts(struct sysctx *c)
{
	if (!g_wl_on[1] && !g_wl_on[2] && !g_wl_on[8])
		return;
	phase("mounting the second daemon of %s", sys_name[c->sys]);
	esfs_mount(c, 1);
	if (g_wl_on[1])
		w_writers(c, R_W1D, 2, 0, 0, 2);
	if (g_wl_on[2])
		w_writers(c, R_W2D, WRITERS, 0, 0, 2);
	if (g_wl_on[8])
		w_subscribe(c, R_W8X, 1, 1);
	esfs_unmount(c, 1);
}

/* W4 to W8, those that are on. */
static void other_workloads(struct sysctx *c)
{
	if (g_wl_on[4]) {
		phase("W4-cold on %s: restart and drop caches", sys_name[c->sys]);
		go_cold(c);
		w_read_all(c, R_W4C);
		w_read_all(c, R_W4W);
		w_read_feed(c);
	}
	if (g_wl_on[5])
		w_list(c);
	if (g_wl_on[6])
		w_random(c);
	if (g_wl_on[7])
		w_shell(c);
	if (g_wl_on[8]) {
		w_subscribe(c, R_W8A, 1, 0);
		w_subscribe(c, R_W8B, W8_CONSUMERS, 0);
	}
}

int main(int argc, char **argv)
{
	char here[PATH_MAX];
	int i;

	if (self_dir(here, sizeof here))
		snprintf(g_esfs, sizeof g_esfs, "%.*s/esfs", (int)(sizeof g_esfs - 6), here);
	if (getenv("ESFS"))
		snprintf(g_esfs, sizeof g_esfs, "%s", getenv("ESFS"));
	if (getenv("TMPDIR"))
		snprintf(g_tmp_parent, sizeof g_tmp_parent, "%s", getenv("TMPDIR"));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--keep")) {
			g_keep = 1;
			continue;
		}
		if (!strcmp(a, "--count-flushes")) {
			g_count_flushes = 1;
			continue;
		}
		if (a[0] != '-' || !strcmp(a, "--"))
			break;
		if (i + 1 >= argc) {
			fprintf(stderr, "esfs-bench: %s needs a value\n", a);
			return 2;
		}
		char *v = argv[++i];
		if (!strcmp(a, "--sizes")) {
			g_nsizes = 0;
			each_item(v, add_size);
		} else if (!strcmp(a, "--systems")) {
			memset(g_sys_on, 0, sizeof g_sys_on);
			each_item(v, add_system);
		} else if (!strcmp(a, "--workloads")) {
			memset(g_wl_on, 0, sizeof g_wl_on);
			each_item(v, add_workload);
		} else if (!strcmp(a, "--ops")) {
			g_ops = parse_count(v, a);
		} else if (!strcmp(a, "--reads")) {
			g_reads = parse_count(v, a);
		} else if (!strcmp(a, "--loop")) {
			g_loop = parse_count(v, a);
		} else if (!strcmp(a, "--runs")) {
			g_runs = (int)parse_count(v, a);
		} else if (!strcmp(a, "--max-seconds")) {
			g_max_seconds = (double)parse_count(v, a);
		} else if (!strcmp(a, "--dir")) {
			snprintf(g_tmp_parent, sizeof g_tmp_parent, "%s", v);
		} else if (!strcmp(a, "--esfs")) {
			snprintf(g_esfs, sizeof g_esfs, "%s", v);
		} else {
			fprintf(stderr, "esfs-bench: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (argc - i != 1 || !g_nsizes) {
		usage(stderr);
		return 2;
	}
	g_outdir = argv[i];
	if (mkdir(g_outdir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "esfs-bench: %s: %s\n", g_outdir, strerror(errno));
		return 2;
	}
	if ((g_sys_on[SYS_ESFS] || g_sys_on[SYS_ESFS_PG]) && access(g_esfs, X_OK) != 0) {
		fprintf(stderr, "esfs-bench: %s: %s (make builds it; --esfs PATH)\n", g_esfs, strerror(errno));
		return 2;
	}
	if (g_runs > 64)
		g_runs = 64;

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction crash = {.sa_handler = on_crash, .sa_flags = SA_RESETHAND};
	sigemptyset(&crash.sa_mask);
	sigaction(SIGSEGV, &crash, NULL);
	sigaction(SIGBUS, &crash, NULL);
	sigaction(SIGABRT, &crash, NULL);
	sigaction(SIGFPE, &crash, NULL);

	fmt(g_base, sizeof g_base, "%s/esfs-bench.XXXXXX", g_tmp_parent);
	if (!mkdtemp(g_base)) {
		fprintf(stderr, "esfs-bench: mkdtemp in %s: %s\n", g_tmp_parent, strerror(errno));
		return 2;
	}
	chmod(g_base, 0755);	/* the PostgreSQL user goes through it */
	if (g_sys_on[SYS_TMPFS]) {
		snprintf(g_shm, sizeof g_shm, "/dev/shm/esfs-bench.XXXXXX");
		if (!mkdtemp(g_shm))
			die("mkdtemp in /dev/shm: %s", strerror(errno));
	}
	if (g_sys_on[SYS_PG] || g_sys_on[SYS_PGC] || g_sys_on[SYS_ESFS_PG]) {
		pg_find();	/* pg, pg-counter and esfs-pg need the server */
		if (g_pg_skip[0])
			fprintf(stderr, "esfs-bench: pg skipped: %s\n", g_pg_skip);
	}
	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog, NULL) != 0)
		die("pthread_create failed");
	pthread_detach(wd);

	machine();
	fprintf(stderr, "%s", g_machine);

	for (int si = 0; si < g_nsizes; si++) {
		for (int s = 0; s < NSYS; s++) {
			if (!g_sys_on[s] || (on_pg(s) && g_pg_skip[0]))
				continue;
			struct sysctx *c = calloc(1, sizeof *c);
			if (!c)
				die("out of memory");
			c->sys = s;
			c->si = si;
			c->L = layout_of(g_sizes[si]);
			phase("prefill of %s with %" PRIu64 " events", sys_name[s], c->L.n);
			fprintf(stderr, "esfs-bench: size %" PRIu64 ", %s: prefill… ", c->L.n, sys_name[s]);
			uint64_t t0 = now_ns();
			setup(c);
			fprintf(stderr, "%.1f s\n", (double)(now_ns() - t0) / 1e9);
			if (g_wl_on[1])
				w_writers(c, R_W1, 1, 0, 0, 1);
			if (g_wl_on[1] && g_count_flushes && (s == SYS_ESFS || s == SYS_STORE))
				count_flushes(c);
			if (g_wl_on[2])
				w_writers(c, R_W2, WRITERS, 0, 0, 1);
			if (g_wl_on[3])
				w_writers(c, R_W3, WRITERS, 1, 1, 1);
			/* the ceiling of appends, and pg with a counter, have no more */
			if (s != SYS_LIMIT && s != SYS_PGC)
				other_workloads(c);
			if (s == SYS_ESFS_PG)
				two_hosts(c);
			if (s == SYS_STORE)
				recovery(c);
			phase("teardown of %s", sys_name[s]);
			teardown(c);
			if (mounted(c)) {
				g_hwm_kb[si][s] = c->hwm_kb;
				fprintf(stderr, "esfs-bench: %s daemon peak RSS at %" PRIu64 " events: %.1f MiB\n",
					sys_name[s], c->L.n, (double)c->hwm_kb / 1024);
			}
			free(c);
		}
	}
	if (g_pg_running) {
		phase("stopping PostgreSQL");
		pg_server_stop();
	}
	phase("report");
	report();
	chart();
	if (!g_keep) {
		remove_tree(g_base);
		remove_tree(g_shm);
	}
	return 0;
}
