package ingress

import (
	"time"

	"go.temporal.io/sdk/client"
)

// Unavailable is unavailable, for the tests of package ingress_test.
var Unavailable = unavailable

// NewTemporalSignalerAt is NewTemporalSignaler with a clock of the test's.
func NewTemporalSignalerAt(c client.Client, namespace string, now func() time.Time) Signaler {
	t := NewTemporalSignaler(c, namespace).(*temporalSignaler)
	t.now = now
	return t
}
