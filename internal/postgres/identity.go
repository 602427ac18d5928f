package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// CreateDomain inserts a domain.
func (db *DB) CreateDomain(ctx context.Context, d *ark.Domain) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO domains (id, name, enabled) VALUES ($1, $2, $3)`, d.ID, d.Name, d.Enabled)
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "Domain %s already exists.", d.Name)
		}
		return err
	})
}

// FindDomain returns the domain with that id or name, nil when there is none.
func (db *DB) FindDomain(ctx context.Context, idOrName string) (*ark.Domain, error) {
	var d ark.Domain
	err := db.pool.QueryRow(ctx, `SELECT id, name, enabled FROM domains WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1`,
		idOrName).Scan(&d.ID, &d.Name, &d.Enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return &d, err
}

// CreateProject inserts a project.
func (db *DB) CreateProject(ctx context.Context, p *ark.Project) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = db.Now()
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO projects (id, domain_id, name, description, enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.ID, p.DomainID, p.Name, p.Description, p.Enabled, p.CreatedAt.UnixMilli())
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "Project %s already exists.", p.Name)
		}
		return err
	})
}

const projectCols = `id, domain_id, name, description, enabled, created_at`

func scanProject(sc rowcodec.Scanner) (*ark.Project, error) {
	var p ark.Project
	var created int64
	if err := sc.Scan(&p.ID, &p.DomainID, &p.Name, &p.Description, &p.Enabled, &created); err != nil {
		return nil, err
	}
	p.CreatedAt = rowcodec.Time(created)
	return &p, nil
}

// one returns the row that query selects, decoded by scan; nil when there is none.
func one[T any](ctx context.Context, db *DB, scan func(rowcodec.Scanner) (*T, error), query string, args ...any) (*T, error) {
	v, err := scan(db.pool.QueryRow(ctx, query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// all returns the rows that query selects, decoded by scan.
func all[T any](ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, scan func(rowcodec.Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// FindProject returns a project by id, nil when there is none.
func (db *DB) FindProject(ctx context.Context, id string) (*ark.Project, error) {
	return one(ctx, db, scanProject, `SELECT `+projectCols+` FROM projects WHERE id = $1`, id)
}

// FindProjectByName returns a project by domain and name, nil when there is none.
func (db *DB) FindProjectByName(ctx context.Context, domainID, name string) (*ark.Project, error) {
	return one(ctx, db, scanProject, `SELECT `+projectCols+` FROM projects WHERE domain_id = $1 AND name = $2`, domainID, name)
}

// ListProjects returns every project, by name.
func (db *DB) ListProjects(ctx context.Context) ([]*ark.Project, error) {
	return all(ctx, db.pool, scanProject, `SELECT `+projectCols+` FROM projects ORDER BY name`)
}

// CreateUser inserts a user.
func (db *DB) CreateUser(ctx context.Context, u *ark.User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = db.Now()
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, domain_id, name, password_hash, enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			u.ID, u.DomainID, u.Name, u.PasswordHash, u.Enabled, u.CreatedAt.UnixMilli())
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "User %s already exists.", u.Name)
		}
		return err
	})
}

const userCols = `id, domain_id, name, password_hash, enabled, created_at`

func scanUser(sc rowcodec.Scanner) (*ark.User, error) {
	var u ark.User
	var created int64
	if err := sc.Scan(&u.ID, &u.DomainID, &u.Name, &u.PasswordHash, &u.Enabled, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = rowcodec.Time(created)
	return &u, nil
}

// FindUser returns a user by id, nil when there is none.
func (db *DB) FindUser(ctx context.Context, id string) (*ark.User, error) {
	return one(ctx, db, scanUser, `SELECT `+userCols+` FROM users WHERE id = $1`, id)
}

// FindUserByName returns a user by domain and name, nil when there is none.
func (db *DB) FindUserByName(ctx context.Context, domainID, name string) (*ark.User, error) {
	return one(ctx, db, scanUser, `SELECT `+userCols+` FROM users WHERE domain_id = $1 AND name = $2`, domainID, name)
}

// ListUsers returns every user, by name.
func (db *DB) ListUsers(ctx context.Context) ([]*ark.User, error) {
	return all(ctx, db.pool, scanUser, `SELECT `+userCols+` FROM users ORDER BY name`)
}

// SetPassword replaces a user's password hash.
func (db *DB) SetPassword(ctx context.Context, userID, hash string) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
		return err
	})
}

// AssignRole grants a role; granting it twice is not an error.
func (db *DB) AssignRole(ctx context.Context, a ark.RoleAssignment) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO role_assignments (user_id, project_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			a.UserID, a.ProjectID, a.Role)
		return err
	})
}

// UnassignRole removes a role grant.
func (db *DB) UnassignRole(ctx context.Context, a ark.RoleAssignment) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM role_assignments WHERE user_id = $1 AND project_id = $2 AND role = $3`, a.UserID, a.ProjectID, a.Role)
		return err
	})
}

// RoleAssignments lists a user's grants.
func (db *DB) RoleAssignments(ctx context.Context, userID string) ([]ark.RoleAssignment, error) {
	return all(ctx, db.pool, func(sc rowcodec.Scanner) (ark.RoleAssignment, error) {
		var a ark.RoleAssignment
		err := sc.Scan(&a.UserID, &a.ProjectID, &a.Role)
		return a, err
	}, `SELECT user_id, project_id, role FROM role_assignments WHERE user_id = $1 ORDER BY project_id, role`, userID)
}

// RevokeToken records a revoked token id until its expiry; expired records are dropped.
func (db *DB) RevokeToken(ctx context.Context, tokenID string, expiresAt time.Time) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM revoked_tokens WHERE expires_at < $1`, db.nowMs()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO revoked_tokens (id, expires_at) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at`, tokenID, expiresAt.UnixMilli())
		return err
	})
}

// RevokedTokens returns the revoked token ids that have not expired at now.
func (db *DB) RevokedTokens(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, expires_at FROM revoked_tokens WHERE expires_at >= $1`, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var exp int64
		if err := rows.Scan(&id, &exp); err != nil {
			return nil, err
		}
		out[id] = rowcodec.Time(exp)
	}
	return out, rows.Err()
}
