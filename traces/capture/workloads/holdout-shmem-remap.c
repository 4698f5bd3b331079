/* holdout-shmem-remap: a second holdout, a mix no other workload uses: MAP_SHARED|MAP_ANONYMOUS
 * memory (a shmem object made by shmem_zero_setup(), mapped through the file rmap), a small tmpfs
 * file mapped MAP_PRIVATE and COW-written by parent and child, a single-page mprotect in the
 * middle of a small anon region (VMA split in three), mremap growing the tail VMA of that region
 * to a new address (MREMAP_MAYMOVE|MREMAP_FIXED) and faulting the new part, mremap moving the
 * shared anon mapping, MADV_DONTNEED of shared anon pages (page cache keeps them), MADV_REMOVE
 * (hole punch: unmap_mapping_range() in every process), a child mprotecting one page in the middle
 * of a shared anon THP (PMD split in the child only), and a second fork after all of it. */
#include "wl.h"

#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

int main(void) {
	struct child ch[2];
	wl_init("holdout-shmem-remap", ch, 2);

	step("setup");
	/* shared anonymous: 32 small shmem pages (shmem_enabled=never for the internal mount) */
	uintptr_t SA = (uintptr_t)mmap(NULL, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if ((void *)SA == MAP_FAILED) die("mmap shared anon");
	uintptr_t A = map_aligned_anon(HPAGE, MADV_HUGEPAGE);
	uintptr_t S = map_small_anon(16);
	int fp = make_file("/tmp/holdout-private", 12 * PAGE);
	uintptr_t P = (uintptr_t)mmap(NULL, 12 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fp, 0);
	if ((void *)P == MAP_FAILED) die("mmap private file");
	touch_write(SA, 32 * PAGE, 1);
	touch_write(A, HPAGE, 1);
	touch_write(S, 16 * PAGE, 1);
	touch_read(P, 12 * PAGE);
	region_set("SA", SA, 32 * PAGE);
	region_set("A", A, HPAGE);
	region_set("S", S, 16 * PAGE);
	region_set("P", P, 12 * PAGE);
	observe_all();

	step("fork-1");
	child_spawn(&ch[0]);
	observe_all();

	step("child1-write-shared-anon");          /* no COW: the parent sees the same shmem pages */
	child_do(&ch[0], OP_WRITE, SA + 3 * PAGE, 3 * PAGE, 0x21);
	observe_all();

	step("private-file-cow");                  /* parent COWs pages 2 and 9, child1 page 9 */
	touch_write(P + 2 * PAGE, PAGE, 0x31);
	touch_write(P + 9 * PAGE, PAGE, 0x32);
	child_do(&ch[0], OP_WRITE, P + 9 * PAGE, PAGE, 0x33);
	observe_all();

	step("parent-mprotect-small-middle-page"); /* VMA split in three, no rmap call */
	if (mprotect((void *)(S + 5 * PAGE), PAGE, PROT_READ)) die("mprotect small");
	observe_all();

	step("child1-mprotect-thp-middle-page");   /* PMD split of a THP shared with the parent */
	child_do(&ch[0], OP_MPROTECT, A + 300 * PAGE, PAGE, PROT_READ);
	observe_all();

	step("parent-dontneed-shared-anon");       /* zap 8 shmem pages in the parent only */
	if (madvise((void *)(SA + 8 * PAGE), 8 * PAGE, MADV_DONTNEED)) die("madvise dontneed shared");
	observe_all();

	step("parent-mremap-grow-small-tail");     /* tail VMA S[6..16) -> 20 pages at a new address */
	uintptr_t U = reserve_aligned(HPAGE);
	uintptr_t T = (uintptr_t)mremap((void *)(S + 6 * PAGE), 10 * PAGE, 20 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(U + 7 * PAGE));
	if ((void *)T == MAP_FAILED) die("mremap grow");
	touch_write(T + 10 * PAGE, 10 * PAGE, 4);   /* fault the new part */
	touch_write(T + 2 * PAGE, PAGE, 5);         /* COW of a page still shared with child1 */
	region_set("S.tail", T, 20 * PAGE);
	observe_all();

	step("parent-mremap-move-shared-anon");    /* move (no grow: past i_size would SIGBUS) */
	uintptr_t V = reserve_aligned(HPAGE);
	uintptr_t SA2 = (uintptr_t)mremap((void *)SA, 32 * PAGE, 32 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(V + 11 * PAGE));
	if ((void *)SA2 == MAP_FAILED) die("mremap move shared");
	touch_read(SA2, 32 * PAGE);                 /* refault the dropped pages from the page cache */
	region_set("SA.moved", SA2, 32 * PAGE);
	observe_all();

	step("child1-dontneed-private-file");      /* drops file pages and child1's COW copy */
	child_do(&ch[0], OP_MADVISE, P, 12 * PAGE, MADV_DONTNEED);
	observe_all();

	step("fork-2");
	child_spawn(&ch[1]);
	observe_all();

	step("child2-cow-private-file-anon");      /* page 2 is the parent's anon copy: COW again */
	child_do(&ch[1], OP_WRITE, P + 2 * PAGE, PAGE, 0x41);
	child_do(&ch[1], OP_READ, SA2, 32 * PAGE, 0);
	child_do(&ch[1], OP_WRITE, SA2 + 20 * PAGE, PAGE, 0x42);
	observe_all();

	step("parent-reuse-private-file");         /* parent alone maps its copy again: reuse */
	touch_write(P + 2 * PAGE, PAGE, 0x43);
	observe_all();

	step("parent-madv-remove-shared-anon");    /* hole punch: unmapped in parent and child2 */
	if (madvise((void *)(SA2 + 18 * PAGE), 4 * PAGE, MADV_REMOVE)) die("madvise remove");
	observe_all();

	step("child1-exit");
	child_do(&ch[0], OP_EXIT, 0, 0, 0);
	observe_all();

	step("parent-munmap-shared-anon-middle");
	if (munmap((void *)(SA2 + 12 * PAGE), 4 * PAGE)) die("munmap shared middle");
	observe_all();

	step("child2-exit");
	child_do(&ch[1], OP_EXIT, 0, 0, 0);
	observe_all();

	step("munmap-all");
	munmap((void *)SA2, 32 * PAGE);
	munmap((void *)A, HPAGE);
	munmap((void *)S, 6 * PAGE);
	munmap((void *)T, 20 * PAGE);
	munmap((void *)P, 12 * PAGE);
	observe_all();
	close(fp);
	step("done");
	return 0;
}
