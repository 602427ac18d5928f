package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// AcquireLease takes the service's lease for holder until ttl from now when it is free, expired or
// already holder's, and returns it with a new fence. ok is false when another holder's lease has not
// expired, or when the service does not exist.
func (db *DB) AcquireLease(ctx context.Context, serviceID, holder string, ttl time.Duration) (ark.Lease, bool, error) {
	var fence int64
	err := db.write(ctx, func(tx pgx.Tx) error {
		now := db.nowMs()
		return tx.QueryRow(ctx, `INSERT INTO service_leases (service_id, holder, fence, expires_at)
			SELECT id, $2, 1, $3 FROM services WHERE id = $1
			ON CONFLICT (service_id) DO UPDATE SET holder = EXCLUDED.holder, fence = service_leases.fence + 1,
				expires_at = EXCLUDED.expires_at
			WHERE service_leases.holder = EXCLUDED.holder OR service_leases.expires_at <= $4
			RETURNING fence`, serviceID, holder, now+ttl.Milliseconds(), now).Scan(&fence)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return ark.Lease{}, false, nil
	}
	if err != nil {
		return ark.Lease{}, false, err
	}
	return ark.Lease{ServiceID: serviceID, Holder: holder, Fence: fence}, true, nil
}

// RenewLeases extends every unexpired lease holder holds to ttl from now (one statement) and
// returns them; a lease another holder took over, or one that expired or was released, is not
// among them (the engine acquires it again, with a new fence).
func (db *DB) RenewLeases(ctx context.Context, holder string, ttl time.Duration) ([]ark.Lease, error) {
	var out []ark.Lease
	err := db.write(ctx, func(tx pgx.Tx) error {
		var err error
		now := db.nowMs()
		out, err = all(ctx, tx, func(sc rowcodec.Scanner) (ark.Lease, error) {
			l := ark.Lease{Holder: holder}
			return l, sc.Scan(&l.ServiceID, &l.Fence)
		}, `UPDATE service_leases SET expires_at = $2 WHERE holder = $1 AND expires_at > $3 RETURNING service_id, fence`,
			holder, now+ttl.Milliseconds(), now)
		return err
	})
	return out, err
}

// ReleaseLease gives a lease up (it expires now) so that another replica can take the service over
// at once; a lease that is no longer l is left alone.
func (db *DB) ReleaseLease(ctx context.Context, l ark.Lease) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE service_leases SET expires_at = 0 WHERE service_id = $1 AND holder = $2 AND fence = $3`,
			l.ServiceID, l.Holder, l.Fence)
		return err
	})
}

// checkLease returns ark.ErrLeaseLost unless l is still the service's lease. It locks the lease row
// for the rest of tx, so no acquisition can commit between the check and the write it guards.
func checkLease(ctx context.Context, tx pgx.Tx, l ark.Lease) error {
	var holder string
	var fence int64
	err := tx.QueryRow(ctx, `SELECT holder, fence FROM service_leases WHERE service_id = $1 FOR UPDATE`, l.ServiceID).Scan(&holder, &fence)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (holder != l.Holder || fence != l.Fence)) {
		return ark.ErrLeaseLost
	}
	return err
}

// RegisterReplica records the URL replica id is reached at.
func (db *DB) RegisterReplica(ctx context.Context, id, url string) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO replicas (id, url, started_at) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, started_at = EXCLUDED.started_at`, id, url, db.nowMs())
		return err
	})
}

// ServiceOwner returns the holder of the service's unexpired lease and the URL it registered; ok
// is false when nobody holds the lease.
func (db *DB) ServiceOwner(ctx context.Context, serviceID string) (holder, url string, ok bool, err error) {
	err = db.pool.QueryRow(ctx, `SELECT l.holder, COALESCE(r.url, '') FROM service_leases l LEFT JOIN replicas r ON r.id = l.holder
		WHERE l.service_id = $1 AND l.expires_at > $2`, serviceID, db.nowMs()).Scan(&holder, &url)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	return holder, url, err == nil, err
}
