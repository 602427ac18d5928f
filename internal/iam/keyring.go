package iam

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// The token keyring: the keys that sign and verify "ark2." tokens live in the database, shared by
// every server on it, each sealed (AES-256-GCM) with a key derived by HKDF from the master key
// (Service.Key: DATA/token.key or --master-key-file). A copy of the database without the master key
// can neither read the keys nor forge a token; servers that share the database and the master key
// accept each other's tokens.
//
// States, derived from the rows:
//
//   - active: the newest key without NotAfter signs every new token;
//   - accepted: an older key verifies the tokens it signed until its NotAfter (set when a newer key
//     is added: the time of the rotation + TTL + RotationGrace), after which
//   - retired: its tokens, all expired by then, are refused.
//
// A server loads the keyring in Open, again when it issues or verifies a token and its copy is
// older than ReloadEvery, and when it meets a token of a key id it does not know (at most once per
// minReloadInterval, so that made-up key ids cannot flood the database). Verify also reloads a copy
// older than ReloadEvery, so that every server learns of retirements.

const (
	tokenPrefix2    = "ark2."
	keyIDLen        = 16 // hex digits
	keyringInfo     = "arkserve token keyring v1"
	sealedKeyAADPre = "arkserve token key "

	// DefaultReloadEvery is how old a server's copy of the keyring may get before it reloads it.
	DefaultReloadEvery = time.Minute
	// RotationGrace is added to the TTL when a rotation sets the previous keys' NotAfter: servers
	// that have not reloaded the keyring yet still sign with the previous key meanwhile.
	RotationGrace = 5 * time.Minute
)

// ringKey is one usable key of the keyring.
type ringKey struct {
	id       string
	aead     cipher.AEAD // nil: retired, or not sealed with our master key (refuse its tokens)
	aad      []byte      // tokenPrefix2 + id
	notAfter int64       // unix seconds; 0: none
}

// keyring is an immutable snapshot of the keyring; Service.ring holds the current one.
type keyring struct {
	byID   map[string]*ringKey
	active *ringKey
	loaded time.Time // wall clock (time.Now), for ReloadEvery
}

func masterAEAD(master []byte) (cipher.AEAD, error) { return derivedAEAD(master, keyringInfo) }

// derivedAEAD is AES-256-GCM under the key HKDF-SHA256 derives from master for one purpose (info),
// so that no two uses of the master key share a key.
func derivedAEAD(master []byte, info string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, master, nil, info, KeySize)
	if err != nil {
		return nil, err
	}
	return newGCM(k)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// errMasterKey is the answer when the database's keyring was sealed with another master key.
var errMasterKey = errors.New("iam: the token keyring in the database cannot be opened with this server's master key: every server on one database needs the same master key (DATA/token.key or --master-key-file)")

func (s *Service) sealTokenKey(id string, key []byte) []byte {
	nonce := make([]byte, nonceSize, nonceSize+len(key)+gcmTagSize)
	_, _ = rand.Read(nonce)
	return s.masterAEAD.Seal(nonce, nonce, key, []byte(sealedKeyAADPre+id))
}

func (s *Service) openTokenKey(k *ark.TokenKey) ([]byte, error) {
	if len(k.SealedKey) < nonceSize+gcmTagSize {
		return nil, errMasterKey
	}
	key, err := s.masterAEAD.Open(nil, k.SealedKey[:nonceSize], k.SealedKey[nonceSize:], []byte(sealedKeyAADPre+k.ID))
	if err != nil || len(key) != KeySize {
		return nil, errMasterKey
	}
	return key, nil
}

// newTokenKey makes a new sealed key.
func (s *Service) newTokenKey() *ark.TokenKey {
	var idb [keyIDLen / 2]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	return &ark.TokenKey{ID: id, SealedKey: s.sealTokenKey(id, key), CreatedAt: s.Now().UTC().Truncate(time.Millisecond)}
}

// loadKeyring reads the keyring from the store, adding a first key when it is empty, and installs
// it. Retired keys and keys the master key does not open are kept as known but unusable ids (their
// tokens are refused without a reload); when no key opens, the master key is wrong and the load
// fails.
func (s *Service) loadKeyring(ctx context.Context) error {
	rows, err := s.Store.TokenKeys(ctx)
	if err != nil {
		return internal("load token keys", err)
	}
	if len(rows) == 0 {
		// Two servers starting at once may both add one: both keys are accepted and the newer
		// signs; the next rotation retires both.
		if err := s.Store.AddTokenKey(ctx, s.newTokenKey(), time.Time{}); err != nil {
			return internal("add token key", err)
		}
		if rows, err = s.Store.TokenKeys(ctx); err != nil {
			return internal("load token keys", err)
		}
	}
	now := s.Now().Unix()
	ring := &keyring{byID: make(map[string]*ringKey, len(rows)), loaded: time.Now()}
	unopened, opened := 0, 0
	for _, r := range rows {
		var na int64
		if !r.NotAfter.IsZero() {
			if na = r.NotAfter.Unix(); na <= now {
				// Retired: known, so that its tokens are refused without a reload, but unusable.
				ring.byID[r.ID] = &ringKey{id: r.ID, notAfter: na}
				continue
			}
		}
		key, err := s.openTokenKey(r)
		if err != nil {
			// Not sealed with our master key: written by someone who has the database but not
			// the master key, or by a server configured with another one. Never used.
			unopened++
			s.Logger.Warn("iam: ignoring a token key that this server's master key does not open", "key_id", r.ID)
			ring.byID[r.ID] = &ringKey{id: r.ID, notAfter: na}
			continue
		}
		opened++
		aead, err := newGCM(key)
		if err != nil {
			return internal("token key", err)
		}
		k := &ringKey{id: r.ID, aead: aead, aad: []byte(tokenPrefix2 + r.ID), notAfter: na}
		ring.byID[r.ID] = k
		// rows are oldest first: the last key without NotAfter is the newest.
		if na == 0 {
			ring.active = k
		}
	}
	if opened == 0 && unopened > 0 {
		return errMasterKey
	}
	if ring.active == nil {
		// Every key has been superseded (a rotation whose new key is not visible?): sign with
		// the newest accepted one rather than not at all.
		for _, r := range rows {
			if k := ring.byID[r.ID]; k != nil && k.aead != nil {
				ring.active = k
			}
		}
	}
	if ring.active == nil {
		return errors.New("iam: the token keyring has no usable key")
	}
	s.ring.Store(ring)
	return nil
}

// ReloadKeyring reads the keyring from the store now.
func (s *Service) ReloadKeyring(ctx context.Context) error {
	if s.masterAEAD == nil {
		return errNotOpen
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.lastReload = time.Now()
	return s.loadKeyring(ctx)
}

// currentRing returns the keyring, reloading it first when it is older than ReloadEvery and no
// other caller is reloading it already (those go on with the copy they have).
func (s *Service) currentRing() *keyring {
	ring := s.ring.Load()
	if ring == nil || time.Since(ring.loaded) < s.ReloadEvery || !s.reloadMu.TryLock() {
		return ring
	}
	defer s.reloadMu.Unlock()
	if ring = s.ring.Load(); time.Since(ring.loaded) < s.ReloadEvery {
		return ring
	}
	s.lastReload = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.loadKeyring(ctx); err != nil {
		// Go on with the keys we have: the database may be briefly unreachable.
		s.Logger.Warn("iam: reload token keyring", "err", err)
	}
	return s.ring.Load()
}

// signingKey returns the key to sign with.
func (s *Service) signingKey() (*ringKey, error) {
	ring := s.currentRing()
	if ring == nil {
		return nil, errNotOpen
	}
	return ring.active, nil
}

// verifyingKey returns the key with the given id, nil when there is none. An unknown id makes the
// keyring reload, at most once per minReloadInterval: callers that meet unknown ids meanwhile wait
// for the next reload and share it, so made-up key ids cost the database at most one query per
// interval and a caller waits at most about one interval.
func (s *Service) verifyingKey(id string) *ringKey {
	ring := s.currentRing()
	if ring == nil {
		return nil
	}
	if k := ring.byID[id]; k != nil {
		return k
	}
	if !isKeyID(id) {
		return nil
	}
	arrived := time.Now()
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if k := s.ring.Load().byID[id]; k != nil {
		return k // loaded by another caller meanwhile
	}
	if !s.lastReload.Before(arrived) {
		return nil // a reload that started after we arrived did not find it
	}
	if d := s.minReloadInterval - time.Since(s.lastReload); d > 0 {
		time.Sleep(d)
	}
	s.lastReload = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.loadKeyring(ctx); err != nil {
		s.Logger.Warn("iam: reload token keyring for an unknown key id", "key_id", id, "err", err)
		return nil
	}
	return s.ring.Load().byID[id]
}

func isKeyID(id string) bool {
	if len(id) != keyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// RotateTokenKey adds a new active key to the keyring. The keys it supersedes keep verifying
// their tokens until now + TTL + RotationGrace, then are retired. Other servers sign with the new
// key once they reload the keyring (within ReloadEvery) and accept its tokens at once (an unknown
// key id makes them reload). It returns the new key's id.
func (s *Service) RotateTokenKey(ctx context.Context) (string, error) {
	if s.masterAEAD == nil {
		return "", errNotOpen
	}
	k := s.newTokenKey()
	retire := k.CreatedAt.Add(s.TTL + RotationGrace)
	if err := s.Store.AddTokenKey(ctx, k, retire); err != nil {
		return "", internal("add token key", err)
	}
	if err := s.ReloadKeyring(ctx); err != nil {
		return "", err
	}
	return k.ID, nil
}

// TokenKeyInfo describes a key of the keyring (never the key itself).
type TokenKeyInfo struct {
	ID        string
	CreatedAt time.Time
	NotAfter  time.Time // zero: none
	State     string    // "active", "accepted" or "retired"
}

// TokenKeys lists the keyring, oldest first, with each key's state now.
func (s *Service) TokenKeys(ctx context.Context) ([]TokenKeyInfo, error) {
	rows, err := s.Store.TokenKeys(ctx)
	if err != nil {
		return nil, internal("load token keys", err)
	}
	now := s.Now()
	active := ""
	for _, r := range rows {
		if r.NotAfter.IsZero() {
			active = r.ID
		}
	}
	out := make([]TokenKeyInfo, 0, len(rows))
	for _, r := range rows {
		st := "accepted"
		switch {
		case r.ID == active:
			st = "active"
		case !r.NotAfter.IsZero() && !r.NotAfter.After(now):
			st = "retired"
		}
		out = append(out, TokenKeyInfo{ID: r.ID, CreatedAt: r.CreatedAt, NotAfter: r.NotAfter, State: st})
	}
	return out, nil
}

// checkMasterKey refuses a master key that does not open the access-key secrets already in the
// store (sealed with a key derived from it): starting with the wrong one would lose them.
func (s *Service) checkMasterKey(ctx context.Context) error {
	keys, err := s.Store.ListAccessKeys(ctx, "")
	if err != nil {
		return internal("list access keys", err)
	}
	for _, k := range keys {
		if len(k.SealedSecret) < nonceSize+gcmTagSize {
			continue // malformed, whatever the key: no evidence either way
		}
		if _, err := s.openSecret(k); err != nil {
			return fmt.Errorf("iam: this server's master key does not open the access-key secrets in the database (%v): every server on one database needs the same master key", err)
		}
		return nil // one that opens is enough
	}
	return nil
}
