// Package iam is arkserve's identity service: Keystone-v3-compatible users, projects and roles,
// password hashing, and authenticated-encrypted tokens verified without a database round trip.
//
// A token is the AES-256-GCM sealed form of the principal it stands for (see token.go), so Verify
// needs only the key and the in-memory set of revoked token ids. Everything else (authentication,
// administration) goes through the Store.
package iam

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// DefaultTTL is the lifetime of a token when Service.TTL is zero.
const DefaultTTL = 24 * time.Hour

// KeySize is the size of the token key (AES-256).
const KeySize = 32

// Service authenticates users, issues and verifies tokens, and administers users, projects and
// roles. Set the exported fields, then call Open.
type Service struct {
	Store  Store
	Key    []byte        // KeySize bytes; see LoadOrCreateKey
	TTL    time.Duration // token lifetime; 0 means DefaultTTL
	Now    func() time.Time
	Logger *slog.Logger

	aead   cipher.AEAD
	skAEAD cipher.AEAD // seals access-key secrets (accesskey.go)
	replay replayCache // signatures of state-changing signed requests (signature.go)

	mu      sync.RWMutex
	revoked map[[tokenIDSize]byte]int64 // token id → expiry (unix seconds)
	swept   int64                       // last sweep of revoked (unix seconds)
}

// Open checks the configuration and loads the revoked token ids that have not expired yet.
func (s *Service) Open(ctx context.Context) error {
	if s.Store == nil {
		return errors.New("iam: Store is required")
	}
	if len(s.Key) != KeySize {
		return fmt.Errorf("iam: the token key must be %d bytes, got %d", KeySize, len(s.Key))
	}
	if s.TTL <= 0 {
		s.TTL = DefaultTTL
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	block, err := aes.NewCipher(s.Key)
	if err != nil {
		return fmt.Errorf("iam: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("iam: %w", err)
	}
	skAEAD, err := secretAEAD(s.Key)
	if err != nil {
		return fmt.Errorf("iam: %w", err)
	}
	now := s.Now()
	stored, err := s.Store.RevokedTokens(ctx, now)
	if err != nil {
		return fmt.Errorf("iam: load revoked tokens: %w", err)
	}
	revoked := make(map[[tokenIDSize]byte]int64, len(stored))
	for id, exp := range stored {
		var k [tokenIDSize]byte
		if n, err := hex.Decode(k[:], []byte(id)); err != nil || n != tokenIDSize {
			s.Logger.Warn("iam: ignoring malformed revoked token id", "token_id", id)
			continue
		}
		if exp.Unix() > now.Unix() {
			revoked[k] = exp.Unix()
		}
	}
	s.mu.Lock()
	s.aead = aead
	s.skAEAD = skAEAD
	s.revoked = revoked
	s.swept = now.Unix()
	s.mu.Unlock()
	return nil
}

// internal wraps a store failure: it reaches clients only as "Internal error.".
func internal(op string, err error) error { return fmt.Errorf("iam: %s: %w", op, err) }

// authFailed is the one answer to wrong credentials, whichever part was wrong.
func authFailed() error {
	return ark.Errorf(ark.EAuthFailed, "The request you have made requires authentication: wrong user, domain or password.")
}

// scopeFailed is the answer when the credentials are right but the project cannot be used; it does
// not tell a missing project from one the user has no role on.
func scopeFailed() error {
	return ark.Errorf(ark.EAuthFailed, "The user has no access to the requested project.")
}
