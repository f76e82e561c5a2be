// Package ztnatoken verifies the ZTNA tokens FortiClient sends a FortiGate
// (FortiOS 7.4.5+, seed 002): RS256 JWTs of the endpoint's tags, signed
// by its EMS. It is the FortiGate side alone, small so that iked can use
// it: RS256 only (alg none, HS256 with the public key as secret and every
// other algorithm are refused before any key is used), a required exp
// checked against the appliance clock the caller passes, and the uid
// checked against the FortiClient UID the caller knows.
package ztnatoken

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxLen bounds a token: the seed's is 791 bytes; one with a hundred tags
// stays far below.
const MaxLen = 16 << 10

// MaxTags bounds the tags one token may carry.
const MaxTags = 1024

// Tag is one tag of a token.
type Tag struct {
	Name string
	// Type is EMS's tag type (1 zero-trust, 3 vulnerability in the seed).
	Type int
}

// Token is a verified token.
type Token struct {
	UID       string
	Tags      []Tag
	CertSN    string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// HasTag tells whether the token carries tag name.
func (t *Token) HasTag(name string) bool {
	for _, x := range t.Tags {
		if x.Name == name {
			return true
		}
	}
	return false
}

// Errors a caller may tell apart (errors.Is).
var (
	ErrTooLong     = errors.New("ZTNA token too long")
	ErrUIDMismatch = errors.New("ZTNA token is for another FortiClient UID")
)

type claims struct {
	Endpoint struct {
		UID  string `json:"uid"`
		Tags []struct {
			Name string `json:"name"`
			Type int    `json:"type"`
		} `json:"tags"`
		CertSN string `json:"ztna_cert_sn"`
	} `json:"endpoint"`
	jwt.RegisteredClaims
}

// Verify checks token against the EMS key at now (the appliance clock)
// for the FortiClient uid ("" skips the uid check, for a caller that
// reads the uid from the token itself).
func Verify(token string, key *rsa.PublicKey, now time.Time, uid string) (*Token, error) {
	if len(token) > MaxLen {
		return nil, fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLong, len(token), MaxLen)
	}
	if key == nil {
		return nil, errors.New("no EMS key to verify the ZTNA token with")
	}
	var c claims
	// WithValidMethods refuses every other algorithm before the key is
	// asked for.
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return nil, err
	}
	if c.Endpoint.UID == "" {
		return nil, errors.New("ZTNA token without an endpoint uid")
	}
	if uid != "" && c.Endpoint.UID != uid {
		return nil, fmt.Errorf("%w (%s, not %s)", ErrUIDMismatch, c.Endpoint.UID, uid)
	}
	if len(c.Endpoint.Tags) > MaxTags {
		return nil, fmt.Errorf("ZTNA token with %d tags, at most %d", len(c.Endpoint.Tags), MaxTags)
	}
	t := &Token{UID: c.Endpoint.UID, CertSN: c.Endpoint.CertSN, ExpiresAt: c.ExpiresAt.Time}
	if c.IssuedAt != nil {
		t.IssuedAt = c.IssuedAt.Time
	}
	for _, x := range c.Endpoint.Tags {
		if x.Name == "" {
			return nil, errors.New("ZTNA token with an unnamed tag")
		}
		t.Tags = append(t.Tags, Tag{Name: x.Name, Type: x.Type})
	}
	return t, nil
}
