/* fork-many: 5 children alive at once sharing 2 anon THPs and 16 small anon pages with the
 * parent; each observes; two children COW-write; then they exit one by one (observing after each
 * exit in every live process); finally the parent writes (reuse of now exclusive pages). */
#include "wl.h"

#define NK 5

int main(void) {
	struct child ch[NK];
	wl_init("fork-many", ch, NK);
	char name[64];

	step("mmap-fault");
	uintptr_t A = map_aligned_anon(2 * HPAGE, MADV_HUGEPAGE);
	uintptr_t S = map_small_anon(16);
	touch_write(A, 2 * HPAGE, 1);
	touch_write(S, 16 * PAGE, 1);
	region_set("A", A, 2 * HPAGE);
	region_set("S", S, 16 * PAGE);
	region_set("A0.cow", A + 99 * PAGE, 3 * PAGE);
	observe_all();

	for (int i = 0; i < NK; i++) {
		snprintf(name, sizeof name, "fork-%d", i);
		step(name);
		child_spawn(&ch[i]);
		observe_all();
	}

	step("child1-write-small");       /* COW of S[1] in child 1 */
	child_do(&ch[1], OP_WRITE, S + PAGE, PAGE, 7);
	observe_all();

	step("child3-write-thp");         /* COW of THP0 subpage 100 in child 3: its PMD is split */
	child_do(&ch[3], OP_WRITE, A + 100 * PAGE, PAGE, 7);
	observe_all();

	step("child2-dontneed-thp1-part");
	child_do(&ch[2], OP_MADVISE, A + HPAGE + 32 * PAGE, 32 * PAGE, MADV_DONTNEED);
	observe_all();

	for (int i = 0; i < NK; i++) {
		snprintf(name, sizeof name, "child-exit-%d", i);
		step(name);
		child_do(&ch[i], OP_EXIT, 0, 0, 0);
		observe_all();
	}

	step("parent-write");             /* exclusive again: reuse, no copy */
	touch_write(A + 100 * PAGE, PAGE, 9);
	touch_write(S + PAGE, PAGE, 9);
	observe_all();

	step("munmap-all");
	munmap((void *)A, 2 * HPAGE);
	munmap((void *)S, 16 * PAGE);
	observe_all();
	step("done");
	return 0;
}
