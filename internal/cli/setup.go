package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"tandem/internal/app"
)

// setupCommand is `starter setup`: registers Tandem's search attributes on the namespace
// of a cluster (the dev server does it itself). Safe to run again.
func setupCommand(s *starter, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "setup",
		Short: "Register Tandem's search attributes (TandemSync) on the namespace; safe to run again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			namespace := app.DefaultNamespace
			if opts, err := app.ClientOptions(nil); err == nil {
				namespace = opts.Namespace
			}
			return s.withClient(cmd.Context(), func(ctx context.Context, c client.Client) error {
				if err := app.Setup(ctx, c, namespace); err != nil {
					return err
				}
				for _, name := range slices.Sorted(maps.Keys(app.SearchAttributes)) {
					fmt.Fprintf(out, "search attribute %s (%s) is registered on namespace %s\n", name, app.SearchAttributes[name], namespace)
				}
				return nil
			})
		},
	}
}
