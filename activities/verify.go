package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"tandem/connectors"
	"tandem/definition"
)

// VerifyInput asks for both sides of a sync to be compared in full.
type VerifyInput struct {
	Ref
	// Limit bounds the problems listed (all are counted); 0: 100.
	Limit int
	// RepairMax bounds the record ids kept for a repair, per side; 0: 10,000 (the most
	// records a sync queues from events).
	RepairMax int
	Now       time.Time
}

// Verify problems.
const (
	ProblemMissingA     = "missing_a"
	ProblemMissingB     = "missing_b"
	ProblemDifferent    = "different"
	ProblemOrphaned     = "orphaned"
	ProblemDuplicateKey = "duplicate_key"
)

// VerifyTotals count a verify's problems.
type VerifyTotals struct {
	MissingA      int `json:"missing_a"`
	MissingB      int `json:"missing_b"`
	Different     int `json:"different"`
	Orphaned      int `json:"orphaned"`
	DuplicateKeys int `json:"duplicate_keys"`
}

// Drift is how many problems there are.
func (t VerifyTotals) Drift() int {
	return t.MissingA + t.MissingB + t.Different + t.Orphaned + t.DuplicateKeys
}

// VerifyRecord is one problem: a record, where it is, and what is wrong.
type VerifyRecord struct {
	Key     string `json:"key"`
	Problem string `json:"problem"`
	// Side and ID name the record the problem was found from.
	Side   string                 `json:"side"`
	ID     string                 `json:"id"`
	Fields map[string]FieldChange `json:"fields,omitempty"`
	Reason string                 `json:"reason,omitempty"`
}

// VerifyResult is a verify's findings, and what a repair would send.
type VerifyResult struct {
	Totals  VerifyTotals   `json:"totals"`
	Records []VerifyRecord `json:"records"`
	// Checked counts the records read, by side.
	Checked map[string]int `json:"checked"`
	// Repair are, by side, record ids to send through the pipeline (as webhook events
	// would): they are read fresh and synced; Deleted, by side, ids of records gone whose
	// partner is still linked, for the sync's delete policy (and its breaker).
	Repair  map[string][]string `json:"repair,omitempty"`
	Deleted map[string][]string `json:"deleted,omitempty"`
	// Capped is set when more records need a repair than RepairMax: run it again.
	Capped bool `json:"capped,omitempty"`
}

// Verify compares both sides of a sync in full: every record of side a, pair by pair
// through the link store and by key for the unlinked, then the records of side b that no
// pass of side a reached (unlinked and without a match on a, or linked to a record of a
// that no longer exists). Pages are streamed: memory does not grow with the tables.
func (a *Activities) Verify(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	defer keepAlive(ctx)()
	s, err := a.sync(in.Ref)
	if err != nil {
		return VerifyResult{}, err
	}
	v := &verifier{a: a, in: in, s: s, out: VerifyResult{Checked: map[string]int{}}}
	if v.in.Limit <= 0 {
		v.in.Limit = 100
	}
	if v.in.RepairMax <= 0 {
		v.in.RepairMax = 10_000
	}
	if err := v.passA(ctx); err != nil {
		return VerifyResult{}, err
	}
	if err := v.passB(ctx); err != nil {
		return VerifyResult{}, err
	}
	return v.out, nil
}

type verifier struct {
	a   *Activities
	in  VerifyInput
	s   *definition.Sync
	out VerifyResult
}

// each streams every record of side, a page at a time. Services that keep times to the
// second hold back the records of the second not over yet at the end of a read
// (connectors.HoldBackOpenSecond), so a verify would call a record written a moment ago
// missing: the side is read until a read that began once the second the verify began in
// was over (and one more, for the service's clock) finds nothing new.
func (v *verifier) each(ctx context.Context, side string, page func(Records) error) error {
	var cur connectors.Cursor
	settled := time.Now().Truncate(time.Second).Add(2 * time.Second)
	for {
		started := time.Now()
		p, err := v.a.FetchChanges(ctx, FetchChangesInput{Ref: v.in.Ref, Side: side, Cursor: cur, Limit: v.s.PageSize})
		if err != nil {
			return err
		}
		if len(p.Records) == 0 {
			if !started.Before(settled) {
				return nil
			}
			if err := sleep(ctx, time.Until(settled)); err != nil {
				return err
			}
			continue
		}
		v.out.Checked[side] += len(p.Records)
		if err := page(p); err != nil {
			return err
		}
		heartbeat(ctx, v.out.Checked)
		cur = connectors.CursorOf(p.Records[len(p.Records)-1])
	}
}

func (v *verifier) problem(r VerifyRecord) {
	switch r.Problem {
	case ProblemMissingA:
		v.out.Totals.MissingA++
	case ProblemMissingB:
		v.out.Totals.MissingB++
	case ProblemDifferent:
		v.out.Totals.Different++
	case ProblemOrphaned:
		v.out.Totals.Orphaned++
	case ProblemDuplicateKey:
		v.out.Totals.DuplicateKeys++
	}
	if len(v.out.Records) < v.in.Limit {
		v.out.Records = append(v.out.Records, r)
	}
}

// repair keeps a record id to send through the pipeline (deleted: as deleted).
func (v *verifier) repair(side, id string, deleted bool) {
	m := &v.out.Repair
	if deleted {
		m = &v.out.Deleted
	}
	if *m == nil {
		*m = map[string][]string{}
	}
	if len((*m)[side]) >= v.in.RepairMax {
		v.out.Capped = true
		return
	}
	(*m)[side] = append((*m)[side], id)
}

// passA checks every record of side a against its partner (by link, else by key).
func (v *verifier) passA(ctx context.Context) error {
	return v.each(ctx, SideA, func(page Records) error {
		vd, err := v.a.judge(ctx, v.in.Ref, v.s, SideA, page, connectors.Cursor{}, v.in.Now)
		if err != nil {
			return err
		}
		for id := range vd.partnerMissing {
			l := vd.linked[id]
			v.orphan(SideA, id, SideB, l.B.ID, l.Key)
		}
		decided := map[int]bool{}
		for _, d := range vd.decisions.Decisions {
			it := vd.items[d.Item]
			decided[d.Item] = true
			if vd.partnerMissing[it.SourceID] {
				continue // reported as orphaned
			}
			switch d.Action {
			case ActionCreate:
				v.problem(VerifyRecord{Key: it.Key, Problem: ProblemMissingB, Side: SideA, ID: it.SourceID, Fields: changes(nil, it.Want),
					Reason: "no record on side b has this key"})
				v.repair(SideA, it.SourceID, false)
			case ActionUpdate:
				fields := changes(it.Have, d.Fields)
				if d.Back != nil {
					var have Payload
					if it.Pair != nil {
						have = it.Pair.BackHave
					}
					for k, c := range changes(have, d.Back) {
						fields["a."+k] = c
					}
				}
				v.problem(VerifyRecord{Key: it.Key, Problem: ProblemDifferent, Side: SideA, ID: it.SourceID, Fields: fields,
					Reason: "the pair's records hold different values"})
				v.repair(SideA, it.SourceID, false)
			case ActionFail:
				if len(it.TargetIDs) > 1 || len(it.Taken) > 0 || strings.Contains(d.Reason, "ambiguous") {
					v.problem(VerifyRecord{Key: it.Key, Problem: ProblemDuplicateKey, Side: SideA, ID: it.SourceID, Reason: d.Reason})
				}
			}
		}
		return nil
	})
}

// orphan reports a record linked to a partner that no longer exists, and keeps it for a
// repair: the partner's delete goes to the delete policy when the sync acts on deletes,
// else the record is synced again (its partner is created anew).
func (v *verifier) orphan(side, id, goneSide, goneID, key string) {
	v.problem(VerifyRecord{Key: key, Problem: ProblemOrphaned, Side: side, ID: id,
		Reason: fmt.Sprintf("linked to record %s on side %s, which no longer exists", goneID, goneSide)})
	if v.s.Deletes.Active() {
		v.repair(goneSide, goneID, true)
	} else {
		v.repair(side, id, false)
	}
}

// passB finds what side a's pass cannot see from side a: records of b linked to a
// record of a that is gone, and records of b with no partner on a.
func (v *verifier) passB(ctx context.Context) error {
	store := v.a.Links
	_, ad, ac, err := v.a.side(v.in.Ref, SideA)
	if err != nil {
		return err
	}
	m, err := newMapping(v.s, SideA)
	if err != nil {
		return nonRetryable(err)
	}
	return v.each(ctx, SideB, func(page Records) error {
		unlinked := make([]int, 0, len(page.Records))
		if store != nil {
			ids := make([]string, len(page.Records))
			for i, r := range page.Records {
				ids[i] = r.ID
			}
			links, err := store.Get(ctx, v.in.Sync, SideB, ids)
			if err != nil {
				return fmt.Errorf("sync %q: read links: %w", v.in.Sync, err)
			}
			var partners []string
			for _, l := range links {
				if l.Gone == "" {
					partners = append(partners, l.A.ID)
				}
			}
			exists := map[string]bool{}
			if len(partners) > 0 {
				recs, err := ac.Get(ctx, ad.Object, partners)
				if err != nil {
					return classifyFor(ctx, ad.Connection, fmt.Sprintf("read %d linked records of %s %s", len(partners), ad.Connection, ad.Object), err)
				}
				for _, r := range recs {
					exists[r.ID] = true
				}
			}
			for i, r := range page.Records {
				l, ok := links[r.ID]
				switch {
				case !ok:
					unlinked = append(unlinked, i)
				case l.Gone == "" && !exists[l.A.ID]:
					v.orphan(SideB, r.ID, SideA, l.A.ID, l.Key)
				}
			}
		} else {
			for i := range page.Records {
				unlinked = append(unlinked, i)
			}
		}
		var keys []string
		for _, i := range unlinked {
			if k := page.Keys[i]; k != "" {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return nil
		}
		found, err := v.a.find(ctx, ac, ad, keys, m.fromKeyNormalizer())
		if err != nil {
			return err
		}
		for _, i := range unlinked {
			k := page.Keys[i]
			if k == "" || len(found[k]) > 0 {
				continue // matched by key: side a's pass compared the pair
			}
			r := page.Records[i]
			v.problem(VerifyRecord{Key: k, Problem: ProblemMissingA, Side: SideB, ID: r.ID, Reason: "no record on side a has this key"})
			if v.s.Mode == definition.TwoWay {
				v.repair(SideB, r.ID, false)
			}
		}
		return nil
	})
}
