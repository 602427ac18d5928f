package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// CreateDomain inserts a domain.
func (db *DB) CreateDomain(ctx context.Context, d *ark.Domain) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO domains (id, name, enabled) VALUES (?, ?, ?)`, d.ID, d.Name, b2i(d.Enabled))
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "Domain %s already exists.", d.Name)
		}
		return err
	})
}

// FindDomain returns the domain with that id or name, nil when there is none.
func (db *DB) FindDomain(ctx context.Context, idOrName string) (*ark.Domain, error) {
	var d ark.Domain
	var en int
	err := db.r.QueryRowContext(ctx, `SELECT id, name, enabled FROM domains WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1`,
		idOrName, idOrName, idOrName).Scan(&d.ID, &d.Name, &en)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	d.Enabled = en == 1
	return &d, err
}

// CreateProject inserts a project.
func (db *DB) CreateProject(ctx context.Context, p *ark.Project) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = db.Now()
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO projects (id, domain_id, name, description, enabled, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.DomainID, p.Name, p.Description, b2i(p.Enabled), p.CreatedAt.UnixMilli())
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "Project %s already exists.", p.Name)
		}
		return err
	})
}

const projectCols = `id, domain_id, name, description, enabled, created_at`

func scanProject(sc rowcodec.Scanner) (*ark.Project, error) {
	var p ark.Project
	var en int
	var created int64
	if err := sc.Scan(&p.ID, &p.DomainID, &p.Name, &p.Description, &en, &created); err != nil {
		return nil, err
	}
	p.Enabled, p.CreatedAt = en == 1, msTime(created)
	return &p, nil
}

func (db *DB) oneProject(ctx context.Context, where string, args ...any) (*ark.Project, error) {
	p, err := scanProject(db.r.QueryRowContext(ctx, `SELECT `+projectCols+` FROM projects WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return p, err
}

// FindProject returns a project by id, nil when there is none.
func (db *DB) FindProject(ctx context.Context, id string) (*ark.Project, error) {
	return db.oneProject(ctx, `id = ?`, id)
}

// FindProjectByName returns a project by domain and name, nil when there is none.
func (db *DB) FindProjectByName(ctx context.Context, domainID, name string) (*ark.Project, error) {
	return db.oneProject(ctx, `domain_id = ? AND name = ?`, domainID, name)
}

// ListProjects returns every project, by name.
func (db *DB) ListProjects(ctx context.Context) ([]*ark.Project, error) {
	return queryAll(ctx, db.r, scanProject, `SELECT `+projectCols+` FROM projects ORDER BY name`)
}

// CreateUser inserts a user.
func (db *DB) CreateUser(ctx context.Context, u *ark.User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = db.Now()
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, domain_id, name, password_hash, enabled, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, u.DomainID, u.Name, u.PasswordHash, b2i(u.Enabled), u.CreatedAt.UnixMilli())
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "User %s already exists.", u.Name)
		}
		return err
	})
}

const userCols = `id, domain_id, name, password_hash, enabled, created_at`

func scanUser(sc rowcodec.Scanner) (*ark.User, error) {
	var u ark.User
	var en int
	var created int64
	if err := sc.Scan(&u.ID, &u.DomainID, &u.Name, &u.PasswordHash, &en, &created); err != nil {
		return nil, err
	}
	u.Enabled, u.CreatedAt = en == 1, msTime(created)
	return &u, nil
}

func (db *DB) oneUser(ctx context.Context, where string, args ...any) (*ark.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return u, err
}

// FindUser returns a user by id, nil when there is none.
func (db *DB) FindUser(ctx context.Context, id string) (*ark.User, error) {
	return db.oneUser(ctx, `id = ?`, id)
}

// FindUserByName returns a user by domain and name, nil when there is none.
func (db *DB) FindUserByName(ctx context.Context, domainID, name string) (*ark.User, error) {
	return db.oneUser(ctx, `domain_id = ? AND name = ?`, domainID, name)
}

// ListUsers returns every user, by name.
func (db *DB) ListUsers(ctx context.Context) ([]*ark.User, error) {
	return queryAll(ctx, db.r, scanUser, `SELECT `+userCols+` FROM users ORDER BY name`)
}

// SetPassword replaces a user's password hash.
func (db *DB) SetPassword(ctx context.Context, userID, hash string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
		return err
	})
}

// AssignRole grants a role; granting it twice is not an error.
func (db *DB) AssignRole(ctx context.Context, a ark.RoleAssignment) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO role_assignments (user_id, project_id, role) VALUES (?, ?, ?)`, a.UserID, a.ProjectID, a.Role)
		return err
	})
}

// UnassignRole removes a role grant.
func (db *DB) UnassignRole(ctx context.Context, a ark.RoleAssignment) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM role_assignments WHERE user_id = ? AND project_id = ? AND role = ?`, a.UserID, a.ProjectID, a.Role)
		return err
	})
}

// RoleAssignments lists a user's grants.
func (db *DB) RoleAssignments(ctx context.Context, userID string) ([]ark.RoleAssignment, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT user_id, project_id, role FROM role_assignments WHERE user_id = ? ORDER BY project_id, role`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ark.RoleAssignment
	for rows.Next() {
		var a ark.RoleAssignment
		if err := rows.Scan(&a.UserID, &a.ProjectID, &a.Role); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RevokeToken records a revoked token id until its expiry; expired records are dropped.
func (db *DB) RevokeToken(ctx context.Context, tokenID string, expiresAt time.Time) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM revoked_tokens WHERE expires_at < ?`, db.nowMs()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO revoked_tokens (id, expires_at) VALUES (?, ?)`, tokenID, expiresAt.UnixMilli())
		return err
	})
}

// RevokedTokens returns the revoked token ids that have not expired at now.
func (db *DB) RevokedTokens(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, expires_at FROM revoked_tokens WHERE expires_at >= ?`, now.UnixMilli())
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
		out[id] = msTime(exp)
	}
	return out, rows.Err()
}
