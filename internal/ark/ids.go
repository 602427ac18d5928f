package ark

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
)

// NewUUID returns a random (version 4) lower-case UUID, the form of model and service ids.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewHexID returns 32 random lower-case hex characters, the form of project and user ids.
func NewHexID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var (
	uuidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	hexIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// IsUUID reports whether s is a lower-case UUID.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// IsHexID reports whether s is 32 lower-case hex characters.
func IsHexID(s string) bool { return hexIDRE.MatchString(s) }
