package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"tandem/internal/replay"
)

// replayCommand is `starter replay`: a history from a file or from the server, replayed
// against this build's workflow code.
func replayCommand(s *starter, out io.Writer) *cobra.Command {
	var file, workflowID, runID string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay a sync's workflow history against this build's code and report any non-determinism",
		Long: `Replay a workflow history against the workflow code of this build. Take the history
from a file written by ` + "`temporal workflow show -w ID -o json`" + ` (--file), or from the
server (--workflow-id, with --run-id for another run than the latest). Exits non-zero when
the history does not replay.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var quiet log.Logger // discards the replayer's own logs
			var replayErr error
			switch {
			case file != "" && workflowID != "":
				return errors.New("give --file or --workflow-id, not both")
			case file != "":
				replayErr = replay.File(file, quiet)
			case workflowID != "":
				err := s.withClient(cmd.Context(), func(ctx context.Context, c client.Client) error {
					h, err := replay.Fetch(ctx, c, workflowID, runID)
					if err != nil {
						return err
					}
					replayErr = replay.History(h, quiet)
					return nil
				})
				if err != nil {
					return err
				}
			default:
				return replay.ErrNoHistory
			}
			if errors.Is(replayErr, replay.ErrNothingDecided) {
				// A run that has only just started (continued as new a moment ago, say).
				hint := ""
				if workflowID != "" && runID == "" {
					hint = "; give --run-id for an earlier run"
				}
				fmt.Fprintln(out, replayErr.Error()+hint)
				return nil
			}
			if replayErr != nil {
				return errors.New(replay.Describe(replayErr))
			}
			fmt.Fprintln(out, replay.Describe(nil))
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "history JSON file (temporal workflow show -w ID -o json)")
	cmd.Flags().StringVar(&workflowID, "workflow-id", "", "workflow id to fetch the history of, e.g. tandem/sync/companies")
	cmd.Flags().StringVar(&runID, "run-id", "", "run of --workflow-id (default: the latest)")
	return cmd
}
