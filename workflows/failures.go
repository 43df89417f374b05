package workflows

import (
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
)

// Records a service rejected are retried (issue 18; activities/failures.go tells how the
// link store remembers them). Each run, after its mapping check and deletes, reads each
// side's remembered records again by id, page by page, and puts them through the same
// pipeline as a page of changes; those that did not fail again are then forgotten. Only a
// count and the latest few are kept in the state, for status.

// remembers says whether the execution remembers rejected records and retries them:
// histories recorded before replay without.
func (s *syncer) remembers(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, "retry-failed", workflow.DefaultVersion, 1) == 1
}

// retryFailures retries the remembered failures of sides. It stops early, leaving the
// rest for the next run, when the sync is paused or its history is long enough to
// continue as new.
func (s *syncer) retryFailures(ctx workflow.Context, sides []string) error {
	for _, side := range sides {
		after := ""
		for {
			var p activities.FailedPage
			if err := s.remote(ctx, a.FailedPage, activities.FailedPageInput{
				Ref: s.ref(), Side: side, After: after, Limit: s.plan.PageSize,
			}).Get(ctx, &p); err != nil {
				return err
			}
			if len(p.Page.Records) > 0 || p.Gone > 0 {
				s.logger.Info("Retrying records a service rejected", "side", side, "records", len(p.Page.Records), "gone", p.Gone)
			}
			if len(p.Page.Records) > 0 {
				c, err := s.process(ctx, side, p.Page, s.st.Current.Number, nil, nil)
				if err != nil {
					return err
				}
				s.st.Current.add(c)
				s.st.Totals.add(c)
				var left activities.Failing
				if err := s.remote(ctx, a.SettleFailures, activities.SettleFailuresInput{
					Ref: s.ref(), Side: side, Attempts: p.Attempts,
				}).Get(ctx, &left); err != nil {
					return err
				}
				s.setFailing(&left)
			}
			if p.Next == "" {
				break
			}
			after = p.Next
			if s.st.Paused || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
				return nil
			}
		}
	}
	return nil
}

// setFailing keeps what the link store last said it remembers of the sync's failures.
func (s *syncer) setFailing(f *activities.Failing) {
	switch {
	case f == nil:
	case f.Count == 0:
		s.st.Failing = nil
	default:
		s.st.Failing = f
	}
}
