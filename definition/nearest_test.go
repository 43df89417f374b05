package definition

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNearest(t *testing.T) {
	names := []string{"companies", "people", "deals"}
	assert.Equal(t, "companies", Nearest("compnies", names))
	assert.Equal(t, "people", Nearest("peopel", names))
	assert.Equal(t, "deals", Nearest("Deals", names))
	assert.Equal(t, "", Nearest("invoices", names), "nothing close")
	assert.Equal(t, "", Nearest("people", names), "the name itself is not a suggestion")
	assert.Equal(t, "", Nearest("x", nil))
}
