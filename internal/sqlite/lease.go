package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// AcquireLease takes the service's lease for holder until ttl from now when it is free, expired or
// already holder's, and returns it with a new fence. ok is false when another holder's lease has not
// expired, or when the service does not exist.
func (db *DB) AcquireLease(ctx context.Context, serviceID, holder string, ttl time.Duration) (ark.Lease, bool, error) {
	var fence int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		now := db.nowMs()
		return tx.QueryRowContext(ctx, `INSERT INTO service_leases (service_id, holder, fence, expires_at)
			SELECT id, ?2, 1, ?3 FROM services WHERE id = ?1
			ON CONFLICT (service_id) DO UPDATE SET holder = excluded.holder, fence = service_leases.fence + 1,
				expires_at = excluded.expires_at
			WHERE service_leases.holder = excluded.holder OR service_leases.expires_at <= ?4
			RETURNING fence`, serviceID, holder, now+ttl.Milliseconds(), now).Scan(&fence)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return ark.Lease{}, false, nil
	}
	if err != nil {
		return ark.Lease{}, false, err
	}
	return ark.Lease{ServiceID: serviceID, Holder: holder, Fence: fence}, true, nil
}

// RenewLeases extends every unexpired lease holder holds to ttl from now and returns them; a lease
// another holder took over, or one that expired or was released, is not among them.
func (db *DB) RenewLeases(ctx context.Context, holder string, ttl time.Duration) ([]ark.Lease, error) {
	var out []ark.Lease
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		now := db.nowMs()
		out, err = queryAll(ctx, tx, func(sc rowcodec.Scanner) (ark.Lease, error) {
			l := ark.Lease{Holder: holder}
			return l, sc.Scan(&l.ServiceID, &l.Fence)
		}, `UPDATE service_leases SET expires_at = ? WHERE holder = ? AND expires_at > ? RETURNING service_id, fence`,
			now+ttl.Milliseconds(), holder, now)
		return err
	})
	return out, err
}

// ReleaseLease gives a lease up (it expires now); a lease that is no longer l is left alone.
func (db *DB) ReleaseLease(ctx context.Context, l ark.Lease) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE service_leases SET expires_at = 0 WHERE service_id = ? AND holder = ? AND fence = ?`,
			l.ServiceID, l.Holder, l.Fence)
		return err
	})
}

// checkLease returns ark.ErrLeaseLost unless l is still the service's lease. SQLite has one writer
// at a time, so nothing changes the lease between this check and the write in the same tx.
func checkLease(ctx context.Context, tx *sql.Tx, l ark.Lease) error {
	var holder string
	var fence int64
	err := tx.QueryRowContext(ctx, `SELECT holder, fence FROM service_leases WHERE service_id = ?`, l.ServiceID).Scan(&holder, &fence)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (holder != l.Holder || fence != l.Fence)) {
		return ark.ErrLeaseLost
	}
	return err
}

// RegisterReplica records the URL replica id is reached at.
func (db *DB) RegisterReplica(ctx context.Context, id, url string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO replicas (id, url, started_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET url = excluded.url, started_at = excluded.started_at`, id, url, db.nowMs())
		return err
	})
}

// ServiceOwner returns the holder of the service's unexpired lease and the URL it registered; ok
// is false when nobody holds the lease.
func (db *DB) ServiceOwner(ctx context.Context, serviceID string) (holder, url string, ok bool, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT l.holder, COALESCE(r.url, '') FROM service_leases l LEFT JOIN replicas r ON r.id = l.holder
		WHERE l.service_id = ? AND l.expires_at > ?`, serviceID, db.nowMs()).Scan(&holder, &url)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	return holder, url, err == nil, err
}
