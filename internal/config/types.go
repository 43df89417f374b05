// Package config loads sync definitions (syncs.yaml): connections and the syncs between
// them. Secrets are written as ${VAR} and read from the environment; every mistake is an
// error at load that names the file, the sync and the field.
package config

import "tandem/definition"

// The definition types, under the names the loader has always used.
type (
	Sync     = definition.Sync
	Side     = definition.End
	Field    = definition.Field
	Schedule = definition.Schedule
	Policy   = definition.Policy
	Mode     = definition.Mode
)

// Modes, directions and policies.
const (
	OneWay     = definition.OneWay
	TwoWay     = definition.TwoWay
	Both       = definition.Both
	AToB       = definition.AToB
	BToA       = definition.BToA
	NewestWins = definition.NewestWins
	AWins      = definition.AWins
	BWins      = definition.BWins
	FieldMerge = definition.FieldMerge
)

// Defaults applied at load.
const (
	DefaultEvery    = definition.DefaultEvery
	DefaultPageSize = definition.DefaultPageSize
	MaxPageSize     = definition.MaxPageSize
)

// File is a loaded sync definitions file.
type File struct {
	// Path the file was read from (empty when built in code).
	Path        string
	Connections map[string]Connection
	Syncs       []Sync
	// Secrets are the values read from the environment (${VAR}), to be scrubbed from
	// everything Tandem writes (package secret).
	Secrets []string
}

// Connection is one connection to a service.
type Connection struct {
	Name string
	Type string
	// Settings are the connection's other keys (token, base_url, ...), ${VAR}s expanded.
	Settings map[string]string
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
