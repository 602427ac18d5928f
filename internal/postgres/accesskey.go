package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// CreateAccessKey inserts an access key; ark.EInvalidParam when its id is taken.
func (db *DB) CreateAccessKey(ctx context.Context, k *ark.AccessKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.Now()
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO access_keys (id, user_id, description, sealed_secret, created_at) VALUES ($1, $2, $3, $4, $5)`,
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
	k.CreatedAt = rowcodec.Time(created)
	return &k, nil
}

// FindAccessKey returns an access key by id, nil when there is none.
func (db *DB) FindAccessKey(ctx context.Context, id string) (*ark.AccessKey, error) {
	return one(ctx, db, scanAccessKey, `SELECT `+accessKeyCols+` FROM access_keys WHERE id = $1`, id)
}

// ListAccessKeys returns a user's access keys (every user's for userID ""), oldest first.
func (db *DB) ListAccessKeys(ctx context.Context, userID string) ([]*ark.AccessKey, error) {
	return all(ctx, db.pool, scanAccessKey, `SELECT `+accessKeyCols+` FROM access_keys WHERE $1 = '' OR user_id = $1 ORDER BY created_at, id`, userID)
}

// DeleteAccessKey removes an access key and reports whether it existed.
func (db *DB) DeleteAccessKey(ctx context.Context, id string) (bool, error) {
	var n int64
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM access_keys WHERE id = $1`, id)
		n = tag.RowsAffected()
		return err
	})
	return n > 0, err
}
