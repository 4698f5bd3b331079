/* Common helpers for trollcount capture workloads (static, run as PID>1 under the guest /init).
 *
 * Conventions (see traces/capture/README.md):
 *   STEP <name>                 written to trace_marker before each step (by the parent)
 *   OBS pid=<pid> va=0x<hex> pfn=0x<hex> present=<0|1> kpagecount=<n> kpageflags=0x<hex>
 *                               one per sampled page, written by the process that maps it
 * Children are driven by the parent over pipes, so every live process observes after every step.
 */
#define _GNU_SOURCE
#pragma GCC diagnostic ignored "-Wunused-function"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define HPAGE (2UL << 20)
#define NPG (HPAGE / PAGE)

static int tm_fd = -1;

static void marker(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void marker(const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if (n >= (int)sizeof buf) n = sizeof buf - 1;
	if (tm_fd < 0) tm_fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY);
	if (tm_fd >= 0 && write(tm_fd, buf, n) < 0) perror("trace_marker");
}

static void die(const char *what) {
	int e = errno;
	marker("ERROR pid=%d %s: %s", getpid(), what, strerror(e));
	fprintf(stderr, "workload pid %d: %s: %s\n", getpid(), what, strerror(e));
	exit(1);
}

static void step(const char *name) {
	marker("STEP %s", name);
	printf("STEP %s\n", name);
	fflush(stdout);
}

/* ---- observation -------------------------------------------------------- */

static uint64_t pread_u64(int fd, off_t off, int *ok) {
	uint64_t v = 0;
	*ok = pread(fd, &v, sizeof v, off) == (ssize_t)sizeof v;
	return v;
}

struct obsfds { int pm, kc, kf; };

static struct obsfds obs_open(void) {
	/* /proc/self/pagemap is bound to the opener's mm: open it afresh in each process */
	struct obsfds f = { open("/proc/self/pagemap", O_RDONLY), open("/proc/kpagecount", O_RDONLY),
			    open("/proc/kpageflags", O_RDONLY) };
	if (f.pm < 0 || f.kc < 0 || f.kf < 0) die("open pagemap/kpagecount/kpageflags");
	return f;
}

static void obs_close(struct obsfds f) { close(f.pm); close(f.kc); close(f.kf); }

static void obs_page(struct obsfds f, uintptr_t va) {
	int ok;
	uint64_t e = pread_u64(f.pm, (off_t)(va / PAGE) * 8, &ok);
	int present = ok && (e >> 63) & 1;
	uint64_t pfn = present ? (e & ((1ULL << 55) - 1)) : 0, cnt = 0, flg = 0;
	if (present) {
		cnt = pread_u64(f.kc, (off_t)pfn * 8, &ok);
		flg = pread_u64(f.kf, (off_t)pfn * 8, &ok);
	}
	marker("OBS pid=%d va=0x%lx pfn=0x%llx present=%d kpagecount=%llu kpageflags=0x%llx", getpid(), (unsigned long)va,
	       (unsigned long long)pfn, present, (unsigned long long)cnt, (unsigned long long)flg);
}

static int cmp_ul(const void *a, const void *b) {
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
	return x < y ? -1 : x > y;
}

/* Sample a range: in every 2 MiB-aligned block it overlaps, subpages 0, 1, 255, 256, 511 (when
 * inside the range); plus the range's first, second, middle and last pages; all pages when the
 * range has at most 8 pages. */
static void obs_range(uintptr_t va, size_t len) {
	unsigned long idx[4096];
	int n = 0;
	size_t np = len / PAGE;
	if (np == 0) return;
	if (np <= 8) {
		for (size_t i = 0; i < np; i++) idx[n++] = i;
	} else {
		idx[n++] = 0; idx[n++] = 1; idx[n++] = np / 2; idx[n++] = np - 1;
		static const unsigned sub[] = { 0, 1, 255, 256, 511 };
		for (uintptr_t b = va & ~(HPAGE - 1); b < va + len && n < 4000; b += HPAGE)
			for (unsigned k = 0; k < sizeof sub / sizeof sub[0]; k++) {
				uintptr_t a = b + sub[k] * PAGE;
				if (a >= va && a < va + len) idx[n++] = (a - va) / PAGE;
			}
	}
	qsort(idx, n, sizeof idx[0], cmp_ul);
	struct obsfds f = obs_open();
	for (int i = 0; i < n; i++)
		if (i == 0 || idx[i] != idx[i - 1]) obs_page(f, va + idx[i] * PAGE);
	obs_close(f);
}

/* regions every process samples (the parent's list; children get them one by one) */
struct region { const char *name; uintptr_t va; size_t len; };
static struct region regions[32];
static int nregions;

static void region_set(const char *name, uintptr_t va, size_t len) {
	for (int i = 0; i < nregions; i++)
		if (!strcmp(regions[i].name, name)) { regions[i].va = va; regions[i].len = len; return; }
	if (nregions < 32) regions[nregions++] = (struct region){ name, va, len };
}

static void region_del(const char *name) {
	for (int i = 0; i < nregions; i++)
		if (!strcmp(regions[i].name, name)) { regions[i] = regions[--nregions]; return; }
}

/* ---- memory helpers ------------------------------------------------------ */

/* A 2 MiB-aligned anonymous region (the unaligned head and tail are unmapped before any fault). */
static uintptr_t map_aligned_anon(size_t len, int advice) {
	size_t span = len + HPAGE;
	uintptr_t p = (uintptr_t)mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if ((void *)p == MAP_FAILED) die("mmap anon");
	uintptr_t a = (p + HPAGE - 1) & ~(HPAGE - 1);
	if (a > p) munmap((void *)p, a - p);
	if (p + span > a + len) munmap((void *)(a + len), p + span - (a + len));
	if (advice >= 0 && madvise((void *)a, len, advice)) die("madvise");
	return a;
}

/* A small 4 KiB-page anonymous region (MADV_NOHUGEPAGE keeps it out of THP and unmerged). */
static uintptr_t map_small_anon(size_t npages) {
	void *p = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) die("mmap small");
	madvise(p, npages * PAGE, MADV_NOHUGEPAGE);
	return (uintptr_t)p;
}

/* Reserve len bytes (PROT_NONE) at a 2 MiB-aligned address, e.g. as a target for MAP_FIXED/mremap. */
static uintptr_t reserve_aligned(size_t len) {
	size_t span = len + HPAGE;
	uintptr_t p = (uintptr_t)mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if ((void *)p == MAP_FAILED) die("mmap reserve");
	uintptr_t a = (p + HPAGE - 1) & ~(HPAGE - 1);
	if (a > p) munmap((void *)p, a - p);
	if (p + span > a + len) munmap((void *)(a + len), p + span - (a + len));
	return a;
}

/* Map a file at a 2 MiB-aligned address (so shmem THPs can be PMD-mapped). */
static uintptr_t map_file_aligned(int fd, size_t len, off_t off, int flags) {
	uintptr_t a = reserve_aligned(len);
	void *p = mmap((void *)a, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) die("mmap file");
	return a;
}

/* Write one byte in every page (fault in, write access). */
static void touch_write(uintptr_t va, size_t len, unsigned char v) {
	for (size_t o = 0; o < len; o += PAGE) *(volatile unsigned char *)(va + o) = v;
}

static unsigned long touch_read(uintptr_t va, size_t len) {
	unsigned long s = 0;
	for (size_t o = 0; o < len; o += PAGE) s += *(volatile unsigned char *)(va + o);
	return s;
}

/* A file filled with nonzero bytes, written with write() (page cache pages, not mapped). */
static int make_file(const char *path, size_t len) {
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) die("open file");
	static char buf[1 << 16];
	memset(buf, 0x5a, sizeof buf);
	for (size_t o = 0; o < len; o += sizeof buf)
		if (write(fd, buf, len - o < sizeof buf ? len - o : sizeof buf) < 0) die("write file");
	return fd;
}

/* ---- children driven over pipes ----------------------------------------- */

enum { OP_OBS = 1, OP_WRITE, OP_READ, OP_MADVISE, OP_MUNMAP, OP_MPROTECT, OP_EXIT };
struct cmd { int op; int arg; uintptr_t a; size_t len; };
struct child { pid_t pid; int cw; int ar; int alive; };

static void child_loop(int cr, int aw) {
	struct cmd c;
	for (;;) {
		if (read(cr, &c, sizeof c) != (ssize_t)sizeof c) _exit(2);
		char ack = 0;
		switch (c.op) {
		case OP_OBS: obs_range(c.a, c.len); break;
		case OP_WRITE: touch_write(c.a, c.len, (unsigned char)c.arg); break;
		case OP_READ: touch_read(c.a, c.len); break;
		case OP_MADVISE: ack = madvise((void *)c.a, c.len, c.arg) ? 1 : 0; break;
		case OP_MUNMAP: ack = munmap((void *)c.a, c.len) ? 1 : 0; break;
		case OP_MPROTECT: ack = mprotect((void *)c.a, c.len, c.arg) ? 1 : 0; break;
		case OP_EXIT:
			if (write(aw, &ack, 1) != 1) _exit(3);
			_exit(0);
		}
		if (ack) marker("ERROR pid=%d op %d failed: %s", getpid(), c.op, strerror(errno));
		if (write(aw, &ack, 1) != 1) _exit(3);
	}
}

static void child_spawn(struct child *ch) {
	int c2[2], a2[2];
	if (pipe(c2) || pipe(a2)) die("pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		close(c2[1]); close(a2[0]);
		child_loop(c2[0], a2[1]);
	}
	close(c2[0]); close(a2[1]);
	*ch = (struct child){ pid, c2[1], a2[0], 1 };
}

static void child_do(struct child *ch, int op, uintptr_t a, size_t len, int arg) {
	struct cmd c = { op, arg, a, len };
	char ack;
	if (!ch->alive) return;
	if (write(ch->cw, &c, sizeof c) != (ssize_t)sizeof c) die("write to child");
	if (read(ch->ar, &ack, 1) != 1) die("read from child");
	if (op == OP_EXIT) {
		waitpid(ch->pid, NULL, 0);
		close(ch->cw); close(ch->ar);
		ch->alive = 0;
	}
}

static struct child *kids;
static int nkids;

/* Every live process samples every region: the parent first, then each child in order. */
static void observe_all(void) {
	for (int r = 0; r < nregions; r++) obs_range(regions[r].va, regions[r].len);
	for (int k = 0; k < nkids; k++)
		for (int r = 0; r < nregions; r++) child_do(&kids[k], OP_OBS, regions[r].va, regions[r].len, 0);
}

static void wl_init(const char *name, struct child *children, int n) {
	kids = children;
	nkids = n;
	for (int i = 0; i < n; i++) children[i].alive = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	marker("WORKLOAD %s pid=%d", name, getpid());
}

static void split_folios(pid_t pid, uintptr_t start, uintptr_t end) {
	char buf[128];
	int fd = open("/sys/kernel/debug/split_huge_pages", O_WRONLY);
	if (fd < 0) die("open split_huge_pages");
	int n = snprintf(buf, sizeof buf, "%d,0x%lx,0x%lx", pid, (unsigned long)start, (unsigned long)end);
	if (write(fd, buf, n) < 0) die("write split_huge_pages");
	close(fd);
}
