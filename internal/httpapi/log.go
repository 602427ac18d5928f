package httpapi

import (
	"log/slog"
	"net/http"
	"time"
)

func levelFor(status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelError
	case status >= 400:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// slogAttrs are the access-log fields. The query string is left out: it may carry values users did
// not mean to have logged.
func slogAttrs(id string, r *http.Request, status int, d time.Duration) []slog.Attr {
	return []slog.Attr{
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("remote", r.RemoteAddr),
	}
}
