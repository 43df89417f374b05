package activities

import "tandem/pairs"

// linkSaves saves a chunk's links while the chunk goes on: one save in flight, in page
// order, on the machine's other core, while the chunk looks the next pages up, decides
// and writes them. The links of the pages written meanwhile gather for the next save, one
// transaction for all of them (a save's commit and its read-back cost per save, not per
// link), up to maxGatheredLinks, past which the chunk waits for the save in flight. The
// chunk moves its cursor past a page once the page's links are saved (after). A page whose
// records, or the records its look-up found, are in links not yet saved waits for them, so
// no look-up reads the store without a link that is on its way.
type linkSaves struct {
	// save saves links (SaveLinks in a chunk).
	save func([]pairs.Link) error
	// flight is the save in flight, next the links gathering for the save after it.
	flight, next *linkBatch
}

// maxGatheredLinks is how many links gather for the next save while one is in flight.
const maxGatheredLinks = 1000

// linkBatch is links saved in one transaction, and what waits for them.
type linkBatch struct {
	links []pairs.Link
	// ids are the records of links, by side.
	ids  map[string]map[string]bool
	then []func()
	done chan error
}

// add gathers links for a save: started at once when none is in flight, else once the
// save in flight has ended (which the next add, or wait, finds). add waits for the save
// in flight when maxGatheredLinks have gathered; it returns that save's error.
func (l *linkSaves) add(links []pairs.Link) error {
	if len(links) == 0 {
		return nil
	}
	if l.next == nil {
		l.next = &linkBatch{ids: map[string]map[string]bool{SideA: {}, SideB: {}}}
	}
	l.next.links = append(l.next.links, links...)
	for _, k := range links {
		l.next.ids[SideA][k.A.ID], l.next.ids[SideB][k.B.ID] = true, true
	}
	return l.step(len(l.next.links) >= maxGatheredLinks)
}

// step ends the save in flight if it is done (or waits for it, when block), runs what
// waited for it, and starts the gathered links' save when none is in flight.
func (l *linkSaves) step(block bool) error {
	if f := l.flight; f != nil {
		var err error
		if block {
			err = <-f.done
		} else {
			select {
			case err = <-f.done:
			default:
				return nil
			}
		}
		l.flight = nil
		if err != nil {
			l.next = nil // what follows a failed save does not happen
			return err
		}
		for _, then := range f.then {
			then()
		}
	}
	if b := l.next; b != nil {
		l.flight, l.next = b, nil
		b.done = make(chan error, 1)
		go func() { b.done <- l.save(b.links) }()
	}
	return nil
}

// holds reports whether links not yet saved have a link of one of side's ids.
func (l *linkSaves) holds(side string, ids ...string) bool {
	for _, b := range []*linkBatch{l.flight, l.next} {
		if b == nil {
			continue
		}
		for _, id := range ids {
			if b.ids[side][id] {
				return true
			}
		}
	}
	return false
}

// after runs f once the links added so far are saved: at once when all are.
func (l *linkSaves) after(f func()) {
	switch {
	case l.next != nil:
		l.next.then = append(l.next.then, f)
	case l.flight != nil:
		l.flight.then = append(l.flight.then, f)
	default:
		f()
	}
}

// wait saves every link added so far and runs what was to come after them; a failed save
// returns its error (and what was to follow does not run).
func (l *linkSaves) wait() error {
	for l.flight != nil || l.next != nil {
		if err := l.step(true); err != nil {
			return err
		}
	}
	return nil
}

// abandon waits for a save in flight to end, when the chunk ends on an error.
func (l *linkSaves) abandon() {
	if l.flight != nil {
		<-l.flight.done
		l.flight, l.next = nil, nil
	}
}
