package salesloft_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesloft"
	"tandem/connectors/salesloft/salesloftfake"
)

func TestCreateRejectsOneRecordAndWritesTheRest(t *testing.T) {
	c, fake, _ := open(t, salesloftfake.Options{}, salesloft.Options{})
	taken := sampleAccount(9)
	fake.Seed(taken)

	batch := []connectors.Record{
		{Fields: sampleAccount(0)},
		{Fields: map[string]any{"name": "Spacey", "domain": "space y.example.com"}},
		{Fields: sampleAccount(1)},
		{Fields: map[string]any{"name": "Copycat", "domain": taken["domain"]}},
	}
	res, err := c.Create(context.Background(), accounts, batch)
	require.NoError(t, err, "rejected records do not fail the call")
	require.Len(t, res, 4)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[2].Err)

	for i, want := range map[int]string{1: "domain is invalid", 3: "domain has already been taken"} {
		var inv *connectors.InvalidRecordError
		require.ErrorAs(t, res[i].Err, &inv, "record %d", i)
		assert.Equal(t, "domain", inv.Field)
		assert.Equal(t, want, inv.Reason)
	}
	assert.Equal(t, 3, fake.Len(), "the seeded account and the two valid ones")
	assert.Equal(t, 2, fake.Stats().Writes)
}

func TestUnauthorizedIsAuthError(t *testing.T) {
	c, _, _ := open(t, salesloftfake.Options{}, salesloft.Options{Token: "wrong-token"})
	_, err := c.Changes(context.Background(), accounts, connectors.Cursor{}, 10)
	var auth *connectors.AuthError
	require.ErrorAs(t, err, &auth)
	assert.Contains(t, err.Error(), "GET /v2/accounts: 401")
}

func TestServerErrorIsPlainAndTheNextCallSucceeds(t *testing.T) {
	c, fake, _ := open(t, salesloftfake.Options{}, salesloft.Options{})
	id := fake.Seed(sampleAccount(0))
	fake.FailNext(1, http.StatusServiceUnavailable)

	_, err := c.Get(context.Background(), accounts, []string{id})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /v2/accounts: 503")
	assert.Contains(t, err.Error(), "injected failure", "Salesloft's own words")
	var (
		rl   *connectors.RateLimitedError
		auth *connectors.AuthError
		inv  *connectors.InvalidRecordError
	)
	assert.False(t, errors.As(err, &rl) || errors.As(err, &auth) || errors.As(err, &inv) || errors.Is(err, connectors.ErrNotFound),
		"a 5xx is a plain error the caller retries, got %T", err)

	got, err := c.Get(context.Background(), accounts, []string{id})
	require.NoError(t, err)
	assert.Len(t, got, 1)
}

// A small budget over a short window, on both sides, so the tests run in seconds.
const (
	testBudget = 3
	testWindow = 2 * time.Second
)

func TestRateLimitedWaitsForRetryAfter(t *testing.T) {
	opts := salesloft.Options{CostPerMinute: testBudget, BudgetWindow: testWindow}
	a, fake, url := open(t, salesloftfake.Options{CostPerMinute: testBudget, Window: testWindow}, opts)
	id := fake.Seed(sampleAccount(0))
	ctx := context.Background()

	// Another integration of the team spends the budget; this connector cannot know.
	for range testBudget {
		_, err := a.Get(ctx, accounts, []string{id})
		require.NoError(t, err)
	}
	b := another(t, url, opts)
	_, err := b.Get(ctx, accounts, []string{id})
	var rl *connectors.RateLimitedError
	require.ErrorAs(t, err, &rl)
	require.Positive(t, rl.RetryAfter, "Retry-After is passed on")

	got, err := b.Get(ctx, accounts, []string{id})
	require.NoError(t, err, "the call after a 429 waits for Retry-After, then goes through")
	assert.Len(t, got, 1)

	log := fake.Requests()
	i := indexOfStatus(log, http.StatusTooManyRequests)
	require.GreaterOrEqual(t, i, 0, "a 429 in the log")
	require.Greater(t, len(log), i+1, "a request after the 429")
	for _, r := range log[i+1:] {
		assert.False(t, r.At.Before(log[i].At.Add(rl.RetryAfter)),
			"request at %s came before the 429's Retry-After (%s after %s) expired", r.At, rl.RetryAfter, log[i].At)
	}
	assert.Equal(t, 1, fake.Stats().RateLimited)
}

func TestRateLimitedWithoutRetryAfterWaitsTheResetSetting(t *testing.T) {
	opts := salesloft.Options{CostPerMinute: testBudget, BudgetWindow: testWindow, RateLimitReset: time.Second}
	a, fake, url := open(t, salesloftfake.Options{CostPerMinute: testBudget, Window: testWindow, OmitRetryAfter: true}, opts)
	id := fake.Seed(sampleAccount(0))
	ctx := context.Background()
	for range testBudget {
		_, err := a.Get(ctx, accounts, []string{id})
		require.NoError(t, err)
	}
	b := another(t, url, opts)
	_, err := b.Get(ctx, accounts, []string{id})
	var rl *connectors.RateLimitedError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, time.Second, rl.RetryAfter, "the rate_limit_reset setting")

	// The next call waits out the reset, then waits for the budget as the header said.
	_, err = b.Get(ctx, accounts, []string{id})
	require.NoError(t, err)
	log := fake.Requests()
	i := indexOfStatus(log, http.StatusTooManyRequests)
	require.GreaterOrEqual(t, i, 0)
	for _, r := range log[i+1:] {
		assert.False(t, r.At.Before(log[i].At.Add(time.Second)), "request at %s before the reset wait", r.At)
	}
}

func TestBudgetIsRespectedBeforeItIsExceeded(t *testing.T) {
	opts := salesloft.Options{CostPerMinute: testBudget, BudgetWindow: time.Second}
	c, fake, _ := open(t, salesloftfake.Options{CostPerMinute: testBudget, Window: time.Second}, opts)
	id := fake.Seed(sampleAccount(0))
	for range 3 * testBudget {
		_, err := c.Get(context.Background(), accounts, []string{id})
		require.NoError(t, err)
	}
	assert.Zero(t, fake.Stats().RateLimited, "the connector waited for its budget instead of being refused")
}

func TestBudgetSharedWithOthersIsReadFromHeaders(t *testing.T) {
	opts := salesloft.Options{CostPerMinute: testBudget, BudgetWindow: time.Second}
	c, fake, url := open(t, salesloftfake.Options{CostPerMinute: testBudget, Window: time.Second}, opts)
	id := fake.Seed(sampleAccount(0))
	ctx := context.Background()
	for range testBudget - 1 { // another integration spends most of the budget
		_, err := c.Get(ctx, accounts, []string{id})
		require.NoError(t, err)
	}
	// A fresh connector's first request takes the last unit; x-ratelimit-remaining-minute
	// then says 0, so its next requests wait instead of being refused.
	other := another(t, url, opts)
	for range testBudget + 1 {
		_, err := other.Get(ctx, accounts, []string{id})
		require.NoError(t, err)
	}
	assert.Zero(t, fake.Stats().RateLimited, "no request was refused")
}

func TestBudgetWaitHonoursContext(t *testing.T) {
	opts := salesloft.Options{CostPerMinute: 1, BudgetWindow: time.Hour}
	c, fake, _ := open(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited}, opts)
	id := fake.Seed(sampleAccount(0))
	_, err := c.Get(context.Background(), accounts, []string{id})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Get(ctx, accounts, []string{id})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "rate budget")
	assert.Equal(t, 1, fake.Stats().Requests["GET /v2/accounts"], "the second request was never sent")
}

func indexOfStatus(log []salesloftfake.Request, status int) int {
	for i, r := range log {
		if r.Status == status {
			return i
		}
	}
	return -1
}
