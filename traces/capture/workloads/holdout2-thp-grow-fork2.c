/* holdout2-thp-grow-fork2: a third holdout, a mix no other workload uses: an anon MADV_HUGEPAGE
 * region of two THPs grown in place by mremap (no MREMAP_MAYMOVE: vma_expand of the same VMA) and
 * the new part faulted as a third THP; a 4 MiB file on the huge=always tmpfs mapped MAP_SHARED twice
 * in the parent (2 MiB-aligned at offset 0: PMD-mapped shmem THPs; and 64 pages at offset
 * 2 MiB + 100 pages at an unaligned address: PTE-mapped pieces of the second shmem THP, so that
 * folio is mapped by a PMD and by PTEs in the same mm); two children forked back to back; child 1
 * mprotects one page in the middle of the second anon THP (PMD split in child 1) and then munmaps a
 * range spanning the end of THP0 and the start of THP1; child 2 MADV_DONTNEEDs the first 128
 * subpages of THP0 and then writes every remaining subpage (PMD split, then 384 COWs of pages still
 * shared with the parent and child 1); the parent writes through both file mappings, munmaps the
 * second one, writes the grown THP (COW/reuse); children exit in reverse order (child 2 first). */
#include "wl.h"

int main(void) {
	struct child ch[2];
	wl_init("holdout2-thp-grow-fork2", ch, 2);

	step("setup-anon-2thp");
	/* 8 MiB reservation: the first 4 MiB become the anon region, the rest is freed for the grow */
	uintptr_t A = reserve_aligned(4 * HPAGE);
	if (mmap((void *)A, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("mmap anon fixed");
	if (munmap((void *)(A + 2 * HPAGE), 2 * HPAGE)) die("munmap reservation tail");
	if (madvise((void *)A, 2 * HPAGE, MADV_HUGEPAGE)) die("madvise hugepage");
	touch_write(A, 2 * HPAGE, 1);
	region_set("A", A, 2 * HPAGE);
	observe_all();

	step("mremap-grow-in-place");              /* same VMA expanded, then a third THP faulted */
	void *g = mremap((void *)A, 2 * HPAGE, 3 * HPAGE, 0);
	if (g == MAP_FAILED) die("mremap grow in place");
	if ((uintptr_t)g != A) { errno = EINVAL; die("mremap moved"); }
	touch_write(A + 2 * HPAGE, HPAGE, 2);
	region_set("A", A, 3 * HPAGE);
	observe_all();

	step("setup-shmem-file-twice");
	int fd = make_file("/mnt/huge/holdout2", 2 * HPAGE);
	uintptr_t F1 = map_file_aligned(fd, 2 * HPAGE, 0, MAP_SHARED);
	uintptr_t F2 = (uintptr_t)mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, HPAGE + 100 * PAGE);
	if ((void *)F2 == MAP_FAILED) die("mmap file second");
	touch_read(F1, 2 * HPAGE);
	touch_read(F2, 64 * PAGE);
	region_set("F1", F1, 2 * HPAGE);
	region_set("F2", F2, 64 * PAGE);
	observe_all();

	step("fork-1");
	child_spawn(&ch[0]);
	observe_all();

	step("fork-2");
	child_spawn(&ch[1]);
	observe_all();

	step("children-read-file");                /* MAP_SHARED file VMAs were not copied: refault */
	child_do(&ch[0], OP_READ, F1, 2 * HPAGE, 0);
	child_do(&ch[1], OP_READ, F2, 64 * PAGE, 0);
	observe_all();

	step("child1-mprotect-thp1-middle-page");  /* PMD split of THP1 in child 1 only */
	child_do(&ch[0], OP_MPROTECT, A + HPAGE + 256 * PAGE, PAGE, PROT_READ);
	observe_all();

	step("child1-munmap-across-thp0-thp1");    /* THP0[448..512) + THP1[0..64) */
	child_do(&ch[0], OP_MUNMAP, A + HPAGE - 64 * PAGE, 128 * PAGE, 0);
	observe_all();

	step("child2-dontneed-thp0-head");         /* THP0[0..128) in child 2 */
	child_do(&ch[1], OP_MADVISE, A, 128 * PAGE, MADV_DONTNEED);
	observe_all();

	step("child2-write-thp0-rest");            /* 384 COWs of pages still shared */
	child_do(&ch[1], OP_WRITE, A + 128 * PAGE, 384 * PAGE, 0x22);
	observe_all();

	step("parent-write-file-both-maps");
	touch_write(F1 + HPAGE + 110 * PAGE, 4 * PAGE, 0x31);   /* same pages as F2[10..14) */
	touch_write(F2 + 30 * PAGE, 2 * PAGE, 0x32);
	touch_write(F1 + 7 * PAGE, PAGE, 0x33);
	observe_all();

	step("parent-munmap-file-second-map");
	if (munmap((void *)F2, 64 * PAGE)) die("munmap F2");
	region_del("F2");
	observe_all();

	step("parent-write-thp2-and-thp1");        /* THP2 shared with both children: COW; THP1 too */
	touch_write(A + 2 * HPAGE + 5 * PAGE, PAGE, 0x41);
	touch_write(A + HPAGE + 3 * PAGE, PAGE, 0x42);
	observe_all();

	step("child2-exit");
	child_do(&ch[1], OP_EXIT, 0, 0, 0);
	observe_all();

	step("child1-exit");
	child_do(&ch[0], OP_EXIT, 0, 0, 0);
	observe_all();

	step("parent-write-thp0");                 /* parent alone again: reuse */
	touch_write(A + 300 * PAGE, PAGE, 0x51);
	observe_all();

	step("munmap-all");
	munmap((void *)A, 3 * HPAGE);
	munmap((void *)F1, 2 * HPAGE);
	observe_all();
	close(fd);
	step("done");
	return 0;
}
