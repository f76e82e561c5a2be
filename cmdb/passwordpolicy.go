package cmdb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// "config system password-policy" applies to new administrator passwords
// (apply-to admin-password) and IPsec pre-shared keys (apply-to
// ipsec-preshared-key) while its status is enable: at "set password" and
// "set psksecret", and at the forced change of a first login.

// Password policy targets (apply-to options).
const (
	PolicyAdminPassword = "admin-password"
	PolicyPresharedKey  = "ipsec-preshared-key"
)

// PasswordPolicyError is a new secret the password policy refuses.
// FortiOS's own texts are not documented; these name the rule, never the
// secret.
type PasswordPolicyError struct{ Rule string }

func (e *PasswordPolicyError) Error() string {
	return "The new password does not meet the password policy: " + e.Rule + "."
}

// CheckPasswordPolicy checks a new secret against the running policy. old
// is the clear text of the secret replaced when known ("" otherwise),
// oldHash its stored admin password hash ("" when none).
func (s *Store) CheckPasswordPolicy(applyTo, secret, old, oldHash string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return checkPasswordPolicy(runningView{s}, s.schema, applyTo, secret, old, oldHash)
}

func checkPasswordPolicy(v View, schema *Schema, applyTo, secret, old, oldHash string) error {
	const t = "system password-policy"
	if schema.Table(t) == nil || singletonValue(v, schema, t, "status") != "enable" {
		return nil
	}
	get := func(attr string) string { return singletonValue(v, schema, t, attr) }
	e := v.Entry(t, "")
	if e == nil {
		e = NewEntry("")
	}
	if !slices.Contains(values(schema.Table(t), e, "apply-to"), applyTo) {
		return nil
	}
	num := func(attr string) int {
		n, _ := strconv.Atoi(get(attr))
		return n
	}
	var lower, upper, digit, other int
	for _, r := range secret {
		switch {
		case unicode.IsLower(r):
			lower++
		case unicode.IsUpper(r):
			upper++
		case unicode.IsDigit(r):
			digit++
		default:
			other++
		}
	}
	for _, c := range []struct {
		have int
		attr string
		what string
	}{
		{len([]rune(secret)), "minimum-length", "characters"},
		{lower, "min-lower-case-letter", "lower case letters"},
		{upper, "min-upper-case-letter", "upper case letters"},
		{other, "min-non-alphanumeric", "non-alphanumeric characters"},
		{digit, "min-number", "numbers"},
	} {
		if want := num(c.attr); c.have < want {
			return &PasswordPolicyError{Rule: fmt.Sprintf("it must have at least %d %s (%s)", want, c.what, c.attr)}
		}
	}
	if want := num("min-change-characters"); want > 0 {
		n := 0
		seen := map[rune]bool{}
		for _, r := range secret {
			if !seen[r] && !strings.ContainsRune(old, r) {
				n++
			}
			seen[r] = true
		}
		if n < want {
			return &PasswordPolicyError{Rule: fmt.Sprintf("it must have at least %d characters that are not in the old password (min-change-characters)", want)}
		}
	} else if get("reuse-password") == "disable" && oldHash != "" && CheckPassword(oldHash, secret) {
		return &PasswordPolicyError{Rule: "it must not be the old password (reuse-password disable)"}
	}
	return nil
}

// checkSecretPolicy is the policy check of "set password" (system admin)
// and "set psksecret" (phase1): words are what the admin typed.
func (s *Session) checkSecretPolicy(t *Table, a *Attr, before *Entry, words []string) error {
	if len(words) != 1 || words[0] == "ENC" {
		return nil // an ENC value was set by someone who saw the policy
	}
	var applyTo, oldHash string
	switch {
	case t.Path == "system admin" && a.Name == "password":
		applyTo = PolicyAdminPassword
		if before != nil {
			if h := before.Values["password"]; len(h) == 2 {
				oldHash = h[1]
			}
		}
	case t.Path == "vpn ipsec phase1-interface" && (a.Name == "psksecret" || a.Name == "psksecret-remote"):
		applyTo = PolicyPresharedKey
	default:
		return nil
	}
	if err := checkPasswordPolicy(s.ov, s.schema, applyTo, words[0], "", oldHash); err != nil {
		return &Error{Msg: err.Error(), Code: CodeValue}
	}
	return nil
}
