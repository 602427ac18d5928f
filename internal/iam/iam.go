// Package iam is arkserve's identity service: Keystone-v3-compatible users, projects and roles,
// password hashing, and authenticated-encrypted tokens verified without a database round trip.
//
// A token is the AES-256-GCM sealed form of the principal it stands for (see token.go), so Verify
// needs only the keyring (keyring.go: loaded from the database, sealed with the master key) and the
// in-memory set of revoked token ids. Everything else (authentication, administration) goes
// through the Store.
package iam

import (
	"context"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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
	Store Store
	// Key is the master key (KeySize bytes; see LoadOrCreateKey): it seals the token keyring in
	// the database and, through HKDF, the access-key secrets, and it verifies the "ark1." tokens
	// of earlier versions. Every server on one database needs the same.
	Key         []byte
	TTL         time.Duration // token lifetime; 0 means DefaultTTL
	ReloadEvery time.Duration // how old the keyring copy may get (keyring.go); 0 means DefaultReloadEvery
	// RevocationSync is how often Run reloads the revoked tokens (default DefaultRevocationSync).
	RevocationSync time.Duration
	Now            func() time.Time
	Logger         *slog.Logger

	aead       cipher.AEAD // the legacy "ark1." tokens: the master key itself
	skAEAD     cipher.AEAD // seals access-key secrets (accesskey.go)
	masterAEAD cipher.AEAD // seals the token keyring (keyring.go)
	replay     replayCache // signatures of state-changing signed requests (signature.go)

	ring              atomic.Pointer[keyring]
	reloadMu          sync.Mutex // serializes keyring loads
	lastReload        time.Time  // wall clock; guarded by reloadMu
	minReloadInterval time.Duration

	mu      sync.RWMutex
	revoked map[[tokenIDSize]byte]int64 // token id → expiry (unix seconds)
	swept   int64                       // last sweep of revoked (unix seconds)
}

// Open checks the configuration and the master key against the database, loads the token keyring
// (adding its first key to an empty one) and the revoked token ids that have not expired yet.
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
	if s.ReloadEvery <= 0 {
		s.ReloadEvery = DefaultReloadEvery
	}
	if s.minReloadInterval == 0 {
		s.minReloadInterval = 500 * time.Millisecond
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	aead, err := newGCM(s.Key)
	if err != nil {
		return fmt.Errorf("iam: %w", err)
	}
	skAEAD, err := secretAEAD(s.Key)
	if err != nil {
		return fmt.Errorf("iam: %w", err)
	}
	mAEAD, err := masterAEAD(s.Key)
	if err != nil {
		return fmt.Errorf("iam: %w", err)
	}
	s.skAEAD = skAEAD
	s.masterAEAD = mAEAD
	if err := s.checkMasterKey(ctx); err != nil {
		return err
	}
	if err := s.ReloadKeyring(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.aead = aead
	s.revoked = map[[tokenIDSize]byte]int64{}
	s.swept = s.Now().Unix()
	s.mu.Unlock()
	return s.LoadRevocations(ctx)
}

// sweepLocked forgets the revocations of tokens that expired by now (Unix seconds): they fail
// verification anyway. s.mu must be held.
func (s *Service) sweepLocked(now int64) {
	for k, exp := range s.revoked {
		if exp <= now {
			delete(s.revoked, k)
		}
	}
	s.swept = now
}

// LoadRevocations adds the revoked token ids in the database that have not expired yet to the
// ones this server refuses: Open loads them, and Run again and again so that a token revoked
// through another server on the database is refused here too.
func (s *Service) LoadRevocations(ctx context.Context) error {
	now := s.Now()
	stored, err := s.Store.RevokedTokens(ctx, now)
	if err != nil {
		return fmt.Errorf("iam: load revoked tokens: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now.Unix())
	for id, exp := range stored {
		var k [tokenIDSize]byte
		if n, err := hex.Decode(k[:], []byte(id)); err != nil || n != tokenIDSize {
			s.Logger.Warn("iam: ignoring malformed revoked token id", "token_id", id)
			continue
		}
		if exp.Unix() > now.Unix() {
			s.revoked[k] = exp.Unix()
		}
	}
	return nil
}

// DefaultRevocationSync is how often Run reloads the revoked tokens: how long a token revoked
// through another server on the database stays usable here at most.
const DefaultRevocationSync = 5 * time.Second

// Run reloads the revoked tokens every RevocationSync until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	every := s.RevocationSync
	if every <= 0 {
		every = DefaultRevocationSync
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.LoadRevocations(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("reload revoked tokens", "err", err)
		}
	}
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
