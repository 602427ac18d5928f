package iam

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"unicode/utf8"

	"github.com/arkserve/arkserve/internal/ark"
)

// Access keys (AK/SK). The access key id is 20 upper-case letters and digits and the secret 40
// letters and digits, the shapes Huawei Cloud IAM issues. SDK-HMAC-SHA256 is an HMAC, so the
// server must know the secret: the store keeps it sealed with AES-256-GCM under a key derived
// from the token key (HKDF-SHA256, its own info string), with the key id and user id as
// associated data, so a database dump alone reveals no secret and a sealed secret cannot be
// moved to another key or user.
const (
	accessKeyIDLen  = 20
	secretKeyLen    = 40
	MaxAccessKeys   = 2 // per user, as in Huawei Cloud IAM
	maxKeyDescLen   = 255
	secretKeyInfo   = "arkserve access-key secrets v1"
	idAlphabet      = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	sealedSecretAAD = "ark-sk1:"
)

// secretAEAD derives the access-key sealing cipher from the token key.
func secretAEAD(tokenKey []byte) (cipher.AEAD, error) { return derivedAEAD(tokenKey, secretKeyInfo) }

// randomString returns n characters of alphabet, uniformly (rejection sampling).
func randomString(n int, alphabet string) string {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(alphabet)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:])
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func keyAAD(id, userID string) []byte { return []byte(sealedSecretAAD + id + ":" + userID) }

func (s *Service) sealSecret(id, userID, secret string) []byte {
	nonce := make([]byte, nonceSize, nonceSize+len(secret)+gcmTagSize)
	_, _ = rand.Read(nonce)
	return s.skAEAD.Seal(nonce, nonce, []byte(secret), keyAAD(id, userID))
}

func (s *Service) openSecret(k *ark.AccessKey) ([]byte, error) {
	if len(k.SealedSecret) < nonceSize+gcmTagSize {
		return nil, fmt.Errorf("iam: sealed secret of access key %s is too short", k.ID)
	}
	sk, err := s.skAEAD.Open(nil, k.SealedSecret[:nonceSize], k.SealedSecret[nonceSize:], keyAAD(k.ID, k.UserID))
	if err != nil {
		return nil, fmt.Errorf("iam: the secret of access key %s cannot be opened with this server's key: %w", k.ID, err)
	}
	return sk, nil
}

// CreateAccessKey creates an access key for a user (an id, a name in the default domain, or
// "domain/name") and returns it with its secret, which is shown this once and never again. A user
// has at most MaxAccessKeys keys.
func (s *Service) CreateAccessKey(ctx context.Context, user, description string) (*ark.AccessKey, string, error) {
	if s.skAEAD == nil {
		return nil, "", errNotOpen
	}
	if len(description) > maxKeyDescLen || !utf8.ValidString(description) {
		return nil, "", ark.Errorf(ark.EInvalidParam, "Parameter (description) is invalid: at most %d characters of UTF-8.", maxKeyDescLen)
	}
	u, err := s.resolveUser(ctx, user)
	if err != nil {
		return nil, "", err
	}
	have, err := s.Store.ListAccessKeys(ctx, u.ID)
	if err != nil {
		return nil, "", internal("list access keys", err)
	}
	if len(have) >= MaxAccessKeys {
		return nil, "", ark.Errorf(ark.EInvalidParam, "Parameter (user:%s) is invalid: a user has at most %d access keys; delete one first.", u.Name, MaxAccessKeys)
	}
	id := randomString(accessKeyIDLen, idAlphabet)
	secret := randomString(secretKeyLen, secretAlphabet)
	k := &ark.AccessKey{ID: id, UserID: u.ID, Description: description, SealedSecret: s.sealSecret(id, u.ID, secret), CreatedAt: s.Now().UTC()}
	if err := s.Store.CreateAccessKey(ctx, k); err != nil {
		if ark.ErrorCode(err) != ark.EInternal {
			return nil, "", err
		}
		return nil, "", internal("create access key", err)
	}
	out := *k
	out.SealedSecret = nil
	return &out, secret, nil
}

// ListAccessKeys lists a user's access keys (every user's for user ""), without secrets.
func (s *Service) ListAccessKeys(ctx context.Context, user string) ([]*ark.AccessKey, error) {
	uid := ""
	if user != "" {
		u, err := s.resolveUser(ctx, user)
		if err != nil {
			return nil, err
		}
		uid = u.ID
	}
	ks, err := s.Store.ListAccessKeys(ctx, uid)
	if err != nil {
		return nil, internal("list access keys", err)
	}
	for _, k := range ks {
		k.SealedSecret = nil
	}
	return ks, nil
}

// FindAccessKey returns an access key without its secret; ark.EAccessKeyNotFound when there is
// none.
func (s *Service) FindAccessKey(ctx context.Context, id string) (*ark.AccessKey, error) {
	k, err := s.Store.FindAccessKey(ctx, id)
	if err != nil {
		return nil, internal("find access key", err)
	}
	if k == nil {
		return nil, errNoAccessKey(id)
	}
	k.SealedSecret = nil
	return k, nil
}

// DeleteAccessKey deletes an access key; requests signed with it fail from then on.
func (s *Service) DeleteAccessKey(ctx context.Context, id string) error {
	ok, err := s.Store.DeleteAccessKey(ctx, id)
	if err != nil {
		return internal("delete access key", err)
	}
	if !ok {
		return errNoAccessKey(id)
	}
	return nil
}

func errNoAccessKey(id string) error {
	return ark.Errorf(ark.EAccessKeyNotFound, "Access key %q does not exist.", clipID(id))
}
