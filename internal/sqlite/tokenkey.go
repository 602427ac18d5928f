package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// AddTokenKey inserts a token key and, in the same transaction, gives every other key that has no
// NotAfter yet the NotAfter retireOthers (unless retireOthers is zero); ark.EInvalidParam when the
// id is taken.
func (db *DB) AddTokenKey(ctx context.Context, k *ark.TokenKey, retireOthers time.Time) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.Now()
	}
	var notAfter int64
	if !k.NotAfter.IsZero() {
		notAfter = k.NotAfter.UnixMilli()
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO token_keys (id, sealed_key, created_at, not_after) VALUES (?, ?, ?, ?)`,
			k.ID, k.SealedKey, k.CreatedAt.UnixMilli(), notAfter)
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "Token key %s already exists.", k.ID)
		}
		if err != nil || retireOthers.IsZero() {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE token_keys SET not_after = ? WHERE not_after = 0 AND id <> ?`, retireOthers.UnixMilli(), k.ID)
		return err
	})
}

// TokenKeys returns the keyring, oldest first.
func (db *DB) TokenKeys(ctx context.Context) ([]*ark.TokenKey, error) {
	return queryAll(ctx, db.r, func(sc rowcodec.Scanner) (*ark.TokenKey, error) {
		var k ark.TokenKey
		var created, notAfter int64
		if err := sc.Scan(&k.ID, &k.SealedKey, &created, &notAfter); err != nil {
			return nil, err
		}
		k.CreatedAt = msTime(created)
		if notAfter != 0 {
			k.NotAfter = msTime(notAfter)
		}
		return &k, nil
	}, `SELECT id, sealed_key, created_at, not_after FROM token_keys ORDER BY created_at, id`)
}
