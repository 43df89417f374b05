package cli_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/memory"
	"tandem/internal/testenv"
	"tandem/workflows"
)

func TestStatusWatchPlainLines(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-", Latency: 60 * time.Millisecond})
	source.Seed("companies", 3000, memory.SampleCompany)
	def := testenv.Def("watched")
	def.PageSize = 100
	s := testenv.NewSync(t, def, source, target)
	s.Start()
	s.WaitFor("the backfill under way", time.Minute, func(st workflows.Status) bool {
		return st.Current != nil && st.Current.KnownOK && st.Current.Fetched > 0
	})

	out, err := run(t, "status", "--sync", "watched", "--watch", "--interval", "200ms", "--count", "4")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, "one plain line per refresh when the output is not a terminal:\n%s", out)
	progress := regexp.MustCompile(`^\d\d:\d\d:\d\d watched: run #1 side a \[[#.]{30}\] +\d+% (\d+)/3000 records, \d+ records/s, \S+ left$`)
	last := -1
	for _, l := range lines {
		assert.NotContains(t, l, "\x1b", "no terminal escapes in plain output")
		m := progress.FindStringSubmatch(l)
		if m == nil {
			// The backfill may finish during the watch.
			assert.Regexp(t, `^\d\d:\d\d:\d\d watched: idle, next run in \S+; last run #1: fetched 3000, created 3000`, l)
			continue
		}
		done := atoi(t, m[1])
		assert.GreaterOrEqual(t, done, last, "progress never goes back")
		last = done
	}
	assert.GreaterOrEqual(t, last, 0, "at least one progress line:\n%s", out)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
