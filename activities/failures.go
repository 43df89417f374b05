package activities

import (
	"context"
	"fmt"
	"slices"
	"time"

	"tandem/definition"
	"tandem/pairs"
)

// Records a service rejected are retried (issue 18). A write the service rejects (an
// InvalidRecordError, say) is remembered in the link store by the record it came from:
// its side and id, key and reason (pairs.Failure). A one-way sync's cursor has moved past
// the record, so nothing else would read it again until its source changes. Each run
// starts by reading the remembered records again by id (FailedPage) and putting them
// through the pipeline like a page; SettleFailures then forgets those that did not fail
// again (written, or found in step). A record written by any batch is forgotten at once;
// one gone from its source is forgotten when its page is read. The link store, not the
// workflow, holds them: only a count and the latest few go into the workflow's state.

// MaxFailingShown bounds the remembered failures a Failing lists.
const MaxFailingShown = 10

// Failing is what the link store remembers of a sync's failures: how many, and the latest
// few.
type Failing struct {
	Count  int             `json:"count"`
	Latest []pairs.Failure `json:"latest,omitempty"`
}

// remember saves the failures of a batch of writes and forgets the records it wrote. The
// failed record is the op's source, on the side opposite the one written. Without a link
// store (a worker made for tests) nothing is remembered.
func (a *Activities) remember(ctx context.Context, in UpsertInput, results []OpResult) (*Failing, error) {
	if a.Links == nil {
		return nil, nil
	}
	from := definition.Other(in.Side)
	now := time.Now().UTC()
	write := in.RunAt.UTC().Format(time.RFC3339Nano) + "/" + in.Batch
	var failed []pairs.Failure
	var written []string
	for i, r := range results {
		op := in.Ops[i]
		switch r.Action {
		case ActionCreate, ActionUpdate:
			written = append(written, op.SourceID)
		case ActionFail:
			if op.SourceID != "" {
				failed = append(failed, pairs.Failure{Side: from, ID: op.SourceID, Key: op.Key, Reason: r.Reason, LastAt: now, Write: write})
			}
		}
	}
	if err := a.Links.AddFailures(ctx, in.Sync, failed); err != nil {
		return nil, fmt.Errorf("sync %q: remember %d failed records: %w", in.Sync, len(failed), err)
	}
	dropped, err := a.Links.DropFailures(ctx, in.Sync, from, written)
	if err != nil {
		return nil, fmt.Errorf("sync %q: forget the failures of %d written records: %w", in.Sync, len(written), err)
	}
	if len(failed) == 0 && dropped == 0 {
		return nil, nil
	}
	return a.failing(ctx, in.Sync)
}

// failing reads the count and latest few of sync's remembered failures.
func (a *Activities) failing(ctx context.Context, sync string) (*Failing, error) {
	n, err := a.Links.CountFailures(ctx, sync)
	if err != nil {
		return nil, fmt.Errorf("sync %q: count failed records: %w", sync, err)
	}
	latest, err := a.Links.LatestFailures(ctx, sync, MaxFailingShown)
	if err != nil {
		return nil, fmt.Errorf("sync %q: read failed records: %w", sync, err)
	}
	return &Failing{Count: n, Latest: latest}, nil
}

// FailedPageInput asks for a page of a side's remembered failures after the record id
// After ("" from the first), read again from the side.
type FailedPageInput struct {
	Ref
	Side  string
	After string
	Limit int
}

// FailedPage is a page of remembered failures read again: the records still in their
// side (with keys, like a page of changes), and the attempts of each when read, for
// SettleFailures.
type FailedPage struct {
	Page Records `json:"page"`
	// Attempts are, by id, the attempts of the page's records as remembered when read.
	Attempts map[string]int `json:"attempts,omitempty"`
	// Next is the id to read the next page after; empty when this was the last.
	Next string `json:"next,omitempty"`
	// Gone is how many remembered records were no longer in their side (forgotten).
	Gone int `json:"gone,omitempty"`
}

// FailedPage reads a page of a side's remembered failures again by id. Records gone from
// the side are forgotten: there is nothing left to write. Without a link store it returns
// an empty page.
func (a *Activities) FailedPage(ctx context.Context, in FailedPageInput) (FailedPage, error) {
	defer keepAlive(ctx)()
	if a.Links == nil {
		return FailedPage{}, nil
	}
	if in.Limit <= 0 {
		return FailedPage{}, nonRetryable(fmt.Errorf("sync %q: failed records page limit %d is not positive", in.Sync, in.Limit))
	}
	fs, err := a.Links.Failures(ctx, in.Sync, in.Side, in.After, in.Limit)
	if err != nil {
		return FailedPage{}, fmt.Errorf("sync %q: read failed records of side %s: %w", in.Sync, in.Side, err)
	}
	if len(fs) == 0 {
		return FailedPage{}, nil
	}
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	recs, err := a.GetRecords(ctx, GetRecordsInput{Ref: in.Ref, Side: in.Side, IDs: ids, Counterparts: true})
	if err != nil {
		return FailedPage{}, err
	}
	out := FailedPage{Page: recs, Attempts: map[string]int{}}
	out.Page.More, out.Page.Rest = false, nil
	if len(fs) == in.Limit {
		out.Next = fs[len(fs)-1].ID
	}
	found := map[string]bool{}
	for _, r := range recs.Records {
		found[r.ID] = true
	}
	var gone []string
	for _, f := range fs {
		switch {
		case found[f.ID]:
			out.Attempts[f.ID] = f.Attempts
		case !slices.Contains(recs.Rest, f.ID):
			// Rest were left out for size: their turn comes on the next run.
			gone = append(gone, f.ID)
		}
	}
	if len(gone) > 0 {
		if out.Gone, err = a.Links.DropFailures(ctx, in.Sync, in.Side, gone); err != nil {
			return FailedPage{}, fmt.Errorf("sync %q: forget %d failed records gone from side %s: %w", in.Sync, len(gone), in.Side, err)
		}
	}
	return out, nil
}

// SettleFailuresInput names the records of a side retried from a FailedPage, with their
// attempts as read.
type SettleFailuresInput struct {
	Ref
	Side     string
	Attempts map[string]int
}

// SettleFailures forgets the retried records that did not fail again (their attempts are
// as read: written, or found in step with their partner), and returns what the link store
// still remembers of the sync's failures.
func (a *Activities) SettleFailures(ctx context.Context, in SettleFailuresInput) (Failing, error) {
	if a.Links == nil {
		return Failing{}, nil
	}
	if _, err := a.Links.SettleFailures(ctx, in.Sync, in.Side, in.Attempts); err != nil {
		return Failing{}, fmt.Errorf("sync %q: forget retried records of side %s: %w", in.Sync, in.Side, err)
	}
	f, err := a.failing(ctx, in.Sync)
	if err != nil {
		return Failing{}, err
	}
	return *f, nil
}
