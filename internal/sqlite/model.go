package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

const modelCols = rowcodec.ModelColumns

var scanModel = rowcodec.ScanModel

// CreateModel registers a model; ark.EModelExists when the name and version are taken.
func (db *DB) CreateModel(ctx context.Context, m *ark.Model) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = db.Now()
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO models (`+modelCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			rowcodec.ModelValues(m)...)
		if isUnique(err) {
			return ark.Errorf(ark.EModelExists, "Model (%s, %s) already exists.", m.Name, m.Version)
		}
		return err
	})
}

// FindModel returns a model of a project; ark.EModelNotFound when there is none.
func (db *DB) FindModel(ctx context.Context, projectID, id string) (*ark.Model, error) {
	m, err := scanModel(db.r.QueryRowContext(ctx, `SELECT `+modelCols+` FROM models WHERE id = ? AND project_id = ?`, id, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ark.Errorf(ark.EModelNotFound, "Model (%s) does not exist.", id)
	}
	return m, err
}

// FindModelByID returns a model of any project (for the engine); ark.EModelNotFound.
func (db *DB) FindModelByID(ctx context.Context, id string) (*ark.Model, error) {
	m, err := scanModel(db.r.QueryRowContext(ctx, `SELECT `+modelCols+` FROM models WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ark.Errorf(ark.EModelNotFound, "Model (%s) does not exist.", id)
	}
	return m, err
}

// ListModels returns one page of a project's models and the total that match.
func (db *DB) ListModels(ctx context.Context, f ark.ModelFilter) ([]*ark.Model, int, error) {
	where := []string{"project_id = ?"}
	args := []any{f.ProjectID}
	if f.Name != "" {
		if f.ExactMatch {
			where, args = append(where, "name = ?"), append(args, f.Name)
		} else {
			where, args = append(where, `name LIKE ? ESCAPE '\'`), append(args, likeEscape(f.Name))
		}
	}
	for col, v := range map[string]string{"version": f.Version, "status": f.Status, "workspace_id": f.WorkspaceID, "model_type": f.ModelType} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	if f.NotModelType != "" {
		where, args = append(where, "model_type <> ?"), append(args, f.NotModelType)
	}
	if f.Description != "" {
		where, args = append(where, `description LIKE ? ESCAPE '\'`), append(args, likeEscape(f.Description))
	}
	sortCol, ok := rowcodec.ModelSort(f.SortBy)
	if !ok {
		return nil, 0, fmt.Errorf("sqlite: unknown model sort %q", f.SortBy) // the HTTP layer validates it
	}
	cond := strings.Join(where, " AND ")
	var out []*ark.Model
	var total int
	err := db.read(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM models WHERE `+cond, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+modelCols+` FROM models WHERE `+cond+
			` ORDER BY `+sortCol+` `+order(f.Order)+`, id LIMIT ? OFFSET ?`, append(args, f.Limit, f.Offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanModel(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, total, err
}

// MaxCascade is the most versions a cascading delete removes (the reference's limit).
const MaxCascade = 20

// DeleteModel deletes a model (and with cascade the other versions of its name, at most 20). A model
// that a service needs is not deleted: it is reported in Failed with ark.EModelInUse.
// ark.EModelNotFound when id itself does not exist.
func (db *DB) DeleteModel(ctx context.Context, projectID, id string, cascade bool) (ark.DeleteModelResult, error) {
	var res ark.DeleteModelResult
	err := db.write(ctx, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT name FROM models WHERE id = ? AND project_id = ?`, id, projectID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return ark.Errorf(ark.EModelNotFound, "Model (%s) does not exist.", id)
		} else if err != nil {
			return err
		}
		ids := []string{id}
		if cascade {
			rows, err := tx.QueryContext(ctx, `SELECT id FROM models WHERE project_id = ? AND name = ? AND id <> ? ORDER BY created_at LIMIT ?`,
				projectID, name, id, MaxCascade-1)
			if err != nil {
				return err
			}
			for rows.Next() {
				var other string
				if err := rows.Scan(&other); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, other)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		for _, mid := range ids {
			var used int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM service_models WHERE model_id = ?`, mid).Scan(&used); err != nil {
				return err
			}
			if used > 0 {
				res.Failed = append(res.Failed, ark.DeleteModelFailure{ModelID: mid, Err: ark.Errorf(ark.EModelInUse,
					"Failed to delete model because the model (%s) has been used to deploy a service.", mid)})
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM models WHERE id = ?`, mid); err != nil {
				return err
			}
			res.Deleted = append(res.Deleted, mid)
		}
		return nil
	})
	return res, err
}
