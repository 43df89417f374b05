package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"tandem/connectors"
)

// Error types of the application errors activities return; workflows and users see them
// in failures and in `temporal workflow show`.
const (
	ErrTypeNotFound       = "NotFound"
	ErrTypeInvalidRecord  = "InvalidRecord"
	ErrTypeAuth           = "Auth"
	ErrTypeAmbiguousMatch = "AmbiguousMatch"
	ErrTypeRateLimited    = "RateLimited"
	ErrTypeConfig         = "Config"
)

// MetricRateLimited counts the times a service asked a connection to slow down.
const MetricRateLimited = "tandem_rate_limited"

// classifyFor is classify for a call to a connection: a rate limit is also counted in the
// connection's metrics.
func classifyFor(ctx context.Context, connection, what string, err error) error {
	var rl *connectors.RateLimitedError
	if errors.As(err, &rl) && activity.IsActivity(ctx) {
		activity.GetMetricsHandler(ctx).WithTags(map[string]string{"connection": connection}).Counter(MetricRateLimited).Inc(1)
	}
	return classify(what, err)
}

// classify is the one place where a connector's error becomes a Temporal error. What
// retrying cannot fix (a missing object, a rejected record, bad credentials, an
// ambiguous key) fails at once with a message that says what to do; a rate limit is
// retried after the wait the service asked for; anything else (network, 5xx) is retried
// with the activity's backoff.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := what + ": " + err.Error()
	var (
		inv  *connectors.InvalidRecordError
		auth *connectors.AuthError
		amb  *connectors.AmbiguousMatchError
		rl   *connectors.RateLimitedError
	)
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeNotFound, err)
	case errors.As(err, &inv):
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidRecord, err)
	case errors.As(err, &auth):
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeAuth, err)
	case errors.As(err, &amb):
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeAmbiguousMatch, err)
	case errors.As(err, &rl):
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeRateLimited, temporal.ApplicationErrorOptions{
			NextRetryDelay: rl.RetryAfter, // zero: the retry policy's backoff applies
			Cause:          err,
		})
	}
	return fmt.Errorf("%s: %w", what, err)
}

// nonRetryable marks a configuration mistake that no retry can fix.
func nonRetryable(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeConfig, nil)
}
