/* split-folio: forced folio splits through /sys/kernel/debug/split_huge_pages
 * ("<pid>,0x<start>,0x<end>") of anon THPs: THP0 partly mapped (MADV_DONTNEED of 16 subpages
 * first), THP1 PMD-mapped in parent and child, THP2 PMD-mapped in the parent only. Every THP has
 * zero-filled subpages that were never written (THP0: 10, 11; THP1: 20; THP2: 30) - on 6.12 a
 * split may remap those to the shared zero page. */
#include "wl.h"

static void fill_except(uintptr_t thp, const int *zero, int nzero) {
	for (unsigned long i = 0; i < NPG; i++) {
		int skip = 0;
		for (int z = 0; z < nzero; z++) skip |= (unsigned long)zero[z] == i;
		if (!skip) *(volatile unsigned char *)(thp + i * PAGE) = 0xa5;
	}
}

int main(void) {
	struct child ch[1];
	wl_init("split-folio", ch, 1);
	pid_t me = getpid();

	step("mmap-fault");
	uintptr_t A = map_aligned_anon(3 * HPAGE, MADV_HUGEPAGE);
	static const int z0[] = { 10, 11 }, z1[] = { 20 }, z2[] = { 30 };
	fill_except(A, z0, 2);            /* the first write faults the whole THP in */
	fill_except(A + HPAGE, z1, 1);
	fill_except(A + 2 * HPAGE, z2, 1);
	uintptr_t S = map_small_anon(4);
	touch_write(S, 4 * PAGE, 1);
	region_set("A", A, 3 * HPAGE);
	region_set("S", S, 4 * PAGE);
	region_set("A0.zero", A + 9 * PAGE, 4 * PAGE);       /* 9 written, 10 and 11 zero, 12 written */
	region_set("A0.dn", A + 98 * PAGE, 20 * PAGE);       /* 100..115 dropped below */
	region_set("A1.zero", A + HPAGE + 19 * PAGE, 3 * PAGE);
	region_set("A2.zero", A + 2 * HPAGE + 29 * PAGE, 3 * PAGE);
	observe_all();

	step("fork");
	child_spawn(&ch[0]);
	observe_all();

	step("child-munmap-thp2");        /* THP2 stays mapped in the parent only */
	child_do(&ch[0], OP_MUNMAP, A + 2 * HPAGE, HPAGE, 0);
	child_do(&ch[0], OP_MUNMAP, A, HPAGE, 0);          /* THP0 too */
	observe_all();

	step("dontneed-part-thp0");       /* THP0 partly mapped: PMD split, 16 PTEs zapped */
	if (madvise((void *)(A + 100 * PAGE), 16 * PAGE, MADV_DONTNEED)) die("madvise");
	observe_all();

	step("split-thp0-partly-mapped");
	split_folios(me, A, A + HPAGE);
	observe_all();

	step("split-thp2-pmd-mapped");
	split_folios(me, A + 2 * HPAGE, A + 3 * HPAGE);
	observe_all();

	step("split-thp1-shared");        /* PMD-mapped in parent and child */
	split_folios(me, A + HPAGE, A + 2 * HPAGE);
	observe_all();

	step("write-after-split");        /* parent writes a formerly zero subpage of THP1 (shared: COW) */
	touch_write(A + HPAGE + 20 * PAGE, PAGE, 0x77);
	touch_write(A + 10 * PAGE, PAGE, 0x77);
	observe_all();

	step("child-exit");
	child_do(&ch[0], OP_EXIT, 0, 0, 0);
	observe_all();

	step("munmap-all");
	munmap((void *)A, 3 * HPAGE);
	munmap((void *)S, 4 * PAGE);
	observe_all();
	step("done");
	return 0;
}
