/* holdout-mixed: a mix for a trace the tests never look at in advance: anon THPs, small anon
 * pages, a shmem THP file mapped MAP_PRIVATE and a small tmpfs file mapped MAP_SHARED; two
 * children forked at different times (the second after an mprotect split the VMAs), MADV_DONTNEED,
 * mprotect, partial munmap, mremap of small pages, private file COW, MADV_FREE. */
#include "wl.h"

int main(void) {
	struct child ch[2];
	wl_init("holdout-mixed", ch, 2);

	step("setup");
	uintptr_t A = map_aligned_anon(2 * HPAGE, MADV_HUGEPAGE);
	uintptr_t S = map_small_anon(12);
	int fh = make_file("/mnt/huge/holdout", HPAGE);
	int fs = make_file("/tmp/holdout", 8 * PAGE);
	uintptr_t F = map_file_aligned(fh, HPAGE, 0, MAP_PRIVATE);
	uintptr_t G = map_file_aligned(fs, 8 * PAGE, 0, MAP_SHARED);
	touch_write(A, 2 * HPAGE, 1);
	touch_write(S, 12 * PAGE, 1);
	touch_read(F, HPAGE);
	touch_read(G, 8 * PAGE);
	region_set("A", A, 2 * HPAGE);
	region_set("S", S, 12 * PAGE);
	region_set("F", F, HPAGE);
	region_set("G", G, 8 * PAGE);
	observe_all();

	step("fork-1");
	child_spawn(&ch[0]);
	observe_all();

	step("child1-dontneed-thp0-part");
	child_do(&ch[0], OP_MADVISE, A + 200 * PAGE, 8 * PAGE, MADV_DONTNEED);
	observe_all();

	step("mprotect-thp1-middle");     /* parent: VMA split in three, PMD split */
	if (mprotect((void *)(A + HPAGE + HPAGE / 4), HPAGE / 2, PROT_READ)) die("mprotect");
	observe_all();

	step("child1-private-file-cow");
	child_do(&ch[0], OP_READ, F, HPAGE, 0);
	child_do(&ch[0], OP_WRITE, F + 17 * PAGE, PAGE, 0x3c);
	region_set("F.cow", F + 16 * PAGE, 3 * PAGE);
	observe_all();

	step("fork-2");
	child_spawn(&ch[1]);
	observe_all();

	step("child2-munmap-part");
	child_do(&ch[1], OP_MUNMAP, A + HPAGE + 3 * HPAGE / 4, HPAGE / 4, 0);
	child_do(&ch[1], OP_MUNMAP, S + 10 * PAGE, 2 * PAGE, 0);
	observe_all();

	step("parent-dontneed-thp1");
	if (madvise((void *)(A + HPAGE), HPAGE, MADV_DONTNEED)) die("madvise");
	observe_all();

	step("child2-shared-file-write");
	child_do(&ch[1], OP_WRITE, G + 3 * PAGE, PAGE, 0x5d);
	observe_all();

	step("child1-exit");
	child_do(&ch[0], OP_EXIT, 0, 0, 0);
	observe_all();

	step("parent-mremap-small");
	uintptr_t T = (uintptr_t)mremap((void *)S, 12 * PAGE, 6 * PAGE, 0);
	if ((void *)T == MAP_FAILED) die("mremap shrink");
	uintptr_t U = reserve_aligned(HPAGE);
	if (mremap((void *)S, 6 * PAGE, 6 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(U + 3 * PAGE)) == MAP_FAILED) die("mremap move");
	region_set("S", U + 3 * PAGE, 6 * PAGE);
	observe_all();

	step("parent-madv-free-thp0");
	if (madvise((void *)(A + 64 * PAGE), 64 * PAGE, MADV_FREE)) die("madvise free");
	touch_write(A + 70 * PAGE, PAGE, 2);
	observe_all();

	step("child2-exit");
	child_do(&ch[1], OP_EXIT, 0, 0, 0);
	observe_all();

	step("munmap-all");
	munmap((void *)A, 2 * HPAGE);
	munmap((void *)(U + 3 * PAGE), 6 * PAGE);
	munmap((void *)F, HPAGE);
	munmap((void *)G, 8 * PAGE);
	observe_all();
	close(fh); close(fs);
	step("done");
	return 0;
}
