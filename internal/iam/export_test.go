package iam

import (
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// SetBcryptCost changes the bcrypt work factor for a test and returns a function restoring it.
// Tests that use it must not run in parallel with others.
func SetBcryptCost(c int) (restore func()) {
	old := bcryptCost
	bcryptCost = c
	return func() { bcryptCost = old }
}

// IssueLegacy issues a version-1 ("ark1.") token of p, as servers before the token keyring did.
func (s *Service) IssueLegacy(p *ark.Principal) (string, error) {
	return s.seal(p, s.aead, tokenAAD, tokenPrefix)
}

// SetMinReloadInterval changes how often an unknown key id may reload the keyring (default 500ms).
func (s *Service) SetMinReloadInterval(d time.Duration) { s.minReloadInterval = d }
