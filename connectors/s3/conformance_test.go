package s3_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/s3"
)

// TestConformance runs the conformance suite's cases for a write-only destination against
// the connector on gofakes3: a full batch, a cancelled context, reads refused, Describe
// (none), and no goroutine left behind; what was written is read back from the bucket.
func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Driver{
		New: func(t *testing.T) connectors.Connector {
			return open(t, startFake(t))
		},
		Object:   "accounts",
		KeyField: "Id",
		NewFields: func(i int) map[string]any {
			return map[string]any{"Id": fmt.Sprintf("001%06d", i), "Name": fmt.Sprintf("Account %d", i), "Employees": float64(i)}
		},
		Mutate: func(f map[string]any) map[string]any {
			out := map[string]any{}
			for k, v := range f {
				out[k] = v
			}
			out["Name"] = fmt.Sprint(f["Name"], " (renamed)")
			return out
		},
		ReadBack: func(t *testing.T, c connectors.Connector) []map[string]any {
			conn := c.(*s3.Connector)
			keys, err := conn.List(t.Context(), "")
			require.NoError(t, err)
			var out []map[string]any
			for _, k := range keys {
				lines, err := conn.Read(t.Context(), k)
				require.NoError(t, err)
				out = append(out, lines...)
			}
			return out
		},
	})
}
