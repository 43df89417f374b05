package secret

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestScrubber(t *testing.T) {
	s := New([]string{
		"postgres://tandem:R3brk:x%zzPw@db:5432/tandem", // a ':' and a bad %-escape
		"host=db user=tandem password='s3cr et!' dbname=x",
		"pat-na1-0123456789abcdef",
		"on", // too short to be a secret
	})
	for _, tc := range []struct{ in, want string }{
		{`cannot parse "postgres://tandem:R3brk:x%zzPw@db:5432/tandem": invalid URL escape "%zz"`,
			`cannot parse "[redacted]": invalid URL escape "%zz"`},
		// pgx redacts after the last ':' of the password only
		{`cannot parse postgres://tandem:R3brk:xxxxx@db:5432/tandem`, `cannot parse postgres://tandem:[redacted]:xxxxx@db:5432/tandem`},
		{`auth with password s3cr et! failed`, `auth with password [redacted] failed`},
		{`401 for Bearer pat-na1-0123456789abcdef`, `401 for Bearer [redacted]`},
		{`feature is on`, `feature is on`},
	} {
		assert.Equal(t, tc.want, s.String(tc.in))
	}
	var none *Scrubber
	assert.Equal(t, "x", none.String("x"))
	assert.False(t, New(nil).Active())
}
