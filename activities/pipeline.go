package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"golang.org/x/sync/errgroup"

	"tandem/connectors"
	"tandem/definition"
	"tandem/pairs"
)

// Actions the pipeline takes on a record.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionFail   = "fail"
	// ActionLink (two-way) writes nothing but the pair's link: an echo that confirms
	// Tandem's write, or two records found in step the first time they meet.
	ActionLink = "link"
	// ActionHold (two-way): the loop guard holds the pair; nothing is written.
	ActionHold = "hold"
	// ActionStale is the outcome of a conditional update the service refused: the record
	// changed after it was read. It is read again and planned afresh.
	ActionStale = "stale"
	// ActionSkip writes nothing because the written side's write mode refuses the write
	// (update-only: no create; create-only: no update); the decision's Reason says which.
	ActionSkip = "skip"
)

// BuildPayloadsInput is a batch of changed records of one side and what the other side
// holds under their keys.
type BuildPayloadsInput struct {
	Ref
	From    string
	Source  Records
	Matches map[string][]connectors.Record
	// Partners, when set (two-way syncs with a link store), replace Matches: linked
	// records are paired by link, the others by key.
	Partners *Partners `json:",omitempty"`
}

// Item is one changed record with both payloads, ready to compare.
//
// Items, plans and writes are recorded in every workflow history, once per record, so
// their JSON names are short and empty values are left out: history bytes per record
// decide how often a long backfill continues as new.
type Item struct {
	SourceID        string    `json:"id"`
	SourceUpdatedAt time.Time `json:"at"`
	Key             string    `json:"key,omitempty"`
	// Want is what the source asks the other side to hold (the other side's field names).
	Want Payload `json:"want"`
	// TargetIDs are the other side's records with the same key (several = ambiguous).
	TargetIDs []string `json:"targets,omitempty"`
	// Have is what the single matching target holds now, over the same fields.
	Have            Payload   `json:"have,omitempty"`
	TargetUpdatedAt time.Time `json:"target_at,omitzero"`
	// Pair is set in two-way syncs when there is exactly one target.
	Pair *Pair `json:"pair,omitempty"`
	// Taken are other-side records that hold the item's key but are linked to another
	// record (two-way): the key is refused.
	Taken []string `json:"taken,omitempty"`
}

// Items is the built batch.
type Items struct {
	Items []Item `json:"items"`
}

// BuildPayloads builds the mapped, normalized payloads of both sides (local activity:
// its result is recorded in history, so the history shows exactly what was compared).
func (a *Activities) BuildPayloads(ctx context.Context, in BuildPayloadsInput) (Items, error) {
	s, err := a.sync(in.Ref)
	if err != nil {
		return Items{}, err
	}
	m, err := newMapping(s, in.From)
	if err != nil {
		return Items{}, nonRetryable(err)
	}
	out := Items{Items: make([]Item, 0, len(in.Source.Records))}
	if in.Partners != nil {
		for i, r := range in.Source.Records {
			out.Items = append(out.Items, m.linkedItem(r, in.Source.Keys[i], in.Partners))
		}
		return out, nil
	}
	for i, r := range in.Source.Records {
		it := Item{SourceID: r.ID, SourceUpdatedAt: r.UpdatedAt, Key: in.Source.Keys[i], Want: m.outgoing(r)}
		targets := in.Matches[it.Key]
		for _, t := range targets {
			it.TargetIDs = append(it.TargetIDs, t.ID)
		}
		if len(targets) == 1 {
			it.Have = m.current(targets[0])
			it.TargetUpdatedAt = targets[0].UpdatedAt
			if s.Mode == definition.TwoWay {
				it.Pair = m.pair(r, targets[0])
			}
		}
		if len(targets) == 0 && s.Mode == definition.TwoWay {
			it.Pair = m.pairForCreate(r, it.Want)
		}
		out.Items = append(out.Items, it)
	}
	return out, nil
}

// CompareInput is a built batch.
type CompareInput struct {
	Ref
	From  string
	Items []Item
	// Two-way syncs: the baselines of the batch's pairs the workflow knows (fingerprint
	// of what each pair last agreed on, by key), and the other side's cursor.
	Baselines    map[string]string `json:",omitempty"`
	TargetCursor connectors.Cursor
	// Linked (two-way syncs with a link store): items were built from Partners and are
	// decided against their links. Now stamps the links; CoolDown is the loop guard's.
	Linked   bool          `json:",omitempty"`
	Now      time.Time     `json:",omitzero"`
	CoolDown time.Duration `json:",omitempty"`
}

// WriteOp is one write the comparison asks for.
type WriteOp struct {
	Action   string `json:"a"` // ActionCreate or ActionUpdate
	SourceID string `json:"src"`
	Key      string `json:"key,omitempty"`
	TargetID string `json:"t,omitempty"`
	// Fields are the values to write: all of them for a create, the differing ones for
	// an update.
	Fields Payload `json:"f"`
	// IfAt (two-way updates) is the target's UpdatedAt as it was read: where the
	// service can (connectors.ConditionalUpdater), the update is made only if the record
	// has not changed since, so an edit made after the read is never overwritten.
	IfAt time.Time `json:"if,omitzero"`
}

// Failure is a record that was not synced, with the reason.
type Failure struct {
	Side     string
	RecordID string
	Key      string
	Reason   string
}

// Decision is Compare's verdict on one item that is not skipped.
type Decision struct {
	// Item is the index of the item in the compared batch.
	Item   int    `json:"i"`
	Action string `json:"a"` // ActionCreate, ActionUpdate or ActionFail
	// Fields are an update's differing fields (a create writes the item's Want, which is
	// not repeated here).
	Fields Payload `json:"f,omitempty"`
	Reason string  `json:"r,omitempty"`
	// Two-way: Back are fields to write to the source record (the target's values won or
	// flow that way only); Winner is set when both sides had changed (a conflict), with
	// the loser's overwritten values in Lost ("side.field"); Baseline is what the pair
	// agrees on once written.
	Back     Payload `json:"b,omitempty"`
	Winner   string  `json:"w,omitempty"`
	Lost     Payload `json:"lost,omitempty"`
	Baseline string  `json:"h,omitempty"`
	// Linked two-way syncs: the pair's link once written; how each field of a conflict
	// went; values that did not read back as Tandem wrote them; a hold's end.
	Link      *pairs.Link           `json:"link,omitempty"`
	Merge     []pairs.FieldDecision `json:"merge,omitempty"`
	Misreads  []pairs.Misread       `json:"misreads,omitempty"`
	HeldUntil time.Time             `json:"held_until,omitzero"`
	// Released is set when the pair was held and no longer is.
	Released bool `json:"released,omitempty"`
}

// Decisions are Compare's verdicts on a batch, by item index; records not named were
// skipped because both payloads are equal (a record a write mode skips is named, with
// ActionSkip and its reason).
type Decisions struct {
	Decisions []Decision `json:"d,omitempty"`
	Skipped   int        `json:"skipped,omitempty"`
}

// Plan is a batch's verdict spelled out: the writes to make and the records refused.
type Plan struct {
	// Ops write to the other side; BackOps (two-way) write to the batch's own side.
	Ops      []WriteOp
	BackOps  []WriteOp
	Skipped  int
	Failures []Failure
	// Conflicts are the pairs both sides had changed, with the winner and lost values.
	Conflicts []Conflict
	// Links are the links to save once the writes are made (see SettleLinks).
	Links []PendingLink
	// Holds are the pairs the loop guard holds (counted in Skipped).
	Holds []Hold
	// Misreads are values that did not read back as Tandem wrote them.
	Misreads []Misread
	// Released are the keys of pairs that were held and no longer are.
	Released []string
}

// PendingLink is the link of an item, to save when its writes succeed.
type PendingLink struct {
	SourceID string
	From     string
	Create   bool
	// Link is the decision's (Decision.Link), shared, not copied: SettleLinks copies it.
	Link *pairs.Link
}

// Hold is a pair held by the loop guard.
type Hold struct {
	Key      string
	SourceID string
	Reason   string
	Until    time.Time
}

// Misread is a value that did not read back as written, on the pair of Key.
type Misread struct {
	Key string
	pairs.Misread
}

// Conflict is a pair both of whose sides had changed since they were last in step.
type Conflict struct {
	Key    string
	Winner string
	Lost   Payload
	// Fields are how each differing field went (linked two-way syncs).
	Fields []pairs.FieldDecision
}

// Plan spells out the decisions on items compared from side from. It only looks items
// up by index, so workflow code may call it.
func (d Decisions) Plan(from string, items []Item) Plan {
	p := Plan{Skipped: d.Skipped}
	// Sized up front: a bulk run plans pages of hundreds of links and writes, and
	// growing the slices by appends made a two-way run's most garbage after the fakes'.
	links, ops := 0, 0
	for _, dec := range d.Decisions {
		if dec.Link != nil {
			links++
		}
		if dec.Action == ActionCreate || dec.Action == ActionUpdate && dec.Fields != nil {
			ops++
		}
	}
	if links > 0 {
		p.Links = make([]PendingLink, 0, links)
	}
	if ops > 0 {
		p.Ops = make([]WriteOp, 0, ops)
	}
	for _, dec := range d.Decisions {
		it := items[dec.Item]
		for _, m := range dec.Misreads {
			p.Misreads = append(p.Misreads, Misread{Key: it.Key, Misread: m})
		}
		if dec.Released {
			p.Released = append(p.Released, it.Key)
		}
		if dec.Link != nil {
			p.Links = append(p.Links, PendingLink{SourceID: it.SourceID, From: from, Create: dec.Action == ActionCreate, Link: dec.Link})
		}
		switch dec.Action {
		case ActionLink, ActionSkip:
			p.Skipped++
		case ActionHold:
			p.Skipped++
			if !dec.HeldUntil.IsZero() { // held by this batch, not still held from before
				p.Holds = append(p.Holds, Hold{Key: it.Key, SourceID: it.SourceID, Reason: dec.Reason, Until: dec.HeldUntil})
			}
		case ActionCreate:
			p.Ops = append(p.Ops, WriteOp{Action: ActionCreate, SourceID: it.SourceID, Key: it.Key, Fields: it.Want})
		case ActionUpdate:
			// Linked two-way pairs are written on condition that each record is as read.
			var ifTarget, ifSource time.Time
			if it.Pair != nil && it.Pair.X != nil {
				ifTarget, ifSource = it.TargetUpdatedAt, it.SourceUpdatedAt
			}
			if dec.Fields != nil {
				p.Ops = append(p.Ops, WriteOp{Action: ActionUpdate, SourceID: it.SourceID, Key: it.Key, TargetID: it.TargetIDs[0], Fields: dec.Fields, IfAt: ifTarget})
			}
			if dec.Back != nil {
				p.BackOps = append(p.BackOps, WriteOp{Action: ActionUpdate, SourceID: it.TargetIDs[0], Key: it.Key, TargetID: it.SourceID, Fields: dec.Back, IfAt: ifSource})
			}
			if dec.Winner != "" {
				p.Conflicts = append(p.Conflicts, Conflict{Key: it.Key, Winner: dec.Winner, Lost: dec.Lost, Fields: dec.Merge})
			}
		default:
			p.Failures = append(p.Failures, Failure{Side: from, RecordID: it.SourceID, Key: it.Key, Reason: dec.Reason})
		}
	}
	return p
}

// Compare decides, per record, to skip (the payloads are equal: the loop guard; or the
// side written does not take the write: its write mode), create, update, or refuse (no
// key, or a key matching several records). Local activity.
func (a *Activities) Compare(ctx context.Context, in CompareInput) (Decisions, error) {
	s, err := a.sync(in.Ref)
	if err != nil {
		return Decisions{}, err
	}
	m, err := newMapping(s, in.From)
	if err != nil {
		return Decisions{}, nonRetryable(err)
	}
	var out Decisions
	// add appends a decision, the first one into room for the items left: a bulk run's
	// pages decide hundreds of records, most or none of them.
	add := func(d Decision) {
		if out.Decisions == nil {
			out.Decisions = make([]Decision, 0, len(in.Items)-d.Item)
		}
		out.Decisions = append(out.Decisions, d)
	}
	var links linkSlab // the creates' links (linked two-way)
	// Two source records with one key in a batch would both create the same target.
	byKey := make(map[string]int, len(in.Items))
	for _, it := range in.Items {
		if it.Key != "" {
			byKey[it.Key]++
		}
	}
	for i, it := range in.Items {
		fail := func(reason string) {
			add(Decision{Item: i, Action: ActionFail, Reason: reason})
		}
		skip := func(reason string) {
			add(Decision{Item: i, Action: ActionSkip, Reason: reason})
		}
		if in.Linked {
			linked := it.Pair != nil && it.Pair.Link != nil
			switch {
			case !linked && it.Key == "":
				fail("the record has no value for the sync's key field and no link")
			case !linked && byKey[it.Key] > 1:
				fail(fmt.Sprintf("ambiguous match: key %q is held by %d changed records on side %s", it.Key, byKey[it.Key], in.From))
			case len(it.TargetIDs) > 1:
				fail((&connectors.AmbiguousMatchError{Field: m.to.Connection + " " + m.to.Key, Value: it.Key, IDs: it.TargetIDs}).Error() +
					"; nothing was written: make the key unique on that side")
			case len(it.TargetIDs) == 0 && len(it.Taken) > 0:
				fail(fmt.Sprintf("key %q is held on side %s by %v, already linked to another record; nothing was written", it.Key, m.toName, it.Taken))
			default:
				if !linked && len(it.TargetIDs) == 1 {
					it.Pair.YChanged = in.TargetCursor.Before(connectors.Record{ID: it.TargetIDs[0], UpdatedAt: it.TargetUpdatedAt})
				}
				if d, ok := m.compareLinked(it, i, len(in.Items)-i, in.Now, in.CoolDown, &links); ok {
					add(d)
				} else {
					out.Skipped++
				}
			}
			continue
		}
		switch {
		case it.Key == "":
			fail("the record has no value for the sync's key field")
		case byKey[it.Key] > 1:
			fail(fmt.Sprintf("ambiguous match: key %q is held by %d changed records on side %s", it.Key, byKey[it.Key], in.From))
		case len(it.TargetIDs) > 1:
			fail((&connectors.AmbiguousMatchError{Field: m.to.Connection + " " + m.to.Key, Value: it.Key, IDs: it.TargetIDs}).Error() +
				"; nothing was written: make the key unique on that side")
		case len(it.TargetIDs) == 0 && s.Withheld(m.toName, true) != "":
			skip(s.Withheld(m.toName, true))
		case len(it.TargetIDs) == 0:
			d := Decision{Item: i, Action: ActionCreate}
			if it.Pair != nil {
				d.Baseline = baseline(in.From, it.Pair.SourceFP, it.Pair.CreatedFP)
			}
			add(d)
		case it.Pair != nil:
			if d, ok := m.twoWay(it, i, in); ok {
				add(m.withhold(d))
			} else {
				out.Skipped++
			}
		default:
			d := diff(it.Want, it.Have)
			switch {
			case d == nil:
				out.Skipped++
			case s.Withheld(m.toName, false) != "":
				skip(s.Withheld(m.toName, false))
			default:
				add(Decision{Item: i, Action: ActionUpdate, Fields: d})
			}
		}
	}
	return out, nil
}

// withhold takes out of an update of a pair (two-way, without links) the writes a side's
// write mode refuses; with none left, the pair is skipped with the reason. (Linked pairs
// are decided with the write modes by pairs.Decide.)
func (m mapping) withhold(d Decision) Decision {
	var why []string
	if reason := m.sync.Withheld(m.toName, false); reason != "" && d.Fields != nil {
		d.Fields, why = nil, append(why, reason)
	}
	if reason := m.sync.Withheld(m.fromName, false); reason != "" && d.Back != nil {
		d.Back, why = nil, append(why, reason)
	}
	if d.Fields == nil && d.Back == nil {
		return Decision{Item: d.Item, Action: ActionSkip, Reason: strings.Join(why, "; ")}
	}
	if len(why) > 0 {
		// The pair will not agree on what the baseline says: judge it by the cursor.
		d.Baseline = ""
	}
	return d
}

// UpsertInput is a batch of writes to one side.
type UpsertInput struct {
	Ref
	Side string
	Ops  []WriteOp
	// Run and Batch name the batch for destinations that store batches as objects;
	// RunAt is when the run started.
	Run   int       `json:",omitempty"`
	Batch string    `json:",omitempty"`
	RunAt time.Time `json:",omitzero"`
	// Remember is set when the records the service rejects are remembered in the link
	// store, and those written forgotten, for later runs to retry (see failures.go).
	Remember bool `json:",omitempty"`
	// ReadBack asks for the values of each record written as the service's answer gives
	// them (OpResult.Read), where it does: a chunk's read-back of its own writes. Not
	// kept in history.
	ReadBack bool `json:"-"`
}

// writeConcurrency is how many write calls of one batch are in flight at once.
const writeConcurrency = 4

// OpResult is the outcome of one WriteOp, in order.
type OpResult struct {
	Action   string `json:"a"` // ActionCreate, ActionUpdate or ActionFail
	TargetID string `json:"t,omitempty"`
	Reason   string `json:"r,omitempty"`
	// Read is the record as the service's answer to the write gave it, when the input
	// asked (ReadBack) and the answer held the record. Not kept in history.
	Read *connectors.Record `json:"-"`
}

// Written is the outcome of a batch of writes.
type Written struct {
	Results []OpResult `json:"results"`
	// Side and Keys (the written side, and each op's key in order) are set when Upsert
	// runs as a local activity (a webhook micro-batch): its history marker has no input.
	Side string   `json:"side,omitempty"`
	Keys []string `json:"keys,omitempty"`
	// Usage is the service's quota use as last reported (connectors.UsageReporter).
	Usage map[string]string `json:"usage,omitempty"`
	// Failing is what the link store remembers of the sync's failures, when this batch
	// changed it (Remember).
	Failing *Failing `json:"failing,omitempty"`
}

// Upsert writes a batch: creates and updates in as few calls as the connector allows,
// with a result per record. A record the service rejects is reported with the service's
// reason and the rest of the batch goes through.
//
// A create retried after a timeout must not create twice: where the connector has a
// native upsert by key, creates go through it; otherwise, on any attempt after the first,
// the keys are looked up again and records that already exist are updated instead.
func (a *Activities) Upsert(ctx context.Context, in UpsertInput) (Written, error) {
	defer keepAlive(ctx)()
	s, sd, c, err := a.side(in.Ref, in.Side)
	if err != nil {
		return Written{}, err
	}
	m, err := newMapping(s, in.Side)
	if err != nil {
		return Written{}, nonRetryable(err)
	}
	ctx = connectors.WithBatchInfo(ctx, connectors.BatchInfo{Sync: in.Sync, Run: in.Run, Batch: in.Batch, At: in.RunAt})
	if in.ReadBack {
		ctx = connectors.WithRecordsBack(ctx)
	}
	info := c.Info()
	results := make([]OpResult, len(in.Ops))
	var creates, updates []int
	for i, op := range in.Ops {
		switch op.Action {
		case ActionCreate:
			creates = append(creates, i)
		case ActionUpdate:
			updates = append(updates, i)
		default:
			return Written{}, nonRetryable(fmt.Errorf("sync %q: unknown write action %q", in.Sync, op.Action))
		}
	}

	attempt := int32(1)
	if activity.IsActivity(ctx) {
		attempt = activity.GetInfo(ctx).Attempt
	}
	if attempt > 1 && !info.NativeUpsert && len(creates) > 0 {
		// A search that trails the writes would not find what the failed attempt
		// created: wait until it has caught up (the attempt before began at least this
		// attempt's backoff ago, so this is an upper bound).
		if lag := lagOf(c); lag > 0 && !laggedOut(ctx) {
			if err := sleep(ctx, lag); err != nil {
				return Written{}, err
			}
		}
		keys := make([]string, len(creates))
		for j, i := range creates {
			keys[j] = in.Ops[i].Key
		}
		found, err := a.find(ctx, c, sd, keys, m.fromKeyNormalizer())
		if err != nil {
			return Written{}, err
		}
		var still []int
		for _, i := range creates {
			switch got := found[in.Ops[i].Key]; len(got) {
			case 0:
				still = append(still, i)
			case 1:
				in.Ops[i].Action, in.Ops[i].TargetID = ActionUpdate, got[0].ID
				updates = append(updates, i)
			default:
				results[i] = OpResult{Action: ActionFail, Reason: (&connectors.AmbiguousMatchError{Field: sd.Key, Value: in.Ops[i].Key, IDs: ids(got)}).Error()}
			}
		}
		creates = still
		sort.Ints(updates)
	}

	// Chunks are written a few at a time: a rate-limited API is kept at its budget
	// instead of waiting out each request's round trip (connectors are safe for
	// concurrent use; each pace their own requests).
	write := func(idx []int, what string, call func([]connectors.Record) ([]connectors.WriteResult, error)) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(writeConcurrency)
		for _, chunk := range chunks(idx, info.MaxBatch) {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				recs := make([]connectors.Record, len(chunk))
				for j, i := range chunk {
					recs[j] = connectors.Record{ID: in.Ops[i].TargetID, UpdatedAt: in.Ops[i].IfAt, Fields: in.Ops[i].Fields}
				}
				res, err := call(recs)
				if err != nil {
					return classifyFor(ctx, sd.Connection, fmt.Sprintf("%s %d records in %s %s", what, len(recs), sd.Connection, sd.Object), err)
				}
				if len(res) != len(recs) {
					return nonRetryable(fmt.Errorf("%s %s %s: connector returned %d results for %d records", what, sd.Connection, sd.Object, len(res), len(recs)))
				}
				for j, i := range chunk {
					results[i] = outcome(in.Ops[i], res[j])
					if r := res[j].Record; r != nil && in.ReadBack && res[j].Err == nil {
						results[i].Read = r
					}
				}
				heartbeat(ctx, len(chunk))
				return nil
			})
		}
		return g.Wait()
	}
	create := func(recs []connectors.Record) ([]connectors.WriteResult, error) {
		if info.NativeUpsert {
			return c.Upsert(ctx, sd.Object, sd.Key, recs)
		}
		return c.Create(ctx, sd.Object, recs)
	}
	update := func(recs []connectors.Record) ([]connectors.WriteResult, error) {
		return c.Update(ctx, sd.Object, recs)
	}
	if err := write(creates, "create", create); err != nil {
		return Written{}, err
	}
	var conditional []int
	if cu, ok := c.(connectors.ConditionalUpdater); ok {
		var plain []int
		for _, i := range updates {
			if in.Ops[i].IfAt.IsZero() {
				plain = append(plain, i)
			} else {
				conditional = append(conditional, i)
			}
		}
		updates = plain
		if err := write(conditional, "update", func(recs []connectors.Record) ([]connectors.WriteResult, error) {
			return cu.UpdateIfUnchanged(ctx, sd.Object, recs)
		}); err != nil {
			return Written{}, err
		}
	}
	if err := write(updates, "update", update); err != nil {
		return Written{}, err
	}
	out := Written{Results: results, Usage: usage(c)}
	if in.Remember {
		if out.Failing, err = a.remember(ctx, in, results); err != nil {
			return Written{}, err
		}
	}
	if isLocal(ctx) {
		// A local activity's marker keeps its result but not its input: explain reads
		// which side and keys were written from here.
		out.Side = in.Side
		for _, op := range in.Ops {
			out.Keys = append(out.Keys, op.Key)
		}
	}
	return out, nil
}

// isLocal reports whether ctx is a local activity's.
func isLocal(ctx context.Context) bool {
	return activity.IsActivity(ctx) && activity.GetInfo(ctx).IsLocalActivity
}

func outcome(op WriteOp, r connectors.WriteResult) OpResult {
	var stale *connectors.StaleRecordError
	if errors.As(r.Err, &stale) {
		return OpResult{Action: ActionStale, Reason: stale.Error()}
	}
	if r.Err != nil {
		return OpResult{Action: ActionFail, Reason: reason(r.Err)}
	}
	id := r.ID
	if id == "" {
		id = op.TargetID
	}
	action := ActionUpdate
	if r.Created {
		action = ActionCreate
	}
	return OpResult{Action: action, TargetID: id}
}

// reason is the service's own words for a rejected record.
func reason(err error) string {
	var inv *connectors.InvalidRecordError
	if errors.As(err, &inv) {
		if inv.Field != "" {
			return inv.Field + ": " + inv.Reason
		}
		return inv.Reason
	}
	return err.Error()
}

func ids(rs []connectors.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// chunks splits idx into runs of at most n (n <= 0: one run).
func chunks(idx []int, n int) [][]int {
	if len(idx) == 0 {
		return nil
	}
	if n <= 0 || len(idx) <= n {
		return [][]int{idx}
	}
	var out [][]int
	for len(idx) > n {
		out = append(out, idx[:n])
		idx = idx[n:]
	}
	return append(out, idx)
}
