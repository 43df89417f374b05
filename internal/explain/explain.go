// Package explain answers "what did Tandem last do with this record, and why" from a
// sync's workflow histories: the payloads built, the comparison's verdict and the write's
// result are all recorded there (BuildPayloads and Compare as local activity markers,
// Upsert as an activity), so no other log is needed.
package explain

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"tandem/activities"
	"tandem/definition"
	"tandem/pairs"
	"tandem/workflows"
)

// Finding is the last thing Tandem did with a record.
type Finding struct {
	Sync string `json:"sync"`
	Key  string `json:"key"`
	// Action is created, updated, skipped, conflict, held (by the loop guard), failed or
	// stopped (a wave-1 loop); for a deleted record: deleted or archived (its partner
	// was), kept (a conflict: the partner's newer edit won), unlinked (the partner was
	// gone too) or failed.
	Action string `json:"action"`
	// Side and RecordID name the changed record that was read; TargetSide and TargetID
	// the record written (or that would have been).
	Side       string             `json:"side"`
	RecordID   string             `json:"record_id"`
	TargetSide string             `json:"target_side,omitempty"`
	TargetID   string             `json:"target_id,omitempty"`
	Fields     activities.Payload `json:"fields,omitempty"`
	Winner     string             `json:"winner,omitempty"`
	Lost       activities.Payload `json:"lost,omitempty"`
	// Merge is how each differing field of a conflict went, and why (two-way syncs with
	// a link store).
	Merge  []pairs.FieldDecision `json:"merge,omitempty"`
	Reason string                `json:"reason"`
	// Run is the sync's run number; 0 for a webhook micro-batch.
	Run int       `json:"run"`
	At  time.Time `json:"at"`
	// ThenSkipped counts the later comparisons in the same workflow run that found the
	// pair in step (the echo of this write, typically).
	ThenSkipped int    `json:"then_skipped,omitempty"`
	WorkflowID  string `json:"workflow_id"`
	RunID       string `json:"run_id"`
	EventID     int64  `json:"event_id"`
	// withheld marks a skip by a write mode (update-only, create-only): it tells more
	// than a comparison in step, so result prefers it.
	withheld bool
}

// UIURL is the finding's place in the Temporal Web UI at base (e.g. http://127.0.0.1:8233).
func (f *Finding) UIURL(base, namespace string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", base, url.PathEscape(namespace),
		url.PathEscape(f.WorkflowID), url.PathEscape(f.RunID))
}

// Explain searches the sync's executions, newest first (at most max of them), for the
// last one that handled key, and says what it did.
func Explain(ctx context.Context, c client.Client, sync, key string, max int) (*Finding, error) {
	wid := workflows.WorkflowID(sync)
	var token []byte
	seen := 0
	for seen < max {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         fmt.Sprintf("WorkflowId = %q", wid),
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list runs of %s: %w", wid, err)
		}
		for _, e := range resp.GetExecutions() {
			if seen++; seen > max {
				break
			}
			f, err := scan(ctx, c, sync, key, e.GetExecution().GetRunId())
			if err != nil {
				return nil, err
			}
			if f != nil {
				return f, nil
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return nil, fmt.Errorf("%w: no run of sync %q among the latest %d handled key %q in a step recorded in history (is the key written as the sync compares it, e.g. normalized?)", ErrNotInHistory, sync, seen, key)
}

// ErrNotInHistory says no history read has a step about the key: the pair may have been
// synced in bulk (its records out of history), or in older runs.
var ErrNotInHistory = errors.New("not in history")

// FromLinks is the finding of a pair known only from its link: synced in bulk, or in runs
// older than those read. The link says how it was last left.
func FromLinks(sync, key string, links []pairs.Link) *Finding {
	if len(links) == 0 {
		return nil
	}
	l := links[0]
	f := &Finding{Sync: sync, Key: key, Action: "linked", Side: "a", RecordID: l.A.ID, TargetSide: "b", TargetID: l.B.ID,
		At: l.SyncedAt, WorkflowID: workflows.WorkflowID(sync),
		Reason: "its steps are not in the history read (synced in bulk, records out of history, or in older runs); the link store says: " + l.Decision}
	if l.Decision == "" {
		f.Reason += "linked"
	}
	if l.Gone != "" {
		f.Action = "gone"
	}
	if !l.HeldUntil.IsZero() {
		f.Action, f.Reason = "held", f.Reason+"; held until "+l.HeldUntil.UTC().Format(time.RFC3339)+": "+l.HeldReason
	}
	return f
}

// FromBulkLog is the finding of a record a one-way sync's chunk synced without a link
// (its records out of history): the link store's bulk log says what the chunk did.
func FromBulkLog(sync, key string, o *pairs.LoggedOutcome) *Finding {
	why := o.Reason
	switch o.Action {
	case pairs.OutcomeCreated:
		why = "no record on the other side held its key"
	case pairs.OutcomeUpdated:
		why = "the other side's record differed"
	case pairs.OutcomeSkipped:
		why = "no write: the other side held these values (or the sync's write mode withheld the write)"
	case pairs.OutcomeStale:
		why = "the other side's record changed after it was read; it was read again in a micro-batch"
	}
	return &Finding{Sync: sync, Key: key, Action: o.Action, Side: o.Side, RecordID: o.ID,
		TargetSide: definition.Other(o.Side), TargetID: o.TargetID, Run: o.Run, At: o.At, WorkflowID: workflows.WorkflowID(sync),
		Reason: "synced in bulk (a chunk of run " + fmt.Sprint(o.Run) + ", its records out of history); the bulk log says: " + why}
}

// scan reads one execution and returns the last finding about key in it, or nil.
func scan(ctx context.Context, c client.Client, sync, key, runID string) (*Finding, error) {
	wid := workflows.WorkflowID(sync)
	iter := c.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	s := scanner{sync: sync, key: key, wid: wid, runID: runID, reads: map[int64]read{}, writes: map[int64]write{}, deletes: map[int64]bool{}}
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s run %s: %w", wid, runID, err)
		}
		s.event(e)
	}
	return s.result(), nil
}

// result is the last finding that did something, with the in-step comparisons after it;
// or the last finding, when all of them were skips. Only the latest run's (or webhook
// batches' after it) findings count: an execution can hold several runs.
func (s *scanner) result() *Finding {
	run, first := 0, len(s.found)
	for ; first > 0; first-- {
		if r := s.found[first-1].Run; r != 0 {
			if run != 0 && r != run {
				break
			}
			run = r
		}
	}
	s.found = s.found[first:]
	for i := len(s.found) - 1; i >= 0; i-- {
		if s.found[i].Action != "skipped" || s.found[i].withheld {
			f := s.found[i]
			f.ThenSkipped = len(s.found) - 1 - i
			return f
		}
	}
	if len(s.found) == 0 {
		return nil
	}
	return s.found[len(s.found)-1]
}

type read struct {
	side     string
	realtime bool
}

type write struct {
	op     activities.WriteOp
	index  int
	run    int
	side   string
	target string
}

type scanner struct {
	sync, key, wid, runID string
	run                   int // the run this execution works on
	reads                 map[int64]read
	writes                map[int64]write
	deletes               map[int64]bool // ApplyDeletes activities scheduled
	side                  string         // side of the latest read that held key
	realtime              bool
	items                 []activities.Item
	found                 []*Finding // in history order
}

func (s *scanner) last() *Finding {
	if len(s.found) == 0 {
		return nil
	}
	return s.found[len(s.found)-1]
}

var dc = converter.GetDefaultDataConverter()

func decode(p *commonpb.Payloads, out any) bool {
	return p != nil && dc.FromPayloads(p, out) == nil
}

func (s *scanner) event(e *historypb.HistoryEvent) {
	switch {
	case e.GetWorkflowExecutionStartedEventAttributes() != nil:
		var in workflows.SyncInput
		if decode(e.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in) && in.State != nil {
			s.run = in.State.Runs + 1
			if in.State.Current != nil {
				s.run = in.State.Current.Number
			}
		} else {
			s.run = 1
		}
	case e.GetActivityTaskScheduledEventAttributes() != nil:
		a := e.GetActivityTaskScheduledEventAttributes()
		switch a.GetActivityType().GetName() {
		case "FetchChanges":
			var in activities.FetchChangesInput
			if decode(a.GetInput(), &in) {
				s.reads[e.GetEventId()] = read{side: in.Side}
			}
		case "GetRecords":
			var in activities.GetRecordsInput
			// A read of counterparts by id is a look-up, not a read of changes.
			if decode(a.GetInput(), &in) && !in.Counterparts {
				s.reads[e.GetEventId()] = read{side: in.Side, realtime: true}
			}
		case "ApplyDeletes":
			s.deletes[e.GetEventId()] = true
		case "Upsert":
			var in activities.UpsertInput
			if decode(a.GetInput(), &in) {
				for i, op := range in.Ops {
					if op.Key == s.key {
						s.writes[e.GetEventId()] = write{op: op, index: i, run: in.Run, side: in.Side}
					}
				}
			}
		}
	case e.GetActivityTaskCompletedEventAttributes() != nil:
		a := e.GetActivityTaskCompletedEventAttributes()
		if r, ok := s.reads[a.GetScheduledEventId()]; ok {
			var recs activities.Records
			if decode(a.GetResult(), &recs) {
				for _, k := range recs.Keys {
					if k == s.key {
						s.side, s.realtime = r.side, r.realtime
					}
				}
			}
		}
		if s.deletes[a.GetScheduledEventId()] {
			var res activities.AppliedDeletes
			if decode(a.GetResult(), &res) {
				for _, o := range res.Results {
					if o.Key != s.key {
						continue
					}
					action := o.Action
					if action == activities.DeleteDone {
						action = "deleted"
					}
					s.found = append(s.found, &Finding{Sync: s.sync, Key: s.key, Action: action, Side: o.Side, RecordID: o.ID,
						TargetSide: o.PartnerSide, TargetID: o.PartnerID, Reason: o.Reason, Run: s.run,
						At: e.GetEventTime().AsTime(), WorkflowID: s.wid, RunID: s.runID, EventID: e.GetEventId()})
				}
			}
		}
		if w, ok := s.writes[a.GetScheduledEventId()]; ok {
			var res activities.Written
			if decode(a.GetResult(), &res) && w.index < len(res.Results) {
				s.written(w.side, res.Results[w.index], e)
			}
		}
	case e.GetMarkerRecordedEventAttributes() != nil:
		s.marker(e)
	}
}

// written completes the latest finding with the outcome of its write to side.
func (s *scanner) written(side string, r activities.OpResult, e *historypb.HistoryEvent) {
	f := s.last()
	if f == nil {
		return
	}
	f.TargetSide, f.EventID, f.At = side, e.GetEventId(), e.GetEventTime().AsTime()
	switch r.Action {
	case activities.ActionCreate:
		f.Action, f.TargetID = "created", r.TargetID
		f.Reason = "no record on side " + side + " had this key"
	case activities.ActionUpdate:
		if f.Action != "conflict" {
			f.Action = "updated"
		}
		f.TargetID = r.TargetID
	default:
		f.Action, f.Reason = "failed", "the service refused the write: "+r.Reason
	}
}

// marker reads the results of the steps run as local activities: BuildPayloads and
// Compare always, GetRecords and Upsert in webhook micro-batches.
func (s *scanner) marker(e *historypb.HistoryEvent) {
	d := e.GetMarkerRecordedEventAttributes().GetDetails()
	if e.GetMarkerRecordedEventAttributes().GetMarkerName() == "SideEffect" {
		// The workflow's only side effect marks a run's start with its number.
		var n int
		if decode(d["data"], &n) && n > 0 {
			s.run = n
		}
		return
	}
	var meta struct{ ActivityType string }
	if !decode(d["data"], &meta) {
		return
	}
	switch meta.ActivityType {
	case "GetRecords": // a webhook micro-batch's read, as a local activity
		var recs activities.Records
		if decode(d["result"], &recs) && recs.ChangesOf != "" && slices.Contains(recs.Keys, s.key) {
			s.side, s.realtime = recs.ChangesOf, true
		}
	case "Upsert": // a webhook micro-batch's write, as a local activity
		var res activities.Written
		if decode(d["result"], &res) {
			if i := slices.Index(res.Keys, s.key); i >= 0 && i < len(res.Results) {
				s.written(res.Side, res.Results[i], e)
			}
		}
	case "BuildPayloads":
		var items activities.Items
		if decode(d["result"], &items) {
			s.items = items.Items
		}
	case "Compare":
		var dec activities.Decisions
		if !decode(d["result"], &dec) {
			return
		}
		for i, it := range s.items {
			if it.Key != s.key {
				continue
			}
			f := &Finding{Sync: s.sync, Key: s.key, Side: s.side, RecordID: it.SourceID, WorkflowID: s.wid, RunID: s.runID,
				EventID: e.GetEventId(), At: e.GetEventTime().AsTime(), Run: s.run, Action: "skipped",
				Reason: "both sides already held the same values (after normalizing): nothing to write"}
			if s.realtime {
				f.Run = 0
			}
			if len(it.TargetIDs) == 1 {
				f.TargetID = it.TargetIDs[0]
			}
			for _, d := range dec.Decisions {
				if d.Item != i {
					continue
				}
				switch d.Action {
				case activities.ActionCreate:
					f.Action, f.Fields, f.Reason = "created", it.Want, "no record on the other side had this key"
				case activities.ActionUpdate:
					f.Action, f.Fields = "updated", d.Fields
					if d.Fields == nil {
						f.Fields = d.Back
					}
					f.Reason = "the payloads differed in these fields"
					if d.Winner != "" {
						f.Action, f.Winner, f.Lost, f.Merge = "conflict", d.Winner, d.Lost, d.Merge
						f.Reason = "both sides had changed since they were last in step; side " + d.Winner + " won by the sync's conflict policy"
					}
				case activities.ActionLink:
					f.Reason = "both sides held what was last synced (an echo of Tandem's own write, or nothing new): nothing to write"
				case activities.ActionHold:
					f.Action, f.Reason = "held", d.Reason
				case activities.ActionSkip:
					f.Reason, f.withheld = d.Reason, true // a write mode's: still "skipped"
				default:
					f.Action, f.Reason = "failed", d.Reason
				}
			}
			s.found = append(s.found, f)
		}
		s.items = nil
	}
}
