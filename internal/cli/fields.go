package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/internal/config"
)

// fieldsTimeout bounds one describe: a request or two to the service.
const fieldsTimeout = time.Minute

// fieldsCommand is `starter fields`: the fields an object of a connection has, as its
// service describes them (connectors.Describer). It opens the connection from --config
// itself, as a worker would, so the file's ${VAR}s must be set; Temporal is not needed.
func fieldsCommand(s *starter, out io.Writer) *cobra.Command {
	var connection, object string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fields",
		Short: "List the fields an object of a connection has: type, whether a sync may write it, whether its values are unique",
		Long: `List the fields of --object on --connection, as the service describes them
(HubSpot's properties API, Salesforce's describe, NetSuite's metadata catalog, the
table's columns, ...): the names a sync's field mapping may use. The connection is
opened from --config as a worker opens it, so its ${VAR}s must be set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, cancel := context.WithTimeout(ctx, fieldsTimeout)
			defer cancel()
			fields, err := s.describe(ctx, connection, object)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(out, fields)
			}
			return writeFields(out, fields)
		},
	}
	cmd.Flags().StringVar(&connection, "connection", "", "name of a connection of --config")
	cmd.Flags().StringVar(&object, "object", "", "object of the connection (companies, Account, customer, a table, ...)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the fields as JSON")
	_ = cmd.MarkFlagRequired("connection")
	_ = cmd.MarkFlagRequired("object")
	return cmd
}

// describe opens connection of --config and describes object with it.
func (s *starter) describe(ctx context.Context, connection, object string) ([]connectors.Field, error) {
	if s.configPath == "" {
		return nil, errors.New("--config: required (the definitions file whose connection to open)")
	}
	reg := builtin.Registry()
	// Load, not loadConfig: the connection needs its secrets.
	f, err := config.Load(s.configPath, reg.Types())
	if err != nil {
		return nil, err
	}
	conn, ok := f.Connections[connection]
	if !ok {
		names := slices.Sorted(maps.Keys(f.Connections))
		return nil, fmt.Errorf("unknown connection %q: %s defines %s%s", connection, s.configPath,
			strings.Join(names, ", "), didYouMean(connection, names))
	}
	c, err := reg.Open(connection, conn.Type, conn.Settings)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.configPath, err)
	}
	defer closeConnector(c)
	d, ok := c.(connectors.Describer)
	if !ok {
		return nil, fmt.Errorf("connection %q (type %s) cannot list fields: its connector does not describe objects", connection, conn.Type)
	}
	fields, err := d.Describe(ctx, object)
	var nf *connectors.NotFoundError
	switch {
	case errors.As(err, &nf):
		return nil, fmt.Errorf("connection %q has no object %q: %w", connection, object, err)
	case err != nil:
		return nil, fmt.Errorf("fields of %s %q: %w", connection, object, err)
	}
	return fields, nil
}

// closeConnector lets go of what a connector holds (a database handle, idle connections).
func closeConnector(c connectors.Connector) {
	switch x := c.(type) {
	case interface{ Close() error }:
		_ = x.Close()
	case interface{ Close() }:
		x.Close()
	case interface{ CloseIdleConnections() }:
		x.CloseIdleConnections()
	}
}

// writeFields prints fields as a table: name, type, writable, unique, label.
func writeFields(w io.Writer, fields []connectors.Field) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tWRITABLE\tUNIQUE\tLABEL")
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	for _, f := range fields {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, f.Type, yes(f.Writable), yes(f.Unique), f.Label)
	}
	return tw.Flush()
}
