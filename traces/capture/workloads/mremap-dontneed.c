/* mremap-dontneed: mremap of anon THPs (move to a 2 MiB-aligned address: PMDs move; move to an
 * unaligned address: PMD split; grow; shrink) and MADV_DONTNEED of part of a THP and of a whole
 * THP, in a parent and in a forked child. mremap moves page tables without rmap calls. */
#include "wl.h"

int main(void) {
	struct child ch[1];
	wl_init("mremap-dontneed", ch, 1);

	step("mmap-fault");
	uintptr_t A = map_aligned_anon(2 * HPAGE, MADV_HUGEPAGE);
	touch_write(A, 2 * HPAGE, 1);
	uintptr_t R = reserve_aligned(24 * HPAGE); /* PROT_NONE target space for MREMAP_FIXED */
	region_set("A", A, 2 * HPAGE);
	observe_all();

	step("mremap-move-aligned");
	uintptr_t B = R;
	if (mremap((void *)A, 2 * HPAGE, 2 * HPAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)B) == MAP_FAILED) die("mremap aligned");
	region_set("B", B, 2 * HPAGE);
	observe_all();

	step("mremap-move-unaligned");
	uintptr_t C = R + 4 * HPAGE + 5 * PAGE;
	if (mremap((void *)B, 2 * HPAGE, 2 * HPAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)C) == MAP_FAILED) die("mremap unaligned");
	region_del("A");
	region_set("C", C, 2 * HPAGE);
	observe_all();

	step("mremap-grow");              /* grow in place into the reservation? it is mapped: may move */
	if (munmap((void *)(C + 2 * HPAGE), 2 * HPAGE)) die("munmap hole"); /* room to grow in place */
	uintptr_t G = (uintptr_t)mremap((void *)C, 2 * HPAGE, 3 * HPAGE, MREMAP_MAYMOVE);
	if ((void *)G == MAP_FAILED) die("mremap grow");
	region_del("B");
	region_set("C", G, 3 * HPAGE);
	touch_write(G + 2 * HPAGE, HPAGE, 2); /* fault the grown part */
	observe_all();

	step("mremap-shrink");            /* unmaps the tail: rmap removes */
	if (mremap((void *)G, 3 * HPAGE, HPAGE + 64 * PAGE, 0) == MAP_FAILED) die("mremap shrink");
	observe_all();

	step("mmap-fault-D");
	uintptr_t D = map_aligned_anon(3 * HPAGE, MADV_HUGEPAGE);
	touch_write(D, 3 * HPAGE, 3);
	region_set("D", D, 3 * HPAGE);
	region_set("D0.dn", D + 126 * PAGE, 4 * PAGE);
	observe_all();

	step("fork");
	child_spawn(&ch[0]);
	observe_all();

	step("dontneed-part");            /* part of THP0 in the parent: PMD split, PTEs zapped */
	if (madvise((void *)(D + 128 * PAGE), 64 * PAGE, MADV_DONTNEED)) die("madvise part");
	observe_all();

	step("dontneed-whole");           /* whole THP1 in the parent: zap_huge_pmd */
	if (madvise((void *)(D + HPAGE), HPAGE, MADV_DONTNEED)) die("madvise whole");
	observe_all();

	step("child-dontneed-part");      /* THP2 subpages 0..15 in the child */
	child_do(&ch[0], OP_MADVISE, D + 2 * HPAGE, 16 * PAGE, MADV_DONTNEED);
	observe_all();

	step("mremap-shared-thp");        /* parent moves THP2 (shared with the child) to an aligned address */
	uintptr_t E = R + 16 * HPAGE;
	if (mremap((void *)(D + 2 * HPAGE), HPAGE, HPAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)E) == MAP_FAILED) die("mremap shared");
	region_set("E", E, HPAGE);
	observe_all();

	step("refault-dontneed");         /* parent refaults the dropped range */
	touch_write(D + 128 * PAGE, 64 * PAGE, 5);
	touch_write(D + HPAGE, HPAGE, 5);
	observe_all();

	step("child-exit");
	child_do(&ch[0], OP_EXIT, 0, 0, 0);
	observe_all();

	step("munmap-all");
	munmap((void *)G, HPAGE + 64 * PAGE);
	munmap((void *)D, 2 * HPAGE);
	munmap((void *)E, HPAGE);
	observe_all();
	step("done");
	return 0;
}
