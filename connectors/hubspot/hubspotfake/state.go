package hubspotfake

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"
)

// State is what a fake holds that should outlive its process, so the dev demo can stop
// and start again where it was: the records, the archived records and the id counters. Budgets, injected
// failures, stats, the request log and webhooks still queued are not part of it. It
// encodes to JSON and back without loss.
type State struct {
	// Objects are the records of each object ("companies", "contacts"), sorted by id.
	// Records carry their stored properties and their created and modified dates.
	Objects map[string][]Record
	// Archived are the archived records of each object (with ArchivedAt), sorted by id.
	Archived map[string][]Record
	// LastID is the last record id given out; new records are numbered after it.
	LastID int64
	// LastEventID is the last webhook eventId used; new events are numbered after it.
	LastEventID int64
}

// Snapshot returns the fake's State.
func (s *Server) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Objects: map[string][]Record{}, Archived: map[string][]Record{}, LastID: s.lastID, LastEventID: s.lastEventID}
	export := func(tb map[string]*record) []Record {
		recs := make([]Record, 0, len(tb))
		for _, r := range tb {
			recs = append(recs, r.export())
		}
		sort.Slice(recs, func(i, j int) bool { return idLess(recs[i].ID, recs[j].ID) })
		return recs
	}
	for object, tb := range s.tables {
		st.Objects[object] = export(tb)
		s.purgeArchived(object)
		st.Archived[object] = export(s.archived[object])
	}
	return st
}

// Restore replaces the fake's records, live and archived, with st's, as if they had
// always been there: no webhook is sent, nothing is counted, and they are searchable at
// once. Ids and eventIds never go back: new records are numbered after the highest of
// st.LastID, the restored ids and the fake's own counter, and events after the higher of
// st.LastEventID and the fake's counter (which starts at Options.EventIDBase). It fails,
// changing nothing, on an unknown object, an id that is not a number, or an id given
// twice (live and archived included).
func (s *Server) Restore(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tables := map[string]map[string]*record{}
	archived := map[string]map[string]*record{}
	for object := range s.tables {
		tables[object] = map[string]*record{}
		archived[object] = map[string]*record{}
	}
	lastID := max(s.lastID, st.LastID)
	for _, part := range []struct {
		objects  map[string][]Record
		into     map[string]map[string]*record
		archived bool
	}{{st.Objects, tables, false}, {st.Archived, archived, true}} {
		for _, object := range slices.Sorted(maps.Keys(part.objects)) {
			tb, ok := part.into[object]
			if !ok {
				return fmt.Errorf("hubspotfake: restore: unknown object %q (companies or contacts)", object)
			}
			for _, in := range part.objects[object] {
				n, err := strconv.ParseInt(in.ID, 10, 64)
				if err != nil || n <= 0 || !idPattern.MatchString(in.ID) {
					return fmt.Errorf("hubspotfake: restore: %s record id %q is not a positive number", object, in.ID)
				}
				_, live := tables[object][in.ID]
				_, gone := archived[object][in.ID]
				if live || gone {
					return fmt.Errorf("hubspotfake: restore: %s record %s given twice", object, in.ID)
				}
				lastID = max(lastID, n)
				r := &record{id: in.ID, props: map[string]string{}, created: millis(in.CreatedAt), modified: millis(in.UpdatedAt)}
				if part.archived {
					r.archivedAt = millis(in.ArchivedAt)
				}
				for k, v := range in.Properties {
					if v != "" { // the fake stores no empty values: "" clears a property
						r.props[k] = v
					}
				}
				s.defineSeen(object, r.props)
				tb[r.id] = r
			}
		}
	}
	s.tables = tables
	s.archived = archived
	for _, tb := range tables {
		for _, r := range tb {
			s.indexWriteAt(r, time.Time{}) // searchable from the start
		}
	}
	s.lastID = lastID
	s.lastEventID = max(s.lastEventID, st.LastEventID)
	return nil
}

func millis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
