package activities

import (
	"errors"
	"hash/maphash"

	"tandem/pairs"
)

// linkSaves saves a chunk's links while the chunk goes on, in page order, on the machine's
// other core, while the chunk looks the next pages up, decides and writes them. A batch of
// links goes through two stages: prepare (the read-back of what was written) and save (one
// transaction). Two batches are in flight at most: one saving, the next preparing and then
// waiting for it, so the store's one writer does only the transaction while the read-back
// of the batch behind it runs beside it. The links of the pages written meanwhile gather
// for the next batch (a transaction's commit and a read-back's call cost per batch, not
// per link), up to maxGatheredLinks, past which the chunk waits for the oldest batch. The
// chunk moves its cursor past a page once the page's links are saved (after). A page whose
// records, or the records its look-up found, are in links not yet saved waits for them, so
// no look-up reads the store without a link that is on its way.
type linkSaves struct {
	// prepare readies links for their save (a chunk's read-back; nil: as they are); save
	// saves them (one transaction).
	prepare func([]pairs.Link) []pairs.Link
	save    func([]pairs.Link) error
	// flight are the batches in flight, oldest first; next the links gathering for the
	// batch after them.
	flight []*linkBatch
	next   *linkBatch
	// spare are the slices of batches that have ended, emptied, for the batches to come:
	// a chunk's links gather into a few slices instead of one a page.
	spare [][]pairs.Link
	// failed is set once a save failed: nothing is saved after it.
	failed bool
	// unsaved holds the records of links added, by side (SideA's at 0) and by a hash of
	// their id (seed's): each value is the newest batch holding an id of that hash (its
	// serial). Batches save in serial order, so an id is still unsaved while its serial is
	// above saved, the serial of the last batch saved. Two ids of one hash only make a
	// look-up wait for a save it did not need; the maps hold no pointers for the
	// collector to follow, and half the bytes of maps by id. One map a side for the
	// chunk's life, not maps a batch; emptied whenever every batch has saved, so it stays
	// about the size of what is in flight.
	unsaved [2]map[uint64]uint64
	seed    maphash.Seed
	// hash, when set, hashes ids in place of maphash (tests make ids collide).
	hash   func(id string) uint64
	serial uint64
	saved  uint64
}

// maxGatheredLinks is how many links gather for the next batch while two are in flight;
// maxFlights how many batches are in flight at once.
//
// Batches grow only while the saves lag, and they lag most when a side's ids come in no
// order (a CRM read by last change): each link then lands in another page of the store's
// index, and a SQLite transaction writes each page it touched once, whatever the number
// of links in it. Batches of up to 4,000 rather than 1,000 cut the saves of a two-way
// first run of 100,000 pairs read in that order by a fifth (BENCHMARKS.md); read in id
// order, the saves keep up and batches stay under 1,000 either way.
const (
	maxGatheredLinks = 4000
	maxFlights       = 2
)

// errEarlierSave is the end of a batch whose save did not start because the batch before
// it failed.
var errEarlierSave = errors.New("an earlier save of the chunk's links failed")

// linkBatch is links saved in one transaction, and what waits for them.
type linkBatch struct {
	// links are the links, in the order added.
	links []pairs.Link
	// serial numbers the batch in the chunk (unsaved's values).
	serial uint64
	then   []func()
	// done receives the save's result, once; ended is closed when the save has ended, with
	// err its result (the batch after it saves only then, and not after a failure).
	done  chan error
	ended chan struct{}
	err   error
}

// gather gathers the links fill appends to dst, the links gathering for the next batch,
// for a save: started at once when fewer than maxFlights batches are in flight, else once
// the oldest has ended (which the next gather, or wait, finds). fill may change the links
// it appends (and only those) until it returns. gather waits for the oldest batch when
// maxGatheredLinks have gathered; it returns that save's error.
func (l *linkSaves) gather(fill func(dst []pairs.Link) []pairs.Link) error {
	if l.failed {
		return errEarlierSave
	}
	b := l.next
	var dst []pairs.Link
	switch {
	case b != nil:
		dst = b.links
	case len(l.spare) > 0:
		dst, l.spare = l.spare[len(l.spare)-1], l.spare[:len(l.spare)-1]
	}
	start := len(dst)
	dst = fill(dst)
	if len(dst) == start {
		if b == nil && cap(dst) > 0 {
			l.spare = append(l.spare, dst)
		}
		return nil
	}
	if b == nil {
		l.serial++
		b = &linkBatch{serial: l.serial}
		l.next = b
	}
	b.links = dst
	if l.unsaved[0] == nil {
		// Sized for a few pages: a chunk whose saves lag grows it a few times, once.
		n := 4 * (len(dst) - start)
		l.unsaved = [2]map[uint64]uint64{make(map[uint64]uint64, n), make(map[uint64]uint64, n)}
		l.seed = maphash.MakeSeed()
	}
	for _, k := range dst[start:] {
		l.unsaved[0][l.key(k.A.ID)] = b.serial
		l.unsaved[1][l.key(k.B.ID)] = b.serial
	}
	return l.step(len(b.links) >= maxGatheredLinks)
}

// recycle keeps the slice of a batch that has ended for the batches to come, emptied (its
// links' values are not kept alive by it).
func (l *linkSaves) recycle(b *linkBatch) {
	if len(l.spare) < maxFlights+1 {
		clear(b.links)
		l.spare = append(l.spare, b.links[:0])
	}
	b.links = nil
}

// step ends the batches in flight that are done, oldest first (or waits for the oldest,
// when block), runs what waited for them, and starts the gathered links' batch when fewer
// than maxFlights are in flight.
func (l *linkSaves) step(block bool) error {
	for len(l.flight) > 0 {
		f := l.flight[0]
		var err error
		if block {
			err = <-f.done
			block = false
		} else {
			select {
			case err = <-f.done:
			default:
				return l.start()
			}
		}
		l.flight = l.flight[1:]
		l.forget(f)
		l.recycle(f)
		if err != nil {
			// What follows a failed save does not happen: the batch behind it ends without
			// saving (once its read-back is over), the gathered links are dropped, and so
			// are links added later (a page in flight that lands as the chunk ends).
			l.abandon()
			l.failed = true
			return err
		}
		for _, then := range f.then {
			then()
		}
	}
	return l.start()
}

// start starts the gathered links' batch, if any, when fewer than maxFlights are in
// flight: it prepares them at once, then saves them once the batch before it has saved.
func (l *linkSaves) start() error {
	b := l.next
	if b == nil || len(l.flight) >= maxFlights {
		return nil
	}
	var before *linkBatch
	if n := len(l.flight); n > 0 {
		before = l.flight[n-1]
	}
	l.flight, l.next = append(l.flight, b), nil
	b.done, b.ended = make(chan error, 1), make(chan struct{})
	go func() {
		links := b.links
		if l.prepare != nil {
			links = l.prepare(links)
		}
		if before != nil {
			<-before.ended
			if before.err != nil {
				b.err = errEarlierSave
			}
		}
		if b.err == nil {
			b.err = l.save(links)
		}
		close(b.ended)
		b.done <- b.err
	}()
	return nil
}

// holds reports whether links not yet saved have a link of one of side's ids.
func (l *linkSaves) holds(side string, ids ...string) bool {
	unsaved := l.unsaved[0]
	if side == SideB {
		unsaved = l.unsaved[1]
	}
	if len(unsaved) == 0 {
		return false
	}
	for _, id := range ids {
		if serial, ok := unsaved[l.key(id)]; ok && serial > l.saved {
			return true
		}
	}
	return false
}

// key is id's key in unsaved.
func (l *linkSaves) key(id string) uint64 {
	if l.hash != nil {
		return l.hash(id)
	}
	return maphash.String(l.seed, id)
}

// forget notes that b, the oldest batch in flight, has ended: its records, but for those
// a newer batch holds too, are saved. When no batch is in flight or gathering, unsaved
// is emptied.
func (l *linkSaves) forget(b *linkBatch) {
	l.saved = b.serial
	if len(l.flight) == 0 && l.next == nil {
		clear(l.unsaved[0])
		clear(l.unsaved[1])
	}
}

// after runs f once the links added so far are saved: at once when all are.
func (l *linkSaves) after(f func()) {
	switch {
	case l.next != nil:
		l.next.then = append(l.next.then, f)
	case len(l.flight) > 0:
		last := l.flight[len(l.flight)-1]
		last.then = append(last.then, f)
	default:
		f()
	}
}

// wait saves every link added so far and runs what was to come after them; a failed save
// returns its error (and what was to follow does not run).
func (l *linkSaves) wait() error {
	for len(l.flight) > 0 || l.next != nil {
		if err := l.step(true); err != nil {
			return err
		}
	}
	return nil
}

// abandon waits for the batches in flight to end, when the chunk ends on an error.
func (l *linkSaves) abandon() {
	for _, f := range l.flight {
		<-f.done
	}
	l.flight, l.next = nil, nil
	clear(l.unsaved[0])
	clear(l.unsaved[1])
}
