/* madvise-thp: MADV_COLD on anon THPs the process maps by PTEs (each PMD split by mprotect of its
 * first half and back, which merges the VMA again): THP0 whole, THP1 in part, THP2 in part while
 * a child shares it. 6.1 splits a PTE-mapped THP mapped once whatever the range covers
 * (madvise_cold_or_pageout_pte_range(): PageTransCompound, page_mapcount() == 1, split); 6.12
 * (6.10+) leaves alone one the range maps whole (madvise_folio_pte_batch() covers the folio) and
 * splits one it maps in part unless folio_likely_mapped_shared(). Then mprotect and madvise over a
 * range with a hole: both fail with ENOMEM, mprotect after changing the VMA before the hole,
 * madvise after zapping both VMAs. */
#include "wl.h"

int main(void) {
	struct child ch[1];
	wl_init("madvise-thp", ch, 1);

	step("mmap-fault");
	uintptr_t A = map_aligned_anon(3 * HPAGE, MADV_HUGEPAGE);
	touch_write(A, 3 * HPAGE, 0x5a);  /* three PMD-mapped THPs */
	region_set("A", A, 3 * HPAGE);
	observe_all();

	step("pte-map");                  /* every PMD split; one VMA again */
	for (unsigned long i = 0; i < 3; i++) {
		if (mprotect((void *)(A + i * HPAGE), HPAGE / 2, PROT_READ)) die("mprotect ro");
		if (mprotect((void *)(A + i * HPAGE), HPAGE / 2, PROT_READ | PROT_WRITE)) die("mprotect rw");
	}
	observe_all();

	step("cold-whole-thp0");          /* 6.1: split; 6.12: left whole */
	if (madvise((void *)A, HPAGE, MADV_COLD)) die("madvise cold thp0");
	observe_all();

	step("cold-part-thp1");           /* both: split */
	if (madvise((void *)(A + HPAGE), HPAGE / 2, MADV_COLD)) die("madvise cold thp1");
	observe_all();

	step("fork");
	child_spawn(&ch[0]);
	observe_all();

	step("cold-part-shared-thp2");    /* both: mapped elsewhere, left whole */
	if (madvise((void *)(A + 2 * HPAGE), HPAGE / 2, MADV_COLD)) die("madvise cold thp2");
	observe_all();

	step("child-exit");
	child_do(&ch[0], OP_EXIT, 0, 0, 0);
	observe_all();

	step("holes");                    /* [H, H+4P) and [H+8P, H+12P) */
	uintptr_t H = map_small_anon(12);
	touch_write(H, 12 * PAGE, 0x11);
	if (munmap((void *)(H + 4 * PAGE), 4 * PAGE)) die("munmap hole");
	region_set("H", H, 12 * PAGE);
	if (mprotect((void *)(H + 2 * PAGE), 10 * PAGE, PROT_READ) == 0 || errno != ENOMEM) die("mprotect over a hole");
	if (madvise((void *)H, 12 * PAGE, MADV_DONTNEED) == 0 || errno != ENOMEM) die("madvise over a hole");
	observe_all();

	step("munmap-all");
	munmap((void *)A, 3 * HPAGE);
	munmap((void *)H, 12 * PAGE);
	region_del("A");
	region_del("H");
	step("done");
	return 0;
}
