package main

import (
	"context"
	"io"
)

// runAdmin runs the admin commands on a data dir.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usageError("admin commands are not built yet")
}
