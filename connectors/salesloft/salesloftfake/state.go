package salesloftfake

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// State is what a fake holds that should outlive its process, so the dev demo can stop
// and start again where it was: the accounts and the id counter. The budget, injected
// failures, stats, the request log and webhooks still queued are not part of it. It
// encodes to JSON and back without loss.
//
// Salesloft's webhooks carry no event id (the connector derives one from the event, the
// account id and updated_at), so there is no event counter to keep: a restarted fake's
// changes are stamped by its clock, after anything an earlier run stamped.
type State struct {
	// Accounts are sorted by id.
	Accounts []Account
	// LastID is the last account id given out; new accounts are numbered after it.
	LastID int64
}

// Account is one stored account.
type Account struct {
	ID        int64
	CreatedAt time.Time
	UpdatedAt time.Time
	// ArchivedAt is set when the account is archived.
	ArchivedAt *time.Time
	// Fields are the writable attributes the account was given, as a request body
	// would give them (JSON values: strings, bools, numbers for the <name>_id
	// references, custom_fields and tags).
	Fields map[string]any
}

// Snapshot returns the fake's State.
func (s *Server) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Accounts: make([]Account, 0, len(s.accounts)), LastID: s.lastID}
	for _, id := range slices.Sorted(maps.Keys(s.accounts)) {
		a := s.accounts[id]
		out := Account{ID: a.id, CreatedAt: a.created, UpdatedAt: a.updated, Fields: wire(a.attrs)}
		if a.archived != nil {
			t := *a.archived
			out.ArchivedAt = &t
		}
		st.Accounts = append(st.Accounts, out)
	}
	return st
}

// Restore replaces the fake's accounts with st's, as if they had always been there: no
// webhook is sent, nothing is counted, and only the type rules of the fields apply (as
// for Seed). Ids never go back: new accounts are numbered after the highest of
// st.LastID, the restored ids and the fake's own counter. It fails, changing nothing, on
// an id that is not positive, an id given twice, or fields of the wrong type.
func (s *Server) Restore(st State) error {
	accounts := make(map[int64]*account, len(st.Accounts))
	lastID := st.LastID
	for _, in := range st.Accounts {
		if in.ID <= 0 {
			return fmt.Errorf("salesloftfake: restore: account id %d is not positive", in.ID)
		}
		if _, dup := accounts[in.ID]; dup {
			return fmt.Errorf("salesloftfake: restore: account %d given twice", in.ID)
		}
		attrs, bad := coerce(in.Fields)
		if bad != nil {
			return fmt.Errorf("salesloftfake: restore: account %d: %w", in.ID, bad)
		}
		delete(attrs, "archived") // kept as ArchivedAt
		a := &account{id: in.ID, created: micros(in.CreatedAt), updated: micros(in.UpdatedAt), attrs: attrs}
		if in.ArchivedAt != nil {
			t := micros(*in.ArchivedAt)
			a.archived = &t
		}
		accounts[a.id] = a
		lastID = max(lastID, a.id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts = accounts
	s.lastID = max(s.lastID, lastID)
	return nil
}

// micros is a stamp at Salesloft's precision, as the fake's clock gives them.
func micros(t time.Time) time.Time { return t.Round(0).Truncate(time.Microsecond) }
