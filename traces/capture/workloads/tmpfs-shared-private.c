/* tmpfs-shared-private: a 4 MiB file on a huge=always tmpfs (/mnt/huge: shmem THPs) and a 16-page
 * file on a plain tmpfs (/tmp: 4 KiB pages), each mapped MAP_SHARED and MAP_PRIVATE at 2 MiB-aligned
 * addresses in the parent; fork; the child faults them in; private COW writes in parent and child;
 * shared writes; the same file ranges mapped a second time in the parent; partial unmaps; exit. */
#include "wl.h"

#define FLEN (2 * HPAGE)
#define SLEN (16 * PAGE)

int main(void) {
	struct child ch[1];
	wl_init("tmpfs-shared-private", ch, 1);

	step("create-files");
	int fh = make_file("/mnt/huge/wl-file", FLEN);
	int fs = make_file("/tmp/wl-small", SLEN);

	step("map-shared");
	uintptr_t M1 = map_file_aligned(fh, FLEN, 0, MAP_SHARED);
	uintptr_t M2 = map_file_aligned(fs, SLEN, 0, MAP_SHARED);
	region_set("M1", M1, FLEN);
	region_set("M2", M2, SLEN);
	touch_read(M1, FLEN);
	touch_read(M2, SLEN);
	observe_all();

	step("map-private");
	uintptr_t P1 = map_file_aligned(fh, FLEN, 0, MAP_PRIVATE);
	uintptr_t P2 = map_file_aligned(fs, SLEN, 0, MAP_PRIVATE);
	region_set("P1", P1, FLEN);
	region_set("P2", P2, SLEN);
	region_set("P1.cow", P1 + 2 * PAGE, 3 * PAGE);
	touch_read(P1, FLEN);
	touch_read(P2, SLEN);
	observe_all();

	step("fork");
	child_spawn(&ch[0]);
	observe_all();

	step("child-read");
	child_do(&ch[0], OP_READ, M1, FLEN, 0);
	child_do(&ch[0], OP_READ, M2, SLEN, 0);
	child_do(&ch[0], OP_READ, P1, FLEN, 0);
	child_do(&ch[0], OP_READ, P2, SLEN, 0);
	observe_all();

	step("parent-private-cow-write"); /* P1 subpage 3, P2 page 1 */
	touch_write(P1 + 3 * PAGE, PAGE, 0x11);
	touch_write(P2 + 1 * PAGE, PAGE, 0x11);
	observe_all();

	step("child-private-cow-write");  /* P1 page in the second THP, P2 page 2 */
	child_do(&ch[0], OP_WRITE, P1 + HPAGE + 9 * PAGE, PAGE, 0x22);
	child_do(&ch[0], OP_WRITE, P2 + 2 * PAGE, PAGE, 0x22);
	observe_all();

	step("shared-write");             /* no COW: the page cache pages are written in place */
	touch_write(M1 + 4 * PAGE, PAGE, 0x33);
	touch_write(M2 + 5 * PAGE, PAGE, 0x33);
	child_do(&ch[0], OP_WRITE, M1 + HPAGE + 1 * PAGE, PAGE, 0x44);
	observe_all();

	step("map-twice");                /* same file ranges mapped again in the parent */
	uintptr_t D1 = map_file_aligned(fh, HPAGE, 0, MAP_SHARED);
	uintptr_t D2 = map_file_aligned(fs, SLEN, 0, MAP_SHARED);
	uintptr_t D3 = map_file_aligned(fh, HPAGE, HPAGE, MAP_PRIVATE);
	region_set("D1", D1, HPAGE);
	region_set("D2", D2, SLEN);
	region_set("D3", D3, HPAGE);
	touch_read(D1, HPAGE);
	touch_read(D2, SLEN);
	touch_read(D3, HPAGE);
	observe_all();

	step("munmap-part-of-twice");     /* half of D1 (file PMD split), D2 pages 0..3 */
	if (munmap((void *)(D1 + HPAGE / 2), HPAGE / 2)) die("munmap D1");
	if (munmap((void *)D2, 4 * PAGE)) die("munmap D2");
	observe_all();

	step("child-munmap-shared");
	child_do(&ch[0], OP_MUNMAP, M1, HPAGE, 0);
	observe_all();

	step("child-exit");
	child_do(&ch[0], OP_EXIT, 0, 0, 0);
	observe_all();

	step("munmap-all");
	munmap((void *)M1, FLEN); munmap((void *)M2, SLEN);
	munmap((void *)P1, FLEN); munmap((void *)P2, SLEN);
	munmap((void *)D1, HPAGE / 2); munmap((void *)(D2 + 4 * PAGE), SLEN - 4 * PAGE); munmap((void *)D3, HPAGE);
	observe_all();
	close(fh); close(fs);
	step("done");
	return 0;
}
