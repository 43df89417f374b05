package salesloft_test

import (
	"context"
	"testing"
	"time"

	"tandem/connectors"
	"tandem/connectors/salesloft"
	"tandem/connectors/salesloft/salesloftfake"
)

// BenchmarkChangesBackfill reads 10,000 accounts from the fake, 100 per page, within
// Salesloft's default budget.
func BenchmarkChangesBackfill(b *testing.B) {
	const n = 10000
	c, fake, _ := open(b, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited, Now: stepClock(time.Millisecond)}, salesloft.Options{})
	for i := range n {
		fake.Seed(sampleAccount(i))
	}
	b.ResetTimer()
	for b.Loop() {
		fake.ResetStats()
		read, cursor := 0, connectors.Cursor{}
		for {
			page, err := c.Changes(context.Background(), accounts, cursor, 100)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range page.Records {
				cursor = connectors.CursorOf(r)
			}
			read += len(page.Records)
			if !page.More {
				break
			}
		}
		if read != n {
			b.Fatalf("read %d of %d", read, n)
		}
	}
	b.ReportMetric(float64(fake.Stats().Requests["GET /v2/accounts"])/n, "requests/record")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
