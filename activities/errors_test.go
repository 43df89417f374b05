package activities

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"tandem/connectors"
)

func TestClassifyConnectorErrors(t *testing.T) {
	const what = "update 3 records in erp accounts"
	for _, tc := range []struct {
		name         string
		err          error
		wantType     string
		nonRetryable bool
		retryAfter   time.Duration
		reason       string // the service's words that the message must keep
	}{
		{
			name:         "not found",
			err:          &connectors.NotFoundError{What: "object accounts"},
			wantType:     ErrTypeNotFound,
			nonRetryable: true,
			reason:       "object accounts: not found",
		},
		{
			name:         "bare ErrNotFound",
			err:          connectors.ErrNotFound,
			wantType:     ErrTypeNotFound,
			nonRetryable: true,
			reason:       "not found",
		},
		{
			name:         "invalid record",
			err:          &connectors.InvalidRecordError{Record: "acme.com", Field: "website", Reason: "is not a valid URL"},
			wantType:     ErrTypeInvalidRecord,
			nonRetryable: true,
			reason:       "is not a valid URL",
		},
		{
			name:         "auth",
			err:          &connectors.AuthError{Reason: "token expired"},
			wantType:     ErrTypeAuth,
			nonRetryable: true,
			reason:       "token expired",
		},
		{
			name:         "ambiguous match",
			err:          &connectors.AmbiguousMatchError{Field: "website", Value: "acme.com", IDs: []string{"erp-1", "erp-2"}},
			wantType:     ErrTypeAmbiguousMatch,
			nonRetryable: true,
			reason:       "erp-1, erp-2",
		},
		{
			name:       "rate limited with retry-after",
			err:        &connectors.RateLimitedError{RetryAfter: 42 * time.Second, Reason: "100 calls per 10s"},
			wantType:   ErrTypeRateLimited,
			retryAfter: 42 * time.Second,
			reason:     "100 calls per 10s",
		},
		{
			name:     "rate limited without retry-after",
			err:      &connectors.RateLimitedError{Reason: "slow down"},
			wantType: ErrTypeRateLimited,
			reason:   "slow down",
		},
		{
			name:         "auth wrapped by the connector",
			err:          fmt.Errorf("hubspot PATCH /companies: %w", &connectors.AuthError{Reason: "scope missing"}),
			wantType:     ErrTypeAuth,
			nonRetryable: true,
			reason:       "scope missing",
		},
		{
			name:       "rate limit wrapped by the connector",
			err:        fmt.Errorf("netsuite: %w", &connectors.RateLimitedError{RetryAfter: time.Minute}),
			wantType:   ErrTypeRateLimited,
			retryAfter: time.Minute,
			reason:     "retry after 1m0s",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(what, tc.err)

			appErr := appError(t, got)
			assert.Equal(t, tc.wantType, appErr.Type())
			assert.Equal(t, tc.nonRetryable, appErr.NonRetryable())
			assert.Equal(t, tc.retryAfter, appErr.NextRetryDelay())
			assert.Contains(t, appErr.Message(), what)
			assert.Contains(t, appErr.Message(), tc.reason)
			assert.ErrorIs(t, got, tc.err, "the connector's error stays reachable as the cause")
		})
	}
}

func TestClassifyKeepsOtherErrorsRetryable(t *testing.T) {
	const what = "fetch changes of crm companies"
	transport := errors.New("dial tcp 10.0.0.7:443: connection reset by peer")
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"transport error", transport},
		{"wrapped transport error", fmt.Errorf("GET /v3/companies: %w", transport)},
		{"HTTP 503", errors.New("503 Service Unavailable")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(what, tc.err)

			require.Error(t, got)
			var appErr *temporal.ApplicationError
			if errors.As(got, &appErr) {
				assert.False(t, appErr.NonRetryable(), "a transient error must be retried: %v", got)
			}
			assert.ErrorIs(t, got, tc.err)
			assert.Contains(t, got.Error(), what)
			assert.Contains(t, got.Error(), tc.err.Error())
		})
	}
}

func TestClassifyPreservesContextErrors(t *testing.T) {
	got := classify("get 2 records of crm companies", fmt.Errorf("memory Get: %w", context.Canceled))
	assert.ErrorIs(t, got, context.Canceled, "a canceled activity must stay recognisable as canceled")

	got = classify("get 2 records of crm companies", context.DeadlineExceeded)
	assert.ErrorIs(t, got, context.DeadlineExceeded)
}

func TestClassifyNil(t *testing.T) {
	assert.NoError(t, classify("anything", nil))
}
