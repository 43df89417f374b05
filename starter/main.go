// Command starter starts and drives Tandem syncs: start, status, pause, resume, sync-now,
// resync. It reaches Temporal at TEMPORAL_ADDRESS (default 127.0.0.1:7233).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"tandem/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Starter(os.Stdout, nil).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}
