package connectors

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Settings are a connection's options from the sync definitions file, secrets already
// read from the environment.
type Settings map[string]string

// OnlyKnown returns an error naming the first setting (in sorted order) that known does
// not list, with the settings a connection of type typ accepts: a misspelt setting must
// stop start-up, not fall back to its default unseen.
func (s Settings) OnlyKnown(typ string, known map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if _, ok := known[k]; !ok {
			return fmt.Errorf("unknown setting %q (%s accepts %s)", k, typ, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
	return nil
}

// Factory opens a connection of one type.
type Factory func(name string, settings Settings) (Connector, error)

// Registry is the explicit list of connector types a worker knows. It is filled by
// whoever builds the worker (see connectors/builtin), never by init side effects.
type Registry struct {
	factories map[string]Factory
	webhooks  map[string]WebhookFactory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[string]Factory{}, webhooks: map[string]WebhookFactory{}}
}

// RegisterWebhooks adds the webhook verifier of a connector type; twice is an error.
func (r *Registry) RegisterWebhooks(typ string, f WebhookFactory) error {
	if typ == "" || f == nil {
		return fmt.Errorf("register webhooks: empty type or nil factory")
	}
	if _, dup := r.webhooks[typ]; dup {
		return fmt.Errorf("register webhooks: type %q registered twice", typ)
	}
	r.webhooks[typ] = f
	return nil
}

// Webhooks builds the webhook verifier of connection name of type typ.
func (r *Registry) Webhooks(name, typ string, settings Settings) (WebhookVerifier, error) {
	f, ok := r.webhooks[typ]
	if !ok {
		return nil, fmt.Errorf("connection %q: type %q does not receive webhooks", name, typ)
	}
	v, err := f(name, settings)
	if err != nil {
		return nil, fmt.Errorf("connection %q (%s) webhooks: %w", name, typ, err)
	}
	return v, nil
}

// Register adds a connector type; registering a type twice is an error.
func (r *Registry) Register(typ string, f Factory) error {
	if typ == "" || f == nil {
		return fmt.Errorf("register connector: empty type or nil factory")
	}
	if _, dup := r.factories[typ]; dup {
		return fmt.Errorf("register connector: type %q registered twice", typ)
	}
	r.factories[typ] = f
	return nil
}

// Types lists the registered types, sorted.
func (r *Registry) Types() []string {
	types := make([]string, 0, len(r.factories))
	for t := range r.factories {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// Has reports whether typ is registered.
func (r *Registry) Has(typ string) bool {
	_, ok := r.factories[typ]
	return ok
}

// Open opens connection name of type typ.
func (r *Registry) Open(name, typ string, settings Settings) (Connector, error) {
	f, ok := r.factories[typ]
	if !ok {
		return nil, fmt.Errorf("connection %q: unknown type %q (known: %v)", name, typ, r.Types())
	}
	c, err := f(name, settings)
	if err != nil {
		return nil, fmt.Errorf("connection %q (%s): %w", name, typ, err)
	}
	return c, nil
}

// Opener is the Factory of a connector type whose settings parse into a config that open
// opens: the shape every connection type's Factory has.
func Opener[C any, T Connector](parse func(Settings) (C, error), open func(C) (T, error)) Factory {
	return func(_ string, s Settings) (Connector, error) {
		cfg, err := parse(s)
		if err != nil {
			return nil, err
		}
		c, err := open(cfg)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return c, nil
	}
}
