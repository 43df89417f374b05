package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"tandem/connectors"
	"tandem/definition"
)

// CheckMappingInput names the sync whose mapping CheckMapping checks.
type CheckMappingInput struct {
	Ref Ref
}

// MappingCheck is what CheckMapping found: one line per problem, each naming the
// connection, object and field ("hubspot.companies.vat_id missing"); empty when the
// mapping holds.
type MappingCheck struct {
	Problems []string `json:"problems,omitempty"`
}

// CheckMapping checks a sync's mapping against the fields each side's service says its
// object has (connectors.Describer), before a run reads anything: a mapped field the
// object does not have is read as empty and written as empty, so a run must not start
// with one. Sides whose connector cannot describe its objects, or keeps no schema, are
// not checked.
func (a *Activities) CheckMapping(ctx context.Context, in CheckMappingInput) (MappingCheck, error) {
	defer keepAlive(ctx)()
	s, err := a.sync(in.Ref)
	if err != nil {
		return MappingCheck{}, err
	}
	var out MappingCheck
	for _, side := range []string{SideA, SideB} {
		_, sd, c, err := a.side(in.Ref, side)
		if err != nil {
			return MappingCheck{}, err
		}
		problems, err := DescribeAndCheck(ctx, s, definition.Side(side), sd, c)
		if err != nil {
			return MappingCheck{}, classifyFor(ctx, sd.Connection, fmt.Sprintf("describe %s %s", sd.Connection, sd.Object), err)
		}
		out.Problems = append(out.Problems, problems...)
	}
	return out, nil
}

// DescribeAndCheck describes side's object through c and checks the sync's mapping of
// that side against it (CheckFields). A connector that cannot describe its objects, or
// keeps no schema, gives no problems.
func DescribeAndCheck(ctx context.Context, s *definition.Sync, side definition.Side, end *definition.End, c connectors.Connector) ([]string, error) {
	d, ok := c.(connectors.Describer)
	if !ok || c.Info().Schemaless {
		return nil, nil
	}
	fields, err := d.Describe(ctx, end.Object)
	if errors.Is(err, connectors.ErrNotFound) {
		return []string{fmt.Sprintf("%s.%s missing (the service has no such object)", end.Connection, end.Object)}, nil
	}
	if errors.Is(err, errors.ErrUnsupported) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return CheckFields(s, side, fields), nil
}

// CheckFields checks the fields of a sync's side against the fields its object has: the
// key and every mapped field must exist, and a field the sync writes to this side must be
// writable. Names match without regard to case (Salesforce's and NetSuite's are
// case-insensitive); the key "id" names the record's own id where the object has no such
// field. Problems read "<connection>.<object>.<field> missing" or "... not writable".
func CheckFields(s *definition.Sync, side definition.Side, fields []connectors.Field) []string {
	end := s.End(side)
	byName := make(map[string]connectors.Field, len(fields))
	for _, f := range fields {
		byName[strings.ToLower(f.Name)] = f
	}
	var problems []string
	problem := func(p string) {
		if !slices.Contains(problems, p) { // a key that is also mapped is checked twice
			problems = append(problems, p)
		}
	}
	check := func(name string, written bool) {
		if name == "" {
			return
		}
		f, ok := byName[strings.ToLower(name)]
		where := end.Connection + "." + end.Object + "." + name
		switch {
		case !ok && strings.EqualFold(name, "id"):
			// The record's own id (connectors.Record.Value).
		case !ok:
			problem(where + " missing")
		case written && !f.Writable:
			problem(where + " not writable")
		}
	}
	// The key is written with every create on a side the sync writes to.
	keyWritten := s.Mode == definition.TwoWay || side == definition.B
	check(end.Key, keyWritten && !strings.EqualFold(end.Key, "id"))
	for _, f := range s.Fields {
		written := (s.Mode == definition.TwoWay || side == definition.B) && f.Direction.Flows(side)
		check(f.Name(side), written)
	}
	return problems
}
