package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// placeholders returns "$from, ..., $(from+n-1)".
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

// where builds a WHERE condition with numbered parameters.
type where struct {
	conds []string
	args  []any
}

// add appends a condition in which ? stands for the next parameter.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1))
}

func (w *where) String() string { return strings.Join(w.conds, " AND ") }

// page returns " LIMIT $n OFFSET $n+1" with its arguments appended to w's.
func (w *where) page(lim, offset int) (string, []any) {
	n := len(w.args)
	return fmt.Sprintf(" LIMIT $%d OFFSET $%d", n+1, n+2), append(w.args[:n:n], limit(lim), offset)
}

// CreateModel registers a model; ark.EModelExists when the name and version are taken.
func (db *DB) CreateModel(ctx context.Context, m *ark.Model) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = db.Now()
	}
	vals := rowcodec.ModelValues(m)
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO models (`+rowcodec.ModelColumns+`) VALUES (`+placeholders(1, len(vals))+`)`, vals...)
		if isUnique(err) {
			return ark.Errorf(ark.EModelExists, "Model (%s, %s) already exists.", m.Name, m.Version)
		}
		return err
	})
}

func (db *DB) findModel(ctx context.Context, query string, args ...any) (*ark.Model, error) {
	m, err := one(ctx, db, rowcodec.ScanModel, `SELECT `+rowcodec.ModelColumns+` FROM models WHERE `+query, args...)
	if err == nil && m == nil {
		return nil, ark.Errorf(ark.EModelNotFound, "Model (%s) does not exist.", args[0])
	}
	return m, err
}

// FindModel returns a model of a project; ark.EModelNotFound when there is none.
func (db *DB) FindModel(ctx context.Context, projectID, id string) (*ark.Model, error) {
	return db.findModel(ctx, `id = $1 AND project_id = $2`, id, projectID)
}

// FindModelByID returns a model of any project (for the engine); ark.EModelNotFound.
func (db *DB) FindModelByID(ctx context.Context, id string) (*ark.Model, error) {
	return db.findModel(ctx, `id = $1`, id)
}

// ListModels returns one page of a project's models and the total that match.
func (db *DB) ListModels(ctx context.Context, f ark.ModelFilter) ([]*ark.Model, int, error) {
	var w where
	w.add("project_id = ?", f.ProjectID)
	if f.Name != "" {
		if f.ExactMatch {
			w.add("name = ?", f.Name)
		} else {
			w.add(`name ILIKE ? ESCAPE '\'`, rowcodec.Contains(f.Name))
		}
	}
	for _, c := range []struct{ col, v string }{{"version", f.Version}, {"status", f.Status}, {"workspace_id", f.WorkspaceID}, {"model_type", f.ModelType}} {
		if c.v != "" {
			w.add(c.col+" = ?", c.v)
		}
	}
	if f.NotModelType != "" {
		w.add("model_type <> ?", f.NotModelType)
	}
	if f.Description != "" {
		w.add(`description ILIKE ? ESCAPE '\'`, rowcodec.Contains(f.Description))
	}
	sortCol, ok := rowcodec.ModelSort(f.SortBy)
	if !ok {
		return nil, 0, fmt.Errorf("postgres: unknown model sort %q", f.SortBy) // the HTTP layer validates it
	}
	page, args := w.page(f.Limit, f.Offset)
	var out []*ark.Model
	var total int
	err := db.read(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM models WHERE `+w.String(), w.args...).Scan(&total); err != nil {
			return err
		}
		var err error
		out, err = all(ctx, tx, rowcodec.ScanModel, `SELECT `+rowcodec.ModelColumns+` FROM models WHERE `+w.String()+
			` ORDER BY `+sortCol+` `+rowcodec.Order(f.Order)+`, id`+page, args...)
		return err
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
	err := db.write(ctx, func(tx pgx.Tx) error {
		res = ark.DeleteModelResult{}
		var name string
		err := tx.QueryRow(ctx, `SELECT name FROM models WHERE id = $1 AND project_id = $2 FOR UPDATE`, id, projectID).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return ark.Errorf(ark.EModelNotFound, "Model (%s) does not exist.", id)
		} else if err != nil {
			return err
		}
		ids := []string{id}
		if cascade {
			others, err := all(ctx, tx, func(sc rowcodec.Scanner) (string, error) {
				var s string
				return s, sc.Scan(&s)
			}, `SELECT id FROM models WHERE project_id = $1 AND name = $2 AND id <> $3 ORDER BY created_at LIMIT $4 FOR UPDATE`,
				projectID, name, id, MaxCascade-1)
			if err != nil {
				return err
			}
			ids = append(ids, others...)
		}
		for _, mid := range ids {
			var used bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM service_models WHERE model_id = $1)`, mid).Scan(&used); err != nil {
				return err
			}
			if used {
				res.Failed = append(res.Failed, ark.DeleteModelFailure{ModelID: mid, Err: ark.Errorf(ark.EModelInUse,
					"Failed to delete model because the model (%s) has been used to deploy a service.", mid)})
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE FROM models WHERE id = $1`, mid); err != nil {
				return err
			}
			res.Deleted = append(res.Deleted, mid)
		}
		return nil
	})
	return res, err
}
