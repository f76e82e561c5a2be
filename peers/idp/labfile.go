package idp

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// LabFile is the declarative form of a lab's IdP ("fosim idp apply FILE"):
// what it names is added or replaced, the rest of the store is kept.
// Passwords are in clear here, as a lab's script is; the store keeps only
// their hashes.
type LabFile struct {
	ServerAddress         string            `json:"server_address"`
	SessionTimeoutMinutes int               `json:"session_timeout_minutes"`
	ForceAuthn            string            `json:"force_authn"` // reuse or honour
	UsernameFormat        string            `json:"username_format"`
	Realms                []Realm           `json:"realms"`
	TrustedSubnets        []string          `json:"trusted_subnets"`
	Users                 []LabUser         `json:"users"`
	ServiceProviders      []ServiceProvider `json:"service_providers"`
}

// LabUser is a user of a LabFile.
type LabUser struct {
	Name       string   `json:"name"`
	Password   string   `json:"password"`
	Email      string   `json:"email"`
	FirstName  string   `json:"first_name"`
	LastName   string   `json:"last_name"`
	Groups     []string `json:"groups"`
	TOTPSecret string   `json:"totp_secret"` // base32, as oathtool -b takes it
}

// ParseLabFile reads a LabFile, refusing fields it does not know (a typo
// must not pass silently).
func ParseLabFile(b []byte) (*LabFile, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f LabFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Apply adds or replaces what f names.
func (c *Config) Apply(f *LabFile) error {
	if f.ServerAddress != "" {
		c.ServerAddress = f.ServerAddress
	}
	if f.SessionTimeoutMinutes != 0 {
		c.SessionTimeoutMinutes = f.SessionTimeoutMinutes
	}
	switch f.ForceAuthn {
	case "":
	case "reuse", "honour":
		c.HonourForceAuthn = f.ForceAuthn == "honour"
	default:
		return fmt.Errorf("force_authn %q: reuse or honour", f.ForceAuthn)
	}
	if f.UsernameFormat != "" {
		c.UsernameFormat = f.UsernameFormat
	}
	for _, n := range f.TrustedSubnets {
		if err := c.SetTrustedSubnet(n, true); err != nil {
			return err
		}
	}
	for _, u := range f.Users {
		if err := c.SetUser(User{Name: u.Name, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
			Groups: u.Groups, TOTPSecret: u.TOTPSecret}, u.Password); err != nil {
			return err
		}
	}
	for _, r := range f.Realms {
		if err := c.SetRealm(r); err != nil {
			return err
		}
	}
	for _, sp := range f.ServiceProviders {
		if err := c.SetServiceProvider(sp); err != nil {
			return err
		}
	}
	return c.Validate()
}
