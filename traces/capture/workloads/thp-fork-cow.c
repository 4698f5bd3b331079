/* thp-fork-cow: anon THPs through fork, COW, mprotect (PMD split), partial munmap, child exit.
 * A = 3 THPs (6 MiB, 2 MiB-aligned, MADV_HUGEPAGE): THP0 is COWed by the parent, THP1 by the
 * child and then mprotected in half and partly unmapped by the parent, THP2 stays PMD-mapped in
 * both until the child exits, then the parent unmaps part of it. S = 8 small (4 KiB) anon pages. */
#include "wl.h"

int main(void) {
	struct child ch[1];
	wl_init("thp-fork-cow", ch, 1);

	step("mmap");
	uintptr_t A = map_aligned_anon(3 * HPAGE, MADV_HUGEPAGE);
	uintptr_t S = map_small_anon(8);
	region_set("A", A, 3 * HPAGE);
	region_set("S", S, 8 * PAGE);
	region_set("A0.cow", A + 4 * PAGE, 6 * PAGE);         /* THP0 subpages 4..9 (5, 9 written) */
	region_set("A1.cow", A + HPAGE + 6 * PAGE, 3 * PAGE); /* THP1 subpages 6..8 (7 written) */
	observe_all();

	step("fault-thp");
	touch_write(A, 3 * HPAGE, 1);
	touch_write(S, 8 * PAGE, 1);
	observe_all();

	step("fork");
	child_spawn(&ch[0]);
	observe_all();

	step("child-read");
	child_do(&ch[0], OP_READ, A, 3 * HPAGE, 0);
	child_do(&ch[0], OP_READ, S, 8 * PAGE, 0);
	observe_all();

	step("parent-cow-write");  /* THP0 subpage 5 and S[2] */
	touch_write(A + 5 * PAGE, PAGE, 2);
	touch_write(S + 2 * PAGE, PAGE, 2);
	observe_all();

	step("child-cow-write");   /* THP1 subpage 7 and S[3] */
	child_do(&ch[0], OP_WRITE, A + HPAGE + 7 * PAGE, PAGE, 3);
	child_do(&ch[0], OP_WRITE, S + 3 * PAGE, PAGE, 3);
	observe_all();

	step("mprotect-half");     /* first half of THP1 read-only in the parent: PMD split */
	if (mprotect((void *)(A + HPAGE), HPAGE / 2, PROT_READ)) die("mprotect");
	observe_all();

	step("munmap-part");       /* last quarter of THP1 and S[6..7] in the parent */
	if (munmap((void *)(A + HPAGE + 3 * HPAGE / 4), HPAGE / 4)) die("munmap");
	if (munmap((void *)(S + 6 * PAGE), 2 * PAGE)) die("munmap S");
	observe_all();

	step("child-exit");
	child_do(&ch[0], OP_EXIT, 0, 0, 0);
	observe_all();

	step("parent-write-after-exit"); /* THP0 subpage 9 (now exclusive: reuse), THP2 subpage 0 */
	touch_write(A + 9 * PAGE, PAGE, 4);
	touch_write(A + 2 * HPAGE, PAGE, 4);
	observe_all();

	step("munmap-thp2-part");  /* PMD-mapped, unshared THP2: split and partial unmap */
	if (munmap((void *)(A + 2 * HPAGE + HPAGE / 2), HPAGE / 4)) die("munmap thp2");
	observe_all();

	step("munmap-all");
	munmap((void *)A, 3 * HPAGE);
	munmap((void *)S, 8 * PAGE);
	observe_all();
	step("done");
	return 0;
}
