package ingress_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/mocks"

	"tandem/internal/ingress"
	"tandem/workflows"
)

// The Temporal signaler starts the sync's workflow if needed (SignalWithStart, with the
// sync's usual start options) and hands it the change signal.
func TestTemporalSignaler(t *testing.T) {
	c := mocks.NewClient(t)
	sig := workflows.ChangeSignal{Side: "b", Events: []workflows.ChangeEvent{{ID: "msg_1", RecordID: "r1", Kind: "updated"}}}
	isSyncWorkflow := mock.MatchedBy(func(fn any) bool {
		return reflect.ValueOf(fn).Pointer() == reflect.ValueOf(workflows.SyncWorkflow).Pointer()
	})
	c.On("SignalWithStartWorkflow", mock.Anything, "tandem/sync/companies", workflows.SignalChange, sig,
		workflows.StartOptions("companies"), isSyncWorkflow, workflows.SyncInput{Sync: "companies"}).
		Return(nil, nil).Once()
	require.NoError(t, ingress.NewTemporalSignaler(c).SignalChange(context.Background(), "companies", sig))

	down := serviceerror.NewUnavailable("connection refused")
	c.On("SignalWithStartWorkflow", mock.Anything, "tandem/sync/other", workflows.SignalChange, sig,
		workflows.StartOptions("other"), isSyncWorkflow, workflows.SyncInput{Sync: "other"}).
		Return(nil, down).Once()
	err := ingress.NewTemporalSignaler(c).SignalChange(context.Background(), "other", sig)
	assert.ErrorIs(t, err, down)
	assert.EqualError(t, err, `signal change to sync "other": connection refused`)
}
