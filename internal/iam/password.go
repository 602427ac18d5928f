package iam

import (
	"crypto/rand"
	"fmt"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/arkserve/arkserve/internal/ark"
)

// Password limits. bcrypt reads at most 72 bytes; a longer password is refused rather than
// silently truncated.
const (
	MinPasswordLen = 8  // characters
	MaxPasswordLen = 72 // bytes
)

// bcryptCost is the bcrypt work factor (a variable only so that tests can lower it).
var bcryptCost = 10

// CheckPassword tells whether password is acceptable for a new or changed password.
func CheckPassword(password string) error {
	if !utf8.ValidString(password) {
		return ark.Errorf(ark.EInvalidParam, "Parameter (password) is invalid: not valid UTF-8.")
	}
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return ark.Errorf(ark.EInvalidParam, "Parameter (password) is invalid: at least %d characters are required.", MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return ark.Errorf(ark.EInvalidParam, "Parameter (password) is invalid: at most %d bytes are allowed.", MaxPasswordLen)
	}
	return nil
}

// HashPassword checks password (CheckPassword) and returns its bcrypt hash.
func HashPassword(password string) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("iam: hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when there is no user, so that a failed login costs the same
// whether or not the user exists.
var dummyHash = sync.OnceValue(func() []byte {
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	h, err := bcrypt.GenerateFromPassword(pw[:], bcryptCost)
	if err != nil {
		panic(err) // only for a password over 72 bytes or a bad cost
	}
	return h
})

// passwordMatches compares in bcrypt time; hash "" (no such user) compares against dummyHash and
// fails.
func passwordMatches(hash, password string) bool {
	p := []byte(password)
	if len(p) > MaxPasswordLen {
		p = p[:MaxPasswordLen] // never stored; compare only to spend the same time
		hash = ""
	}
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), p)
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), p) == nil
}
