package sqlite

import (
	"context"
	"database/sql"
)

// readStmt returns q prepared on the readers' pool, prepared once and kept until Close: the driver
// parses a statement on every call otherwise, a third of a short read's time (BenchmarkUpdateLogs).
// Use it in a read transaction with tx.StmtContext, which reuses the statement prepared on the
// transaction's connection.
func (db *DB) readStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.r.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// closeStmts closes the prepared read statements.
func (db *DB) closeStmts() {
	db.stmts.Range(func(q, st any) bool {
		st.(*sql.Stmt).Close()
		db.stmts.Delete(q)
		return true
	})
}
