package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// CreateAccessKey inserts an access key.
func (db *DB) CreateAccessKey(ctx context.Context, k *ark.AccessKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.Now()
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO access_keys (id, user_id, description, sealed_secret, created_at) VALUES (?, ?, ?, ?, ?)`,
			k.ID, k.UserID, k.Description, k.SealedSecret, k.CreatedAt.UnixMilli())
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "Access key %s already exists.", k.ID)
		}
		return err
	})
}

const accessKeyCols = `id, user_id, description, sealed_secret, created_at`

func scanAccessKey(sc rowcodec.Scanner) (*ark.AccessKey, error) {
	var k ark.AccessKey
	var created int64
	if err := sc.Scan(&k.ID, &k.UserID, &k.Description, &k.SealedSecret, &created); err != nil {
		return nil, err
	}
	k.CreatedAt = msTime(created)
	return &k, nil
}

// FindAccessKey returns an access key by id, nil when there is none.
func (db *DB) FindAccessKey(ctx context.Context, id string) (*ark.AccessKey, error) {
	k, err := scanAccessKey(db.r.QueryRowContext(ctx, `SELECT `+accessKeyCols+` FROM access_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return k, err
}

// ListAccessKeys returns a user's access keys (every user's for userID ""), oldest first.
func (db *DB) ListAccessKeys(ctx context.Context, userID string) ([]*ark.AccessKey, error) {
	return queryAll(ctx, db.r, scanAccessKey, `SELECT `+accessKeyCols+` FROM access_keys WHERE ? = '' OR user_id = ? ORDER BY created_at, id`, userID, userID)
}

// DeleteAccessKey removes an access key and reports whether it existed.
func (db *DB) DeleteAccessKey(ctx context.Context, id string) (bool, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM access_keys WHERE id = ?`, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n > 0, err
}
