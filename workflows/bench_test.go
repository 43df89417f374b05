package workflows_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tandem/connectors/memory"
	"tandem/internal/testenv"
)

// BenchmarkBackfill runs a one-way memory-to-memory backfill of 10,000 records through
// the embedded Temporal server and reports records per second and history events per
// record and history bytes per record (every execution of the sync's continue-as-new
// chain counted).
//
//	go test ./workflows -run '^$' -bench Backfill -benchtime 3x
func BenchmarkBackfill(b *testing.B) {
	const records = 10_000
	var elapsed time.Duration
	events, bytes := 0, 0
	for i := 0; b.Loop(); i++ {
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		source.Seed("companies", records, memory.SampleCompany)
		s := testenv.NewSync(b, testenv.Def(fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)), source, target)
		start := time.Now()
		s.Start()
		s.WaitRuns(1, 5*time.Minute)
		elapsed += time.Since(start)
		if target.Len("companies") != records {
			b.Fatalf("target has %d records, want %d; status %+v", target.Len("companies"), records, s.Status())
		}
		n, size, err := s.HistoryEvents(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		events += n
		bytes += size
		s.Close()
	}
	b.ReportMetric(float64(records*b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(events)/float64(records*b.N), "events/record")
	b.ReportMetric(float64(bytes)/float64(records*b.N), "history-bytes/record")
}
