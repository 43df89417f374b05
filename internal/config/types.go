// Package config loads sync definitions (syncs.yaml): connections and the syncs between
// them. Secrets are written as ${VAR} and read from the environment; every mistake is an
// error at load that names the file, the sync and the field.
package config

import "time"

// Mode of a sync.
const (
	OneWay = "one-way" // a -> b
	TwoWay = "two-way"
)

// Field directions (two-way syncs only).
const (
	Both = "both"
	AToB = "a-to-b"
	BToA = "b-to-a"
)

// Conflict policies (two-way syncs only).
const (
	NewestWins = "newest-wins"
	AWins      = "a-wins"
	BWins      = "b-wins"
)

// Defaults applied at load.
const (
	DefaultEvery    = 15 * time.Minute
	DefaultPageSize = 500
	MaxPageSize     = 5000
)

// File is a loaded sync definitions file.
type File struct {
	// Path the file was read from (empty when built in code).
	Path        string
	Connections map[string]Connection
	Syncs       []Sync
}

// Connection is one connection to a service.
type Connection struct {
	Name string
	Type string
	// Settings are the connection's other keys (token, base_url, ...), ${VAR}s expanded.
	Settings map[string]string
}

// Sync is one sync definition.
type Sync struct {
	Name     string
	Mode     string // OneWay or TwoWay
	A        Side
	B        Side
	Fields   []Field
	Conflict string
	Schedule Schedule
	Webhooks bool
	// PageSize is how many records one page of changes holds.
	PageSize int
}

// Side is one end of a sync.
type Side struct {
	Connection string
	Object     string
	// Key is the field that identifies the record across both services (on the source
	// of a one-way sync, "id" may name the record's own id).
	Key string
}

// Field maps one field of A to one field of B.
type Field struct {
	A         string
	B         string
	Normalize []string // normalizer names, applied in order
	Direction string   // Both, AToB or BToA
}

// Schedule says when a sync pulls changes.
type Schedule struct {
	Every time.Duration
	// StartFrom backdates the first run: changes since this time are read.
	StartFrom time.Time
}

// Sync returns the sync named name.
func (f *File) Sync(name string) (*Sync, bool) {
	for i := range f.Syncs {
		if f.Syncs[i].Name == name {
			return &f.Syncs[i], true
		}
	}
	return nil, false
}

// SyncNames lists the syncs in file order.
func (f *File) SyncNames() []string {
	names := make([]string, len(f.Syncs))
	for i, s := range f.Syncs {
		names[i] = s.Name
	}
	return names
}
