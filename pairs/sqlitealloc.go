package pairs

import (
	"sync"

	"modernc.org/libc"
)

// pinAllocatorPages keeps one block of each of the C allocator's mid-size classes (512
// bytes to 16 KiB) allocated for the life of the process.
//
// modernc.org/sqlite's C code allocates from modernc.org/memory, which carves blocks of a
// size class out of a 64 KiB page it maps for that class and unmaps the page as soon as
// its last block is freed. A link row of wide values (20 fields a side: a few KiB) is
// built in a block of a class nothing else keeps alive, so every row mapped a page and
// unmapped it again (two system calls a row or more), a third of a wide Save's time
// (BenchmarkSaveFloor). A block held in each class keeps its page mapped, and rows reuse
// its free blocks. The cost is one page a class: 6 pages, 384 KiB of address space.
// Blocks larger than 16 KiB get a mapping of their own whatever is held: a row that large
// still costs its system calls.
func pinAllocatorPages() {
	pinOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close() // the blocks are the allocator's, not the TLS's
		for size := 512; size <= 16<<10; size *= 2 {
			// Any size above half the class's lands in it (the allocator rounds up to a
			// power of two); this one leaves room for the header SQLite's own blocks carry.
			if p := libc.Xmalloc(tls, libc.Tsize_t(size-64)); p != 0 {
				pinned = append(pinned, p)
			}
		}
	})
}

var (
	pinOnce sync.Once
	// pinned holds the blocks, so that nothing reads as a leak to a reader of the code:
	// they are never freed.
	pinned []uintptr
)
