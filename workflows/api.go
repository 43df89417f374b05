// Package workflows holds SyncWorkflow: one long-running workflow per sync that owns the
// sync's cursor, schedule, pending events and decisions, and drives the page pipeline of
// package activities.
package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"tandem/activities"
	"tandem/connectors"
	"tandem/pairs"
)

// TaskQueue is the task queue Tandem's workers poll.
const TaskQueue = "tandem"

// Signal and query names. The Temporal CLI can send them too, e.g.
// `temporal workflow signal -w tandem/sync/companies --name sync-now`.
const (
	SignalSyncNow = "sync-now"
	SignalPause   = "pause"
	SignalResume  = "resume"
	SignalResync  = "resync"
	QueryStatus   = "status"
)

// SyncSearchAttribute holds a sync's name on its workflow, so the UI and
// `temporal workflow list --query 'TandemSync="companies"'` can filter by sync.
const SyncSearchAttribute = "TandemSync"

// SyncKey is the typed key of SyncSearchAttribute.
var SyncKey = temporal.NewSearchAttributeKeyKeyword(SyncSearchAttribute)

// MetricRecords counts records by sync and outcome (fetched, created, updated, skipped,
// failed, conflicts); it is emitted through the SDK's metrics handler, so it is exported
// wherever the worker exports the SDK's metrics.
const MetricRecords = "tandem_records"

// MetricDeletesHeld is how many deletes of a sync the mass-delete breaker holds (a gauge,
// by sync; 0 once they are approved or discarded).
const MetricDeletesHeld = "tandem_deletes_held"

const workflowIDPrefix = "tandem/sync/"

// WorkflowID is the id of a sync's workflow.
func WorkflowID(sync string) string { return workflowIDPrefix + sync }

// SyncFromWorkflowID is the inverse of WorkflowID.
func SyncFromWorkflowID(id string) (string, bool) {
	name, ok := strings.CutPrefix(id, workflowIDPrefix)
	return name, ok && name != ""
}

// SyncInput starts or continues a sync's workflow. From the Temporal CLI or UI it is
// {"Sync":"people"}, or just "people"; with the definition inline (a sync entry of a
// definitions file as JSON, its connections by name): {"Sync":"people","Definition":{...}}.
type SyncInput struct {
	Sync string
	// Definition is the sync's definition given inline, used instead of the workers'
	// files; on the first start only (it is then kept in State).
	Definition json.RawMessage `json:",omitempty"`
	// State is carried across continue-as-new; nil on the first start.
	State *SyncState `json:",omitempty"`
}

// UnmarshalJSON takes a SyncInput, or a bare string naming the sync.
func (in *SyncInput) UnmarshalJSON(data []byte) error {
	var name string
	if err := json.Unmarshal(data, &name); err == nil {
		*in = SyncInput{Sync: name}
		return nil
	}
	type plain SyncInput
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("sync workflow input: want {\"Sync\":\"NAME\"} or \"NAME\": %w", err)
	}
	*in = SyncInput(p)
	return nil
}

// ResyncSignal rewinds a side's cursor to a time, so every change since then is read again.
type ResyncSignal struct {
	Side string // "a" or "b"; empty: every side the sync reads (both of a two-way sync)
	From time.Time
}

// Counts are per-record outcomes.
type Counts struct {
	Fetched int `json:"fetched"`
	Created int `json:"created"`
	Updated int `json:"updated"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
	// Conflicts are pairs both of whose sides had changed (two-way), resolved by the
	// sync's policy (their writes are in Created/Updated).
	Conflicts int `json:"conflicts,omitempty"`
	// Held are pairs the loop guard held instead of writing (also in Skipped).
	Held int `json:"held,omitempty"`
	// Stale are conditional writes the service refused because the record changed after
	// it was read; the record is read again and planned afresh.
	Stale int `json:"stale,omitempty"`
	// Deleted and Archived are partners of deleted records that were deleted or
	// archived (deletes.mode).
	Deleted  int `json:"deleted,omitempty"`
	Archived int `json:"archived,omitempty"`
}

func (c *Counts) add(o Counts) {
	c.Fetched += o.Fetched
	c.Created += o.Created
	c.Updated += o.Updated
	c.Skipped += o.Skipped
	c.Failed += o.Failed
	c.Conflicts += o.Conflicts
	c.Held += o.Held
	c.Stale += o.Stale
	c.Deleted += o.Deleted
	c.Archived += o.Archived
}

// RunSummary describes one run of a sync.
type RunSummary struct {
	Number     int       `json:"number"`
	Trigger    string    `json:"trigger"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Counts
	// Side is the side being pulled (two-way syncs pull a, then b).
	Side string `json:"side,omitempty"`
	// Known is how many records the run has to read, where the services can count
	// them (-1 or 0 with KnownOK false: unknown); Fetched of Known is the progress.
	Known   int  `json:"known,omitempty"`
	KnownOK bool `json:"known_ok,omitempty"`
	// Error is why the run stopped early, if it did; the cursor stays at the last page
	// written and the next run resumes there.
	Error string `json:"error,omitempty"`
	// DeletesDone is set once the run has looked for deleted records (before its pages).
	DeletesDone bool `json:"deletes_done,omitempty"`
	// MappingChecked is set once the run has checked the mapping against both sides'
	// fields (before anything else).
	MappingChecked bool `json:"mapping_checked,omitempty"`
	// FailuresRetried is set once the run has retried the records services rejected
	// before (after deletes, before its pages).
	FailuresRetried bool `json:"failures_retried,omitempty"`
	// Chunks counts the run's pages synced in bulk (activities.SyncChunk), their records
	// out of history.
	Chunks int `json:"chunks,omitempty"`
}

// FailedRecord is a record that was not synced, with the service's reason.
type FailedRecord struct {
	Run      int       `json:"run"`
	At       time.Time `json:"at"`
	Side     string    `json:"side"`
	RecordID string    `json:"record_id"`
	Key      string    `json:"key,omitempty"`
	Reason   string    `json:"reason"`
}

// SyncState is everything a sync knows; it lives in the workflow and is carried whole
// across continue-as-new.
type SyncState struct {
	// Cursors by side: the (updated-at, id) of the last committed record.
	Cursors map[string]connectors.Cursor `json:"cursors"`
	Paused  bool                         `json:"paused"`
	// PausedFor says why the sync paused itself ("mapping invalid (...)"); empty when an
	// operator paused it. Resuming clears it.
	PausedFor string `json:"paused_for,omitempty"`
	// NextRunAt is when the next scheduled run is due (zero: now).
	NextRunAt time.Time `json:"next_run_at"`
	// Current is the run in progress, if any (a run may span continue-as-new).
	Current *RunSummary `json:"current,omitempty"`
	LastRun *RunSummary `json:"last_run,omitempty"`
	Runs    int         `json:"runs"`
	Totals  Counts      `json:"totals"`
	// Failures are the most recent failed records, newest last.
	Failures []FailedRecord `json:"failures,omitempty"`
	// SyncNowPending asks for another run right after the current one.
	SyncNowPending bool `json:"sync_now_pending,omitempty"`

	// Pending are record ids announced by webhooks and not yet synced, by side, in
	// arrival order without repeats.
	Pending map[string][]string `json:"pending,omitempty"`
	// Seen are the ids of the most recent events, oldest first, so a redelivered event
	// is dropped even after continue-as-new.
	Seen []string `json:"seen,omitempty"`
	// Realtime counts the records synced from webhook events (also in Totals).
	Realtime Counts     `json:"realtime"`
	Events   EventStats `json:"events"`

	// Two-way syncs. Baselines are fingerprints of what recently written pairs agreed
	// on, by key (BaselineOrder oldest first, bounded), so a later change on one side is
	// told from a conflict. Loops track pairs written back and forth; Decisions are the
	// most recent conflicts and stopped loops.
	Baselines     map[string]string     `json:"baselines,omitempty"`
	BaselineOrder []string              `json:"baseline_order,omitempty"`
	Loops         map[string]*LoopState `json:"loops,omitempty"`
	Decisions     []DecisionRecord      `json:"decisions,omitempty"`

	// Usage is each side's quota use as its service last reported it.
	Usage map[string]map[string]string `json:"usage,omitempty"`

	// Two-way syncs with a link store keep their pairs there; the state only lists the
	// most recent held pairs (bounded), how many are held, and when the next hold ends.
	Held      []HeldPair `json:"held,omitempty"`
	HeldCount int        `json:"held_count,omitempty"`
	HeldNext  time.Time  `json:"held_next,omitzero"`
	// Overflowed counts webhook events dropped because too many were pending; the
	// cursor catches their records up (a run is started).
	Overflowed int `json:"overflowed,omitempty"`
	// RejectedSignals counts signals that could not be applied (a payload that does not
	// decode, an unknown side); LastRejectedSignal says which and why.
	RejectedSignals    int    `json:"rejected_signals,omitempty"`
	LastRejectedSignal string `json:"last_rejected_signal,omitempty"`

	// Definition is the sync's inline definition, when it was started or redefined with
	// one (SyncInput.Definition, the define update); empty: the workers' files.
	Definition json.RawMessage `json:"definition,omitempty"`
	// LastSuccess is when the last run without an error finished.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Plan is the definition the run in progress started with, kept across
	// continue-as-new so one run is one definition; Loaded is set once a definition was
	// loaded.
	Plan   *activities.SyncPlan `json:"plan,omitempty"`
	Loaded bool                 `json:"loaded,omitempty"`
	// Search is set when the namespace has the state search attributes (see publish).
	Search bool `json:"search,omitempty"`

	// Deletes is what the sync knows of deleted records (syncs that act on deletes).
	Deletes *DeleteState `json:"deletes,omitempty"`
	// Failing is what the link store remembers of the records a service rejected, as
	// last reported: how many, and the latest few (see failures.go).
	Failing *activities.Failing `json:"failing,omitempty"`
	// Every is the schedule of the definition last loaded (for the schedule gauge).
	Every time.Duration `json:"every,omitempty"`
	// LastVerify is the last verify's summary (scheduled or `starter verify`);
	// LastScheduledVerify when the definition's own verify last ran.
	LastVerify          *Verified `json:"last_verify,omitempty"`
	LastScheduledVerify time.Time `json:"last_scheduled_verify,omitzero"`

	// Written are, by side and key, the records written on a side whose Find trails
	// its writes, for as long as it may (activities.SyncPlan.Lag; bounded): they are
	// read by id rather than looked up.
	Written map[string]map[string]WrittenKey `json:"written,omitempty"`
}

// HeldPair is a pair the loop guard holds: nothing is written to it until Until, then it
// is compared again.
type HeldPair struct {
	Key      string    `json:"key"`
	Side     string    `json:"side"`
	RecordID string    `json:"record_id"`
	Reason   string    `json:"reason"`
	Until    time.Time `json:"until"`
	Run      int       `json:"run"`
}

// WrittenKey is a recent write of one key: the ids written and when. A chunk keeps them
// as the workflow does (activities.SyncChunkInput.Written).
type WrittenKey = activities.RecentWrite

// LoopState counts the direction changes of a pair's writes within a window.
type LoopState struct {
	Since   time.Time `json:"since"`
	LastTo  string    `json:"last_to"`
	Flips   int       `json:"flips"`
	Stopped bool      `json:"stopped,omitempty"`
}

// DecisionRecord is a decision worth showing: a conflict and its winner, or a pair
// stopped for being written back and forth.
type DecisionRecord struct {
	Run    int       `json:"run"`
	At     time.Time `json:"at"`
	Key    string    `json:"key"`
	Kind   string    `json:"kind"` // "conflict", "held" or (wave 1) "loop"
	Winner string    `json:"winner,omitempty"`
	// Fields are how each differing field of a conflict went, and why.
	Fields []pairs.FieldDecision `json:"fields,omitempty"`
	// Lost are the values the loser held and the winner overwrote ("side.field").
	Lost map[string]any `json:"lost,omitempty"`
	// A and B are both sides' payloads when a loop was stopped.
	A      map[string]any `json:"a,omitempty"`
	B      map[string]any `json:"b,omitempty"`
	Reason string         `json:"reason,omitempty"`
}

// EventStats describe the webhook events a sync received.
type EventStats struct {
	Received   int `json:"received"`
	Duplicates int `json:"duplicates"`
	// Batches is how many micro-batches the events were synced in.
	Batches     int       `json:"batches"`
	LastBatchAt time.Time `json:"last_batch_at,omitzero"`
	// LastError is why the last micro-batch failed, if it did; its records are picked up
	// by the next scheduled run.
	LastError string `json:"last_error,omitempty"`
}

// Status is the answer to the status query.
type Status struct {
	Sync       string `json:"sync"`
	WorkflowID string `json:"workflow_id"`
	Paused     bool   `json:"paused"`
	// PausedFor says why the sync paused itself (a mapping the services' fields do not
	// hold); empty when an operator paused it.
	PausedFor string `json:"paused_for,omitempty"`
	Running   bool   `json:"running"`
	// State is idle, running, paused or failing (also the TandemState search attribute).
	State string `json:"state,omitempty"`
	// LastSuccess is when the last run without an error finished.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Definition says where the definition comes from: "inline" or a definitions file.
	Definition string                       `json:"definition,omitempty"`
	Cursors    map[string]connectors.Cursor `json:"cursors"`
	NextRunAt  time.Time                    `json:"next_run_at"`
	Current    *RunSummary                  `json:"current,omitempty"`
	LastRun    *RunSummary                  `json:"last_run,omitempty"`
	Runs       int                          `json:"runs"`
	Totals     Counts                       `json:"totals"`
	Failures   []FailedRecord               `json:"failures,omitempty"`
	Decisions  []DecisionRecord             `json:"decisions,omitempty"`
	Realtime   Counts                       `json:"realtime"`
	Events     EventStats                   `json:"events"`
	// Pending is how many records announced by webhooks wait for the next micro-batch.
	Pending int `json:"pending"`
	// Usage is each side's quota use as its service last reported it (e.g. Salesforce's
	// {"api-usage": "18/5000"}).
	Usage map[string]map[string]string `json:"usage,omitempty"`
	// Held are the most recent pairs held by the loop guard; HeldCount how many are held.
	Held      []HeldPair `json:"held,omitempty"`
	HeldCount int        `json:"held_count,omitempty"`
	// Overflowed counts webhook events dropped because too many were pending.
	Overflowed int `json:"overflowed,omitempty"`
	// RejectedSignals counts signals that could not be applied; LastRejectedSignal says
	// which and why.
	RejectedSignals    int    `json:"rejected_signals,omitempty"`
	LastRejectedSignal string `json:"last_rejected_signal,omitempty"`
	// Retrying are the sync's activities that failed and are being tried again, with the
	// last error: filled in by the starter (app.Status) from Temporal's description of
	// the workflow, not by the query, so a failing service shows while its retries go on.
	Retrying []RetryingActivity `json:"retrying,omitempty"`
	// Closed is set (terminated, completed, failed, ...) when the sync's workflow is not
	// running: the rest is its last state. Filled in by the starter, as Retrying.
	Closed   string    `json:"closed,omitempty"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
	// RecentlyWritten counts, by side, the keys written too recently for the side's
	// search to be trusted with them (see SyncState.Written): they are read by id.
	RecentlyWritten map[string]int `json:"recently_written,omitempty"`
	// Deletes is the sync's delete policy at work: held deletes, how each side's deletes
	// are found, the latest outcomes.
	Deletes *DeletesStatus `json:"deletes,omitempty"`
	// LastVerify is the last verify's summary.
	LastVerify *Verified `json:"last_verify,omitempty"`
	// Failing are the records a service rejected that later runs retry: how many, and
	// the latest few with their reason and attempts.
	Failing *activities.Failing `json:"failing,omitempty"`
}

// DeletesStatus is what status shows of deletes.
type DeletesStatus struct {
	Mode      string                     `json:"mode"`
	Held      *HeldDeletes               `json:"held,omitempty"`
	Pending   int                        `json:"pending,omitempty"`
	Notes     map[string]string          `json:"notes,omitempty"`
	Recent    []activities.DeleteOutcome `json:"recent,omitempty"`
	Discarded int                        `json:"discarded,omitempty"`
}

// RetryingActivity is an activity of a sync that failed and is tried again.
type RetryingActivity struct {
	Activity string `json:"activity"`
	Attempt  int    `json:"attempt"`
	Error    string `json:"error"`
	// NextAttempt is when the next attempt is due (zero: running now).
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// StartOptions are the options a sync's workflow is started with: its fixed id, Tandem's
// task queue and the search attribute naming the sync. Starting a sync that already runs
// returns the running one (conflict policy "use existing"), so starting is idempotent.
func StartOptions(sync string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       WorkflowID(sync),
		TaskQueue:                TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(SyncKey.ValueSet(sync)),
	}
}

// SignalChange carries webhook events to a sync's workflow (sent with SignalWithStart by
// the ingress, so a sync that is not running yet starts).
const SignalChange = "change"

// ChangeSignal is the payload of SignalChange: the verified events of one webhook request,
// all from one side of the sync.
type ChangeSignal struct {
	Side   string        `json:"side"`
	Events []ChangeEvent `json:"events"`
}

// ChangeEvent says a record of a side changed. Webhook bodies may be partial, stale or out
// of order, so only the record's id is used: the record is read fresh before syncing.
type ChangeEvent struct {
	// ID is the sender's event id, used to drop redelivered events.
	ID       string `json:"id"`
	RecordID string `json:"record_id"`
	// Kind is created, updated or deleted, as the sender said.
	Kind string    `json:"kind,omitempty"`
	At   time.Time `json:"at,omitzero"`
}
