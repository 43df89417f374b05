package workflows

import (
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/definition"
)

// Two-way syncs with a link store (package pairs): a batch's pairs are found by link and
// by key, decided against their links, written, and their links saved. No per-pair data
// stays in the workflow's state.

// maxHeldShown bounds the held pairs the state lists for status.
const maxHeldShown = 50

// findPartners reads the links of a batch of side's records and their partners.
func (s *syncer) findPartners(ctx workflow.Context, side string, batch activities.Records) workflow.Future {
	ids := make([]string, len(batch.Records))
	for i, r := range batch.Records {
		ids[i] = r.ID
	}
	return s.remote(ctx, a.FindPartners, activities.FindPartnersInput{
		Ref: s.ref(), Side: side, IDs: ids, Keys: batch.Keys, Before: batch.Before,
	})
}

// processLinked is process for two-way syncs with a link store.
func (s *syncer) processLinked(ctx workflow.Context, from string, batch activities.Records, run int, found *activities.Partners) (Counts, error) {
	to := definition.Other(from)
	lctx := localOptions(ctx)
	var partners activities.Partners
	if found != nil {
		partners = *found
	} else {
		if err := s.findPartners(ctx, from, batch).Get(ctx, &partners); err != nil {
			return Counts{}, err
		}
		if err := s.rereadPartners(ctx, to, &partners, nil); err != nil {
			return Counts{}, err
		}
	}
	fetched := len(batch.Records)
	if len(partners.Gone) > 0 || len(partners.Behind) > 0 {
		// Pairs a delete ended while the sync archives: not synced again. Records read
		// from before Tandem's own write to them: that write comes back as a change.
		if len(partners.Behind) > 0 {
			s.logger.Info("Records read from before Tandem's own write to them left for the next read", "side", from, "records", len(partners.Behind))
		}
		batch = batch.Without(partners.Gone).Without(partners.Behind)
		if len(batch.Records) == 0 {
			c := Counts{Fetched: fetched, Skipped: fetched}
			s.count(ctx, c)
			return c, nil
		}
	}
	var items activities.Items
	if err := workflow.ExecuteLocalActivity(lctx, a.BuildPayloads, activities.BuildPayloadsInput{
		Ref: s.ref(), From: from, Source: batch, Partners: &partners,
	}).Get(ctx, &items); err != nil {
		return Counts{}, err
	}
	now := workflow.Now(ctx)
	var decisions activities.Decisions
	if err := workflow.ExecuteLocalActivity(lctx, a.Compare, activities.CompareInput{
		Ref: s.ref(), From: from, Items: items.Items, TargetCursor: s.st.Cursors[to],
		Linked: true, Now: now, CoolDown: s.plan.CoolDown,
	}).Get(ctx, &decisions); err != nil {
		return Counts{}, err
	}
	plan := decisions.Plan(from, items.Items)
	c := Counts{Fetched: fetched, Skipped: plan.Skipped + fetched - len(batch.Records)}
	for _, f := range plan.Failures {
		c.Failed++
		s.recordFailure(FailedRecord{Run: run, At: now, Side: f.Side, RecordID: f.RecordID, Key: f.Key, Reason: f.Reason})
	}
	for _, k := range plan.Conflicts {
		c.Conflicts++
		s.recordDecision(DecisionRecord{Run: run, At: now, Key: k.Key, Kind: "conflict", Winner: k.Winner, Lost: k.Lost, Fields: k.Fields})
	}
	for _, m := range plan.Misreads {
		s.logger.Info("Value did not read back as written", "key", m.Key, "side", m.Side, "field", m.Field, "wrote", m.Wrote, "read", m.Read)
	}
	for _, k := range plan.Released {
		s.release(k)
	}
	for _, h := range plan.Holds {
		c.Held++
		s.hold(now, HeldPair{Key: h.Key, Side: from, RecordID: h.SourceID, Reason: h.Reason, Until: h.Until, Run: run})
	}
	w, err := s.write(ctx, from, plan, run, now, &c)
	if err != nil {
		return Counts{}, err
	}
	for _, id := range w.stale {
		// Read again and planned afresh in the next micro-batch.
		s.enqueue(ctx, from, id)
	}
	if links := plan.SettleLinks(w.created, w.failed); len(links) > 0 {
		for _, l := range links {
			s.markDirty(activities.SideA, l.A.ID)
			s.markDirty(activities.SideB, l.B.ID)
		}
		if err := s.remote(ctx, a.SaveLinks, activities.SaveLinksInput{
			Ref: s.ref(), Links: links,
		}).Get(ctx, nil); err != nil {
			return Counts{}, err
		}
	}
	s.count(ctx, c)
	return c, nil
}

// rereadPartners reads again by id the by-key matches of keys written since they were
// looked up, or too recently for the side's search (see reread). Linked partners are read
// by id already.
func (s *syncer) rereadPartners(ctx workflow.Context, side string, p *activities.Partners, touched map[string][]string) error {
	keys := make([]string, 0, len(p.Matches)+len(touched))
	for _, k := range workflow.DeterministicKeys(p.Matches) {
		keys = append(keys, k)
	}
	for _, k := range workflow.DeterministicKeys(touched) {
		if _, ok := p.Matches[k]; !ok {
			keys = append(keys, k)
		}
	}
	m := activities.Matches{Matches: p.Matches}
	if err := s.reread(ctx, side, keys, &m, touched); err != nil {
		return err
	}
	p.Matches = m.Matches
	return nil
}

// hold lists a held pair for status and wakes the sync when its hold ends.
func (s *syncer) hold(now time.Time, h HeldPair) {
	s.logger.Warn("Pair held by the loop guard", "key", h.Key, "reason", h.Reason)
	s.st.HeldCount++
	s.st.Held = append(s.st.Held, h)
	if n := len(s.st.Held); n > maxHeldShown {
		s.st.Held = append([]HeldPair(nil), s.st.Held[n-maxHeldShown:]...)
	}
	if s.st.HeldNext.IsZero() || h.Until.Before(s.st.HeldNext) {
		s.st.HeldNext = h.Until
	}
	s.recordDecision(DecisionRecord{Run: h.Run, At: now, Key: h.Key, Kind: "held", Reason: h.Reason})
}

// heldDue reports whether a held pair's cool-down is over.
func (s *syncer) heldDue(ctx workflow.Context) bool {
	return !s.st.HeldNext.IsZero() && !workflow.Now(ctx).Before(s.st.HeldNext)
}

// releaseHeld queues the pairs whose hold is over to be compared again (as a micro-batch
// of their side a records), and notes when the next hold ends.
func (s *syncer) releaseHeld(ctx workflow.Context) {
	if err := s.loadPlan(ctx); err != nil {
		s.st.HeldNext = time.Time{}
		return
	}
	var due activities.DueHeld
	if err := workflow.ExecuteActivity(activityOptions(ctx), a.DueHeld, activities.DueHeldInput{
		Ref: s.ref(), Now: workflow.Now(ctx), Limit: s.plan.PageSize,
	}).Get(ctx, &due); err != nil {
		s.logger.Warn("Reading held pairs failed; trying again later", "error", err)
		s.st.HeldNext = workflow.Now(ctx).Add(failedRunRetry)
		return
	}
	s.st.HeldNext = due.Next
	s.st.HeldCount = due.Held
	if len(due.IDs) > 0 {
		// Look again soon: more may be due than one page holds, and a pair whose batch
		// fails stays held in the store until it is compared again.
		again := workflow.Now(ctx).Add(time.Second)
		if len(due.IDs) < s.plan.PageSize {
			again = workflow.Now(ctx).Add(failedRunRetry)
		}
		if s.st.HeldNext.IsZero() || again.Before(s.st.HeldNext) {
			s.st.HeldNext = again
		}
	}
	// Compared again, each is released (or held anew) by its batch.
	for _, id := range due.IDs {
		s.enqueue(ctx, activities.SideA, id)
	}
}

// release takes a pair that is no longer held off the status.
func (s *syncer) release(key string) {
	s.logger.Info("Held pair released", "key", key)
	s.st.HeldCount = max(0, s.st.HeldCount-1)
	s.st.Held = slices.DeleteFunc(s.st.Held, func(h HeldPair) bool { return h.Key == key })
}

// markDirty notes in the latest look-ahead's record a record of side written or linked.
func (s *syncer) markDirty(side, id string) {
	if s.dirty == nil || id == "" {
		return
	}
	d := s.dirty[side]
	if d == nil {
		d = map[string]bool{}
		s.dirty[side] = d
	}
	d[id] = true
}

// staleAhead reports whether a look-ahead's partners of side's page may be stale: a record
// of the page, its partner, or a record it matched by key was written or linked since the
// look-up began.
func (s *syncer) staleAhead(side string, p aheadPage, dirty map[string]map[string]bool) bool {
	if len(dirty) == 0 {
		return false
	}
	to := definition.Other(side)
	for _, r := range p.Page.Records {
		if dirty[side][r.ID] {
			return true
		}
		if lp, ok := p.Partners.Linked[r.ID]; ok && dirty[to][lp.Link.Half(to).ID] {
			return true
		}
	}
	for _, k := range workflow.DeterministicKeys(p.Partners.Matches) {
		for _, r := range p.Partners.Matches[k] {
			if dirty[to][r.ID] {
				return true
			}
		}
	}
	return false
}
