package ems

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// LabFile is what "fosim ems apply" reads: settings it names replace the
// store's, endpoints and rules are added or replace those with the same
// UID or tag; the rest of the store is kept. A field it does not know is
// an error.
type LabFile struct {
	Serial        string     `json:"serial,omitempty"`
	TenantID      string     `json:"tenant_id,omitempty"`
	ZTNAToken     *bool      `json:"ztna_token,omitempty"`
	TokenLifetime *Duration  `json:"token_lifetime,omitempty"`
	Endpoints     []Endpoint `json:"endpoints,omitempty"`
	Rules         []TagRule  `json:"rules,omitempty"`
}

// ParseLabFile reads a JSON lab file.
func ParseLabFile(b []byte) (*LabFile, error) {
	var f LabFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return &f, nil
}

// Apply merges f into c; on error c is unchanged.
func (c *Config) Apply(f *LabFile) error {
	next := *c
	next.Endpoints = append([]Endpoint(nil), c.Endpoints...)
	next.Rules = append([]TagRule(nil), c.Rules...)
	if f.Serial != "" {
		next.Serial = f.Serial
	}
	if f.TenantID != "" {
		next.TenantID = f.TenantID
	}
	if f.ZTNAToken != nil {
		next.ZTNAToken = *f.ZTNAToken
	}
	if f.TokenLifetime != nil {
		next.TokenLifetime = *f.TokenLifetime
	}
	for _, e := range f.Endpoints {
		if e.CertSN == "" {
			e.CertSN = NewCertSN()
		}
		if err := next.SetEndpoint(e); err != nil {
			return err
		}
	}
	for _, r := range f.Rules {
		if err := next.SetRule(r); err != nil {
			return err
		}
	}
	if err := next.Validate(); err != nil {
		return err
	}
	*c = next
	return nil
}
