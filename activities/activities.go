// Package activities holds the steps of Tandem's page pipeline: everything that touches a
// service or depends on a sync's mapping runs here, one batch at a time, so workflows stay
// deterministic and old histories keep replaying when mapping code changes.
package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"tandem/connectors"
	"tandem/definition"
	"tandem/internal/config"
	"tandem/pairs"
	"tandem/secret"
)

// Sides of a sync.
const (
	SideA = definition.A
	SideB = definition.B
)

// maxPageBytes caps the encoded size of one page of records, so every activity payload
// stays well under Temporal's 2 MB limit even when records are large.
const maxPageBytes = 1 << 20

// Activities are the pipeline's activities. Workflows refer to them through a nil
// *Activities; the worker registers a filled one.
type Activities struct {
	// Syncs are the sync definitions the worker was started with.
	Syncs *config.File
	// Connections are the opened connections, by name.
	Connections map[string]connectors.Connector
	// Links is the link store two-way syncs keep their pairs in.
	Links pairs.Store
	// CoolDown is how long the loop guard holds a pair (0: pairs.DefaultCoolDown).
	CoolDown time.Duration
	// SearchState is set when the namespace has the state search attributes
	// (TandemState, TandemLastSuccess): the worker checks at start.
	SearchState bool
	// Secrets scrubs secret values from the errors activities return (the worker applies
	// it to every activity: app.NewWorker).
	Secrets *secret.Scrubber
}

// Ref names the sync an activity works for and carries the definition its run uses.
type Ref struct {
	Sync string
	// Def is the definition the run loaded (SyncPlan.Def), by value: every activity of a
	// run uses the one recorded in its history when the run started, whatever file the
	// worker that takes the activity was started with. Nil in histories from before it
	// was carried: the worker's file.
	Def *definition.Sync `json:",omitempty"`
}

// side resolves a sync's side to its definition and connection.
func (a *Activities) side(ref Ref, side string) (*definition.Sync, *definition.End, connectors.Connector, error) {
	s, err := a.sync(ref)
	if err != nil {
		return nil, nil, nil, err
	}
	var sd *definition.End
	switch side {
	case SideA:
		sd = &s.A
	case SideB:
		sd = &s.B
	default:
		return nil, nil, nil, nonRetryable(fmt.Errorf("sync %q: unknown side %q (want a or b)", ref.Sync, side))
	}
	c, ok := a.Connections[sd.Connection]
	if !ok {
		return nil, nil, nil, nonRetryable(fmt.Errorf("sync %q side %s: connection %q is not open on this worker (it has: %s)", ref.Sync, side, sd.Connection, strings.Join(slices.Sorted(maps.Keys(a.Connections)), ", ")))
	}
	return s, sd, c, nil
}

// sync is the definition a run uses: the one it carries, or the worker's.
func (a *Activities) sync(ref Ref) (*definition.Sync, error) {
	if ref.Def != nil {
		return ref.Def, nil
	}
	return a.named(ref.Sync)
}

// ErrUnknownSync is the type of the error for a sync the worker's file does not define.
const ErrUnknownSync = "UnknownSync"

// named is the worker's definition of a sync.
func (a *Activities) named(name string) (*definition.Sync, error) {
	if a.Syncs == nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("sync %q: this worker has no sync definitions", name), ErrUnknownSync, nil)
	}
	s, ok := a.Syncs.Sync(name)
	if !ok {
		msg := fmt.Sprintf("sync %q is not defined in %s (it defines: %s)", name, a.Syncs.Path, strings.Join(a.Syncs.SyncNames(), ", "))
		if near := definition.Nearest(name, a.Syncs.SyncNames()); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		return nil, temporal.NewNonRetryableApplicationError(msg, ErrUnknownSync, nil)
	}
	return s, nil
}

// LoadSyncInput names a sync, and may define it inline.
type LoadSyncInput struct {
	Sync string
	// Definition, when set, is the sync's definition given inline (a sync entry of a
	// definitions file, as JSON; connections by name): it is used instead of the
	// worker's file.
	Definition json.RawMessage `json:",omitempty"`
}

// SyncPlan is what the workflow needs of a sync's definition. It is read by a local
// activity at the start of every run, so an edited definition applies from the next run
// and the value used is recorded in history.
type SyncPlan struct {
	Mode      definition.Mode
	Every     time.Duration
	StartFrom time.Time
	PageSize  int
	Webhooks  bool
	// Lag is, by side, how far the side's Find may trail its writes
	// (connectors.IndexLagger); sides without lag are left out.
	Lag map[string]time.Duration `json:",omitempty"`
	// CoolDown is how long the loop guard holds a pair (two-way syncs).
	CoolDown time.Duration `json:",omitempty"`
	// Def is the whole definition the run uses; the workflow hands it to every activity
	// of the run (Ref), so the run is one definition from start to end.
	Def *definition.Sync `json:",omitempty"`
	// Source says where Def came from: the worker's file, or "inline".
	Source string `json:",omitempty"`
	// Search is set when the namespace has Tandem's state search attributes
	// (Activities.SearchState), so the workflow may upsert them.
	Search bool `json:",omitempty"`
}

// LoadSync returns the plan of a sync (local activity).
func (a *Activities) LoadSync(ctx context.Context, in LoadSyncInput) (SyncPlan, error) {
	var s *definition.Sync
	source := ""
	if len(in.Definition) > 0 {
		var err error
		if s, err = a.inline(in.Sync, in.Definition); err != nil {
			return SyncPlan{}, err
		}
		source = "inline"
	} else {
		var err error
		if s, err = a.named(in.Sync); err != nil {
			return SyncPlan{}, err
		}
		source = a.Syncs.Path
	}
	plan := SyncPlan{
		Def:       s,
		Source:    source,
		Search:    a.SearchState,
		Mode:      s.Mode,
		Every:     s.Schedule.Every,
		StartFrom: s.Schedule.StartFrom,
		PageSize:  s.PageSize,
		Webhooks:  s.Webhooks,
	}
	if s.Mode == definition.TwoWay {
		if _, err := a.links(); err != nil {
			return SyncPlan{}, err
		}
		plan.CoolDown = a.CoolDown
		if plan.CoolDown <= 0 {
			plan.CoolDown = pairs.DefaultCoolDown
		}
	}
	for _, side := range []string{SideA, SideB} {
		// A connection that is not open fails the run's first read, with its reason.
		if _, _, c, err := a.side(Ref{Sync: in.Sync, Def: s}, side); err == nil {
			lag := lagOf(c)
			if lag <= 0 {
				continue
			}
			if plan.Lag == nil {
				plan.Lag = map[string]time.Duration{}
			}
			plan.Lag[side] = lag
		}
	}
	return plan, nil
}

// ErrBadDefinition is the type of the error for an inline definition that does not parse.
const ErrBadDefinition = "BadDefinition"

// inline parses a sync's inline definition against the worker's connections.
func (a *Activities) inline(name string, raw json.RawMessage) (*definition.Sync, error) {
	// Connections are named as the worker opened them (a file built in code may not
	// list them).
	file := &config.File{Connections: map[string]config.Connection{}}
	if a.Syncs != nil {
		maps.Copy(file.Connections, a.Syncs.Connections)
	}
	for name := range a.Connections {
		if _, ok := file.Connections[name]; !ok {
			file.Connections[name] = config.Connection{Name: name}
		}
	}
	s, err := file.ParseSync(fmt.Sprintf("inline definition of sync %q", name), raw)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrBadDefinition, nil)
	}
	if s.Name != name {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("inline definition of sync %q: name: is %q; it must be the sync's name", name, s.Name), ErrBadDefinition, nil)
	}
	return s, nil
}

// FetchChangesInput asks for one page of a side's changes after a cursor.
type FetchChangesInput struct {
	Ref
	Side   string
	Cursor connectors.Cursor
	Limit  int
}

// Records is a batch of one side's records, reduced to the fields the sync reads, with
// each record's normalized key alongside (Keys[i] belongs to Records[i]).
type Records struct {
	Records []connectors.Record
	Keys    []string
	// More is true when the side may have more changes after the last record, or (for
	// GetRecords) when Rest is not empty.
	More bool
	// Rest are ids GetRecords was asked for but left out to keep the batch under the page
	// size cap; ask for them again.
	Rest []string `json:",omitempty"`
	// Usage is the service's quota use as last reported (connectors.UsageReporter).
	Usage map[string]string `json:",omitempty"`
	// ChangesOf is the side whose announced records GetRecords read, set when it runs as
	// a local activity (a webhook micro-batch): its history marker has no input.
	ChangesOf string `json:",omitempty"`
	// Before is set on a page of changes read from a side whose search trails its writes
	// (connectors.IndexLagger): the time the read ended less the lag. The connector reads
	// only records modified before then, so no record of the page holds a write Tandem
	// made after it (see FindPartnersInput.Before). A page served from an earlier read
	// (connectors.Page.AsOf) has that read's time, when earlier.
	Before time.Time `json:",omitzero"`
}

// split cuts r into pages of at most n records, in order: each but the last has More set,
// the last has r's.
func (r Records) split(n int) []Records {
	if len(r.Records) <= n {
		return []Records{r}
	}
	var out []Records
	for from := 0; from < len(r.Records); from += n {
		to := min(from+n, len(r.Records))
		out = append(out, Records{Records: r.Records[from:to], Keys: r.Keys[from:to], More: to < len(r.Records) || r.More, Usage: r.Usage, Before: r.Before})
	}
	return out
}

// UniqueKeys are the batch's keys without empty and repeated ones: what FindByIdentifier
// is asked for.
func (r Records) UniqueKeys() []string {
	seen := make(map[string]bool, len(r.Keys))
	out := make([]string, 0, len(r.Keys))
	for _, k := range r.Keys {
		if k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Keep returns the batch's records (with their keys) for which keep is true.
func (r Records) Keep(keep func(rec connectors.Record, key string) bool) Records {
	out := r
	out.Records, out.Keys = nil, nil
	for i, rec := range r.Records {
		if keep(rec, r.Keys[i]) {
			out.Records = append(out.Records, rec)
			out.Keys = append(out.Keys, r.Keys[i])
		}
	}
	return out
}

// Without is the batch without the records of ids (Partners.Gone, Partners.Behind).
func (r Records) Without(ids map[string]string) Records {
	if len(ids) == 0 {
		return r
	}
	return r.Keep(func(rec connectors.Record, _ string) bool {
		_, left := ids[rec.ID]
		return !left
	})
}

// usage is what a connector last learned of its quota use, if it reports any.
func usage(c connectors.Connector) map[string]string {
	if u, ok := c.(connectors.UsageReporter); ok {
		if m := u.Usage(); len(m) > 0 {
			return m
		}
	}
	return nil
}

// FetchChanges reads one page of changes of a side.
func (a *Activities) FetchChanges(ctx context.Context, in FetchChangesInput) (Records, error) {
	defer keepAlive(ctx)()
	s, sd, c, err := a.side(in.Ref, in.Side)
	if err != nil {
		return Records{}, err
	}
	page, err := c.Changes(ctx, sd.Object, in.Cursor, in.Limit)
	if err != nil {
		return Records{}, classifyFor(ctx, sd.Connection, fmt.Sprintf("fetch changes of %s %s after %s", sd.Connection, sd.Object, in.Cursor), err)
	}
	return a.changed(s, sd, in.Side, c, page, in.Cursor, nil, !inChunk(ctx))
}

// changed checks a page of changes read after since (and up to until, for a span) and
// keys it for the sync, capped at maxPageBytes when it goes into history.
func (a *Activities) changed(s *definition.Sync, sd *definition.End, side string, c connectors.Connector, page connectors.Page, since connectors.Cursor, until *connectors.Cursor, capped bool) (Records, error) {
	// An invariant of every connector: a page is strictly after the cursor. A page that
	// is not would be read again and again for ever (the cursor never moves past it).
	// Records that tie with the cursor's time are ordered by the connector (a database
	// orders integer ids as numbers, not as the text Cursor compares): only the cursor's
	// own record may not come back.
	for _, r := range page.Records {
		if r.UpdatedAt.Before(since.UpdatedAt) || r.UpdatedAt.Equal(since.UpdatedAt) && r.ID == since.ID {
			return Records{}, nonRetryable(fmt.Errorf("%s %s returned record %s at %s for changes after cursor %s: a page must be strictly after the cursor, or the sync would read it for ever; "+
				"the service's change times do not order as the connector compares them (a sql table whose updated column holds text in another layout than the connector writes, say)",
				sd.Connection, sd.Object, r.ID, connectors.CursorOf(r), since))
		}
		// A span's records are at or before its end, which the run commits after them.
		if until != nil && r.UpdatedAt.After(until.UpdatedAt) {
			return Records{}, nonRetryable(fmt.Errorf("%s %s returned record %s at %s for changes up to %s: a span's records must be at or before its end, or the run would commit past records it has not read",
				sd.Connection, sd.Object, r.ID, connectors.CursorOf(r), until))
		}
	}
	out, err := a.keyed(s, side, page.Records, capped)
	if err != nil {
		return Records{}, err
	}
	out.More = page.More || len(out.Records) < len(page.Records)
	out.Usage = usage(c)
	if lag := lagOf(c); lag > 0 {
		// Taken after the read: the connector's bound was at or before it.
		out.Before = time.Now().Add(-lag)
	}
	if !page.AsOf.IsZero() && (out.Before.IsZero() || page.AsOf.Before(out.Before)) {
		out.Before = page.AsOf // served from an earlier read
	}
	return out, nil
}

// CountChangesInput asks how many records of a side changed after a cursor.
type CountChangesInput struct {
	Ref
	Side   string
	Cursor connectors.Cursor
}

// Count is a number of records; Known is false when the connector cannot count.
type Count struct {
	N     int  `json:"n"`
	Known bool `json:"known"`
}

// CountChanges counts a side's changes after a cursor, for a backfill's progress. A
// connector that cannot count, or a count that fails, gives an unknown count: progress is
// a nicety, never a reason to stop a run.
func (a *Activities) CountChanges(ctx context.Context, in CountChangesInput) (Count, error) {
	defer keepAlive(ctx)()
	_, sd, c, err := a.side(in.Ref, in.Side)
	if err != nil {
		return Count{}, err
	}
	counter, ok := c.(connectors.ChangeCounter)
	if !ok {
		return Count{}, nil
	}
	n, err := counter.CountChanges(ctx, sd.Object, in.Cursor)
	if err != nil {
		activity.GetLogger(ctx).Warn("Counting changes failed; progress unknown", "error", err)
		return Count{}, nil
	}
	return Count{N: n, Known: true}, nil
}

// GetRecordsInput asks for records of a side by id.
type GetRecordsInput struct {
	Ref
	Side string
	IDs  []string
	// Counterparts marks a read of the records a batch from the other side is matched
	// with (read by id because the side's search may lag), not of changed records.
	Counterparts bool `json:",omitempty"`
}

// GetRecords reads records fresh by id (webhook bodies may be partial, stale or out of
// order; the service's current state is what is synced).
func (a *Activities) GetRecords(ctx context.Context, in GetRecordsInput) (Records, error) {
	defer keepAlive(ctx)()
	s, sd, c, err := a.side(in.Ref, in.Side)
	if err != nil {
		return Records{}, err
	}
	recs, err := c.Get(ctx, sd.Object, in.IDs)
	if err != nil {
		return Records{}, classifyFor(ctx, sd.Connection, fmt.Sprintf("get %d records of %s %s", len(in.IDs), sd.Connection, sd.Object), err)
	}
	sort.Slice(recs, func(i, j int) bool { return connectors.CursorOf(recs[i]).Before(recs[j]) })
	out, err := a.keyed(s, in.Side, recs, true)
	if err != nil {
		return Records{}, err
	}
	for _, r := range recs[len(out.Records):] {
		out.Rest = append(out.Rest, r.ID)
	}
	out.More = len(out.Rest) > 0
	if !in.Counterparts && isLocal(ctx) {
		out.ChangesOf = in.Side
	}
	return out, nil
}

// keyed computes records' keys. When capped (the page goes into history) it projects them
// to the fields the sync reads and stops at maxPageBytes, so a page of large records is
// split rather than refused by Temporal. A chunk's pages stay in the worker, bounded by
// the page size: they keep the records as read (every step reads the sync's fields only),
// neither copied nor encoded to be measured.
func (a *Activities) keyed(s *definition.Sync, side string, recs []connectors.Record, capped bool) (Records, error) {
	m, err := newMapping(s, side)
	if err != nil {
		return Records{}, nonRetryable(err)
	}
	out := Records{Keys: make([]string, 0, len(recs))}
	if !capped {
		out.Records = recs
		for _, r := range recs {
			out.Keys = append(out.Keys, m.keyOf(r))
		}
		return out, nil
	}
	fields := projectFields(s, side)
	out.Records = make([]connectors.Record, 0, len(recs))
	size := 0
	for _, r := range recs {
		p := project(r, fields)
		b, _ := json.Marshal(p)
		if size+len(b) > maxPageBytes && len(out.Records) > 0 {
			break
		}
		size += len(b)
		out.Records = append(out.Records, p)
		out.Keys = append(out.Keys, m.keyOf(r))
	}
	return out, nil
}

// FindByIdentifierInput asks which records of a side hold the given key values.
type FindByIdentifierInput struct {
	Ref
	Side   string
	Values []string
}

// Matches maps a key value to the records of a side that hold it (several = ambiguous).
type Matches struct {
	Matches map[string][]connectors.Record
}

// ids are the ids of the records found.
func (m Matches) ids() []string {
	var ids []string
	for _, rs := range m.Matches {
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// FindByIdentifier looks up a whole batch of keys on a side in as few calls as the
// connector allows.
func (a *Activities) FindByIdentifier(ctx context.Context, in FindByIdentifierInput) (Matches, error) {
	defer keepAlive(ctx)()
	s, sd, c, err := a.side(in.Ref, in.Side)
	if err != nil {
		return Matches{}, err
	}
	m, err := newMapping(s, in.Side)
	if err != nil {
		return Matches{}, nonRetryable(err)
	}
	found, err := a.find(ctx, c, sd, in.Values, m.fromKeyNormalizer())
	if err != nil {
		return Matches{}, err
	}
	fields := projectFields(s, in.Side)
	for k, rs := range found {
		for i := range rs {
			rs[i] = project(rs[i], fields)
		}
		found[k] = rs
	}
	return Matches{Matches: found}, nil
}

// find looks keys up on a side, matching them in the form the sync compares them in
// where the connector can (normalize nil: exactly).
func (a *Activities) find(ctx context.Context, c connectors.Connector, sd *definition.End, values []string, normalize connectors.KeyNormalizer) (map[string][]connectors.Record, error) {
	if len(values) == 0 {
		return map[string][]connectors.Record{}, nil
	}
	var found map[string][]connectors.Record
	var err error
	if nf, ok := c.(connectors.NormalizingFinder); ok && normalize.Apply != nil {
		found, err = nf.FindNormalized(ctx, sd.Object, sd.Key, values, normalize)
	} else {
		found, err = c.Find(ctx, sd.Object, sd.Key, values)
	}
	if err != nil {
		return nil, classifyFor(ctx, sd.Connection, fmt.Sprintf("find %d %s records by %s on %s", len(values), sd.Object, sd.Key, sd.Connection), err)
	}
	if found == nil {
		found = map[string][]connectors.Record{}
	}
	return found, nil
}

// heartbeat reports progress where the activity context allows it (local activities and
// plain-context tests do not).
func heartbeat(ctx context.Context, details ...any) {
	if inChunk(ctx) {
		return // a step of a chunk: the chunk heartbeats its own progress
	}
	if activity.IsActivity(ctx) && !activity.GetInfo(ctx).IsLocalActivity {
		activity.RecordHeartbeat(ctx, details...)
	}
}

// HeartbeatEvery is how often a running activity tells Temporal it is alive. The workflow
// gives its activities a heartbeat timeout a few times longer, so the work of a worker that
// died (kill -9, a lost machine) is retried on another within seconds, not when its
// start-to-close timeout ends.
const HeartbeatEvery = 5 * time.Second

// keepAlive heartbeats every HeartbeatEvery until stop is called or the activity's context
// ends (a worker shutting down cancels it: its heartbeats stop with it). Every activity the
// workflow schedules with a heartbeat timeout runs under one:
//
//	defer keepAlive(ctx)()
func keepAlive(ctx context.Context) (stop func()) {
	if inChunk(ctx) {
		return func() {} // the chunk heartbeats, with its progress
	}
	return every(ctx, HeartbeatEvery, func() { activity.RecordHeartbeat(ctx) })
}

// every calls beat every d until stop is called or the activity's context ends; outside
// an activity (or in a local one) it does nothing.
func every(ctx context.Context, d time.Duration, beat func()) (stop func()) {
	if !activity.IsActivity(ctx) || activity.GetInfo(ctx).IsLocalActivity {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				beat()
			}
		}
	}()
	return func() { close(done) }
}
