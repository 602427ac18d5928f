package main

import (
	"context"
	"io"
)

// runClient runs the client verbs (login, models, services).
func runClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usageError("client verbs are not built yet")
}
