package iam

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Token format, version 2 (issued since the token keyring, keyring.go):
//
//	"ark2." + key id[16 hex] + "." + base64url-without-padding( nonce[12] || AES-256-GCM-Seal(payload, aad="ark2."+key id) )
//
// sealed with the keyring key of that id. Version 1, issued by earlier versions and still verified
// (with the master key, Service.Key) until those tokens expire:
//
//	"ark1." + base64url-without-padding( nonce[12] || AES-256-GCM-Seal(payload, aad="ark1") )
//
// Both carry the same payload:
//
//	token id      16 random bytes
//	issued_at     uvarint, unix seconds
//	lifetime      uvarint, seconds (expires_at = issued_at + lifetime)
//	methods       1 byte, bit set (password, token)
//	roles         1 byte, bit set (admin, member, reader)
//	6 strings     1 length byte + bytes each: user id, user name, domain id, domain name,
//	              project id, project name (empty project = unscoped)
//
// The version in the prefix (and the key id) is also the associated data, so a later format cannot
// be confused with this one even under the same key. A typical project-scoped token is about 250
// characters.
const (
	tokenPrefix  = "ark1."
	tokenIDSize  = 16
	maxTokenLen  = 2048 // longer input is rejected before decoding
	maxFieldLen  = 255
	nonceSize    = 12
	gcmTagSize   = 16
	numStrFields = 6
)

var tokenAAD = []byte("ark1")

// strictB64 refuses non-zero padding bits, so that every token has exactly one spelling.
var strictB64 = base64.RawURLEncoding.Strict()

// Bits of the methods and roles bytes. Order matters: it is the order of Principal.Methods/Roles.
var (
	methodNames = [...]string{"password", "token"}
	roleNames   = [...]string{ark.RoleAdmin, ark.RoleMember, ark.RoleReader}
)

func bitsOf(names []string, table []string) (byte, bool) {
	var b byte
	for _, n := range names {
		found := false
		for i, t := range table {
			if n == t {
				b |= 1 << i
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return b, true
}

func errMissing() error { return ark.Errorf(ark.ETokenMissing, "Token doesn't exist.") }
func errInvalid() error { return ark.Errorf(ark.ETokenInvalid, "Invalid token.") }
func errExpired() error {
	return ark.Errorf(ark.ETokenExpired, "Invalid token header because the token has expired.")
}

var errNotOpen = errors.New("iam: Service used before Open")

// newTokenID returns 16 random bytes and their hex form (the id stored on revocation).
func newTokenID() ([tokenIDSize]byte, string) {
	var id [tokenIDSize]byte
	_, _ = rand.Read(id[:]) // never fails (Go 1.24+)
	return id, hex.EncodeToString(id[:])
}

// issue seals p (TokenID in hex, times with second precision) into a token with the keyring's
// active key.
func (s *Service) issue(p *ark.Principal) (string, error) {
	if s.aead == nil {
		return "", errNotOpen
	}
	k, err := s.signingKey()
	if err != nil {
		return "", err
	}
	return s.seal(p, k.aead, k.aad, tokenPrefix2+k.id+".")
}

// seal writes the token of p: prefix + base64(nonce || Seal(payload, aad)).
func (s *Service) seal(p *ark.Principal, aead cipher.AEAD, aad []byte, prefix string) (string, error) {
	var id [tokenIDSize]byte
	if n, err := hex.Decode(id[:], []byte(p.TokenID)); err != nil || n != tokenIDSize {
		return "", errors.New("iam: malformed token id")
	}
	mb, ok1 := bitsOf(p.Methods, methodNames[:])
	rb, ok2 := bitsOf(p.Roles, roleNames[:])
	if !ok1 || !ok2 {
		return "", errors.New("iam: unknown method or role in principal")
	}
	iat, exp := p.IssuedAt.Unix(), p.ExpiresAt.Unix()
	if iat < 0 || exp < iat {
		return "", errors.New("iam: bad token times")
	}
	fields := [numStrFields]string{p.UserID, p.UserName, p.DomainID, p.DomainName, p.ProjectID, p.ProjectName}
	size := tokenIDSize + 2*binary.MaxVarintLen64 + 2 + numStrFields
	for _, f := range fields {
		if len(f) > maxFieldLen {
			return "", errors.New("iam: principal field too long for a token")
		}
		size += len(f)
	}
	buf := make([]byte, nonceSize, nonceSize+size+gcmTagSize)
	_, _ = rand.Read(buf) // the nonce
	buf = append(buf, id[:]...)
	buf = binary.AppendUvarint(buf, uint64(iat))
	buf = binary.AppendUvarint(buf, uint64(exp-iat))
	buf = append(buf, mb, rb)
	for _, f := range fields {
		buf = append(buf, byte(len(f)))
		buf = append(buf, f...)
	}
	sealed := aead.Seal(buf[:nonceSize], buf[:nonceSize], buf[nonceSize:], aad)
	out := make([]byte, len(prefix)+base64.RawURLEncoding.EncodedLen(len(sealed)))
	copy(out, prefix)
	base64.RawURLEncoding.Encode(out[len(prefix):], sealed)
	return string(out), nil
}

// principalBox holds a principal and the backing arrays of its slices: one allocation.
type principalBox struct {
	p       ark.Principal
	roles   [len(roleNames)]string
	methods [len(methodNames)]string
}

// Verify checks a token and returns its principal: ark.ETokenMissing for "", ark.ETokenExpired
// for an expired token, ark.ETokenInvalid for anything malformed, tampered with, sealed with
// another key or a retired one, or revoked. It touches no database, except to reload the keyring
// (keyring.go) when the token names a key id this server does not know or the copy is older than
// ReloadEvery. A principal without ProjectID comes from an
// unscoped token; callers of project APIs answer ark.ETokenNoProject for it.
func (s *Service) Verify(token string) (*ark.Principal, error) {
	if token == "" {
		return nil, errMissing()
	}
	if s.aead == nil {
		return nil, errNotOpen
	}
	if len(token) > maxTokenLen {
		return nil, errInvalid()
	}
	var (
		aead     cipher.AEAD
		aad      []byte
		enc      string
		notAfter int64 // of the key; 0: none
	)
	switch {
	case strings.HasPrefix(token, tokenPrefix2):
		rest := token[len(tokenPrefix2):]
		if len(rest) <= keyIDLen || rest[keyIDLen] != '.' {
			return nil, errInvalid()
		}
		k := s.verifyingKey(rest[:keyIDLen])
		if k == nil || k.aead == nil {
			return nil, errInvalid() // unknown, retired or not ours
		}
		aead, aad, notAfter, enc = k.aead, k.aad, k.notAfter, rest[keyIDLen+1:]
	case strings.HasPrefix(token, tokenPrefix):
		aead, aad, enc = s.aead, tokenAAD, token[len(tokenPrefix):]
	default:
		return nil, errInvalid()
	}
	// One buffer: 32 bytes for the hex token id, then the decoded token; the payload is opened in
	// place and the strings are sliced out of a single string conversion.
	raw := make([]byte, 2*tokenIDSize+strictB64.DecodedLen(len(enc)))
	n, err := strictB64.Decode(raw[2*tokenIDSize:], []byte(enc))
	if err != nil || n < nonceSize+gcmTagSize {
		return nil, errInvalid()
	}
	sealed := raw[2*tokenIDSize : 2*tokenIDSize+n]
	payload, err := aead.Open(sealed[nonceSize:nonceSize], sealed[:nonceSize], sealed[nonceSize:], aad)
	if err != nil || len(payload) < tokenIDSize {
		return nil, errInvalid()
	}
	var id [tokenIDSize]byte
	copy(id[:], payload)
	hex.Encode(raw[:2*tokenIDSize], id[:])
	// The payload was authenticated, so it is ours; still parse defensively.
	i := tokenIDSize
	iat, k := binary.Uvarint(payload[i:])
	if k <= 0 {
		return nil, errInvalid()
	}
	i += k
	life, k := binary.Uvarint(payload[i:])
	if k <= 0 || iat > 1<<40 || life > 1<<40 {
		return nil, errInvalid()
	}
	i += k
	if len(payload)-i < 2 {
		return nil, errInvalid()
	}
	mb, rb := payload[i], payload[i+1]
	i += 2
	if mb>>len(methodNames) != 0 || rb>>len(roleNames) != 0 {
		return nil, errInvalid()
	}
	var offs [numStrFields][2]int
	for f := range offs {
		if i >= len(payload) {
			return nil, errInvalid()
		}
		l := int(payload[i])
		i++
		if len(payload)-i < l {
			return nil, errInvalid()
		}
		offs[f] = [2]int{i, i + l}
		i += l
	}
	if i != len(payload) {
		return nil, errInvalid()
	}

	exp := int64(iat + life)
	now := s.Now().Unix()
	if notAfter != 0 && now >= notAfter {
		return nil, errInvalid() // the key is retired (as if unknown, whether or not it is loaded)
	}
	if now >= exp {
		return nil, errExpired()
	}
	s.mu.RLock()
	_, revoked := s.revoked[id]
	s.mu.RUnlock()
	if revoked {
		return nil, errInvalid()
	}

	// raw[:32] is the hex id and payload lives inside raw, so one string holds every field.
	str := string(raw[:2*tokenIDSize+nonceSize+len(payload)])
	base := 2*tokenIDSize + nonceSize
	field := func(f int) string { return str[base+offs[f][0] : base+offs[f][1]] }
	b := new(principalBox)
	p := &b.p
	p.TokenID = str[:2*tokenIDSize]
	p.UserID, p.UserName = field(0), field(1)
	p.DomainID, p.DomainName = field(2), field(3)
	p.ProjectID, p.ProjectName = field(4), field(5)
	p.IssuedAt = time.Unix(int64(iat), 0).UTC()
	p.ExpiresAt = time.Unix(exp, 0).UTC()
	nm := 0
	for j, name := range methodNames {
		if mb&(1<<j) != 0 {
			b.methods[nm] = name
			nm++
		}
	}
	p.Methods = b.methods[:nm:nm]
	nr := 0
	for j, name := range roleNames {
		if rb&(1<<j) != 0 {
			b.roles[nr] = name
			nr++
		}
	}
	if nr > 0 {
		p.Roles = b.roles[:nr:nr]
	}
	return p, nil
}

// Revoke makes a valid token invalid from now on, here and (through the store) after a restart.
// It answers Verify's error for a token that is not valid (already expired, revoked, malformed).
//
// Other servers sharing the store refuse the token after their next LoadRevocations (Run: within
// RevocationSync).
func (s *Service) Revoke(ctx context.Context, token string) error {
	p, err := s.Verify(token)
	if err != nil {
		return err
	}
	if err := s.Store.RevokeToken(ctx, p.TokenID, p.ExpiresAt); err != nil {
		return internal("revoke token", err)
	}
	var id [tokenIDSize]byte
	_, _ = hex.Decode(id[:], []byte(p.TokenID))
	now := s.Now().Unix()
	s.mu.Lock()
	s.revoked[id] = p.ExpiresAt.Unix()
	if now-s.swept >= 60 {
		s.sweepLocked(now)
	}
	s.mu.Unlock()
	return nil
}
