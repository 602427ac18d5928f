package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/arkserve/arkserve/internal/postgres/pgtest"
)

// TestRetry: a transaction that fails with a serialization failure or deadlock is tried again, at
// most MaxAttempts times; any other error ends it at once.
func TestRetry(t *testing.T) {
	db, err := Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other := errors.New("not retryable")
	for _, c := range []struct {
		name      string
		failures  int // attempts that fail before one succeeds
		err       error
		wantCalls int
		wantErr   bool
	}{
		{"serialization failure, then success", 2, &pgconn.PgError{Code: "40001"}, 3, false},
		{"deadlock, then success", 1, &pgconn.PgError{Code: "40P01"}, 2, false},
		{"serialization failure every time", 1 << 30, &pgconn.PgError{Code: "40001"}, MaxAttempts, true},
		{"unique violation", 1 << 30, &pgconn.PgError{Code: "23505"}, 1, true},
		{"other error", 1 << 30, other, 1, true},
	} {
		calls := 0
		err := db.write(context.Background(), func(tx pgx.Tx) error {
			calls++
			if calls <= c.failures {
				return c.err
			}
			return nil
		})
		if calls != c.wantCalls || (err != nil) != c.wantErr {
			t.Errorf("%s: %d calls, err %v; want %d calls, error %v", c.name, calls, err, c.wantCalls, c.wantErr)
		}
	}
}
