// Package replay replays sync workflow histories (and webhook handoffs') against the
// current code with the SDK's WorkflowReplayer, so a change to workflow code that would
// break running syncs is caught before it is deployed.
package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"tandem/workflows"
)

func replayer() (worker.WorkflowReplayer, error) {
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{})
	if err != nil {
		return nil, err
	}
	r.RegisterWorkflow(workflows.SyncWorkflow)
	r.RegisterWorkflowWithOptions(workflows.HandoffWorkflow, workflow.RegisterOptions{Name: workflows.HandoffWorkflowType})
	return r, nil
}

// File replays a history file as written by `temporal workflow show -w ID -o json`.
func File(path string, logger log.Logger) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return fmt.Errorf("%s is not a workflow history in JSON (write one with `temporal workflow show -w ID -o json`): %w", path, err)
	}
	return History(h, logger)
}

// ErrNothingDecided is History's answer for a run that has not completed a workflow task
// yet (it has just started): the code has decided nothing that could disagree.
var ErrNothingDecided = errors.New("nothing to replay yet: the run has not completed a workflow task")

// History replays one execution's history. A nil logger discards the replayer's logs.
func History(h *historypb.History, logger log.Logger) error {
	decided := false
	for _, e := range h.GetEvents() {
		if e.GetWorkflowTaskCompletedEventAttributes() != nil {
			decided = true
			break
		}
	}
	if !decided {
		return ErrNothingDecided
	}
	if logger == nil {
		logger = log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	}
	r, err := replayer()
	if err != nil {
		return err
	}
	return r.ReplayWorkflowHistory(logger, h)
}

// Fetch reads an execution's history from the server; an empty runID is the latest run.
func Fetch(ctx context.Context, c client.Client, workflowID, runID string) (*historypb.History, error) {
	iter := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return nil, fmt.Errorf("history of workflow %s: %w", workflowID, err)
		}
		h.Events = append(h.Events, e)
	}
	if len(h.Events) == 0 {
		return nil, fmt.Errorf("workflow %s has no history", workflowID)
	}
	return h, nil
}

var eventID = regexp.MustCompile(`(?i)event position (\d+)|event ?id[:= ]+(\d+)`)

// IsNonDeterministic reports whether err says the history and the code disagree.
func IsNonDeterministic(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "nondeterministic") || strings.Contains(msg, "non-deterministic") ||
		strings.Contains(msg, "tmprl1100")
}

// Describe says in one line what a replay found.
func Describe(err error) string {
	if err == nil {
		return "replays cleanly"
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if !IsNonDeterministic(err) {
		return "replay failed: " + msg
	}
	where := ""
	if m := eventID.FindStringSubmatch(msg); m != nil {
		id := m[1]
		if id == "" {
			id = m[2]
		}
		where = " at event " + id
	}
	// The SDK's message starts with a code and ends with a stack trace reference.
	msg, _, _ = strings.Cut(msg, " StackTrace")
	return "non-deterministic" + where + ": " + msg
}

// ErrNoHistory is returned when neither a file nor a workflow is named.
var ErrNoHistory = errors.New("name a history: --file history.json or --workflow-id ID")
