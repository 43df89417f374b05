package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"tandem/pairs"
)

// A chunk of a one-way sync that keeps no links logs what it did with each record in the
// link store's bulk log (pairs/bulklog.go), a page at a time, beside the writes: the
// records are out of history, and `explain` reads the log for them. A log that cannot be
// written is warned about and the chunk goes on: the sync's records matter more than
// their explanation.

// bulkLog writes a chunk's pages of outcomes, in order, on a goroutine of its own. A nil
// bulkLog logs nothing.
type bulkLog struct {
	ctx   context.Context
	store pairs.Store
	sync  string
	side  string
	run   int

	pages  chan pairs.BulkPage
	done   chan struct{}
	closed bool
}

func newBulkLog(ctx context.Context, store pairs.Store, sync, side string, run int) *bulkLog {
	b := &bulkLog{ctx: ctx, store: store, sync: sync, side: side, run: run,
		pages: make(chan pairs.BulkPage, 4), done: make(chan struct{})}
	go b.write()
	return b
}

func (b *bulkLog) write() {
	defer close(b.done)
	failed := false
	for p := range b.pages {
		if failed {
			continue
		}
		// The pages that came while the last were written go in one transaction.
		pages := []pairs.BulkPage{p}
	more:
		for len(pages) < 16 {
			select {
			case q, ok := <-b.pages:
				if !ok {
					break more
				}
				pages = append(pages, q)
			default:
				break more
			}
		}
		if err := b.store.LogBulk(b.ctx, b.sync, pages); err != nil {
			failed = true
			if activity.IsActivity(b.ctx) {
				activity.GetLogger(b.ctx).Warn("Bulk log not written: explain will not know this chunk's records", "sync", b.sync, "error", err)
			}
		}
	}
}

// add logs a page's outcomes.
func (b *bulkLog) add(o *pageOutcomes) {
	if b == nil || o == nil || len(o.list) == 0 {
		return
	}
	b.pages <- pairs.BulkPage{Run: b.run, Side: b.side, At: time.Now(), Outcomes: o.list}
}

// close waits for the pages added to be written; it may be called again.
func (b *bulkLog) close() {
	if b == nil {
		return
	}
	if !b.closed {
		b.closed = true
		close(b.pages)
	}
	<-b.done
}

// pageOutcomes are a page's outcomes, by record, as the chunk learns them.
type pageOutcomes struct {
	list []pairs.RecordOutcome
	byID map[string]int
}

// outcomes starts a page's outcomes from its items: each skipped (no write needed) but
// those Compare refused (failures). Nil when nothing is logged.
func (b *bulkLog) outcomes(items []Item, failures []Failure) *pageOutcomes {
	if b == nil {
		return nil
	}
	o := &pageOutcomes{list: make([]pairs.RecordOutcome, 0, len(items)), byID: make(map[string]int, len(items))}
	for _, it := range items {
		r := pairs.RecordOutcome{Key: it.Key, ID: it.SourceID, Action: pairs.OutcomeSkipped}
		if len(it.TargetIDs) == 1 {
			r.TargetID = it.TargetIDs[0]
		}
		o.byID[it.SourceID] = len(o.list)
		o.list = append(o.list, r)
	}
	for _, f := range failures {
		if i, ok := o.byID[f.RecordID]; ok {
			o.list[i].Action, o.list[i].Reason = pairs.OutcomeFailed, f.Reason
		}
	}
	return o
}

// wrote notes the result of a write of op.
func (o *pageOutcomes) wrote(op WriteOp, res OpResult) {
	if o == nil {
		return
	}
	i, ok := o.byID[op.SourceID]
	if !ok {
		return
	}
	r := &o.list[i]
	if res.TargetID != "" {
		r.TargetID = res.TargetID
	}
	switch res.Action {
	case ActionCreate:
		r.Action = pairs.OutcomeCreated
	case ActionUpdate:
		r.Action = pairs.OutcomeUpdated
	case ActionStale:
		r.Action = pairs.OutcomeStale
	default:
		r.Action, r.Reason = pairs.OutcomeFailed, res.Reason
	}
}
