package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// explain's UI link follows the frontend's address (issue 14, finding 10: a non-default
// --port left it pointing at 8233).
func TestUIForFollowsTheFrontend(t *testing.T) {
	assert.Equal(t, "http://127.0.0.1:8233", uiFor("127.0.0.1:7233"))
	assert.Equal(t, "http://127.0.0.1:8300", uiFor("127.0.0.1:7300"))
	assert.Equal(t, "http://temporal.internal:8233", uiFor("temporal.internal:7233"))
	assert.Equal(t, "http://127.0.0.1:8233", uiFor("no port"))
}
