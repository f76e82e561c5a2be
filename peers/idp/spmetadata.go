package idp

import (
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crewjam/saml"
)

// ServiceProviderFromMetadata fills an SP's entity id, ACS URLs (the
// HTTP-POST ones, the default first, then up to three alternatives), SLS
// URL, signing certificate and "SAML request must be signed by SP" (from
// AuthnRequestsSigned) from its SAML metadata, as FortiAuthenticator's
// "Import SP metadata" does. Name, prefix and the assertion settings are
// the caller's.
func ServiceProviderFromMetadata(b []byte) (ServiceProvider, error) {
	var d saml.EntityDescriptor
	if err := xml.Unmarshal(b, &d); err != nil {
		return ServiceProvider{}, fmt.Errorf("SP metadata: %v", err)
	}
	if d.EntityID == "" || len(d.SPSSODescriptors) == 0 {
		return ServiceProvider{}, errors.New("SP metadata: no EntityDescriptor with an entityID and an SPSSODescriptor")
	}
	spd := d.SPSSODescriptors[0]
	sp := ServiceProvider{EntityID: d.EntityID}
	acs := slices.Clone(spd.AssertionConsumerServices)
	acs = slices.DeleteFunc(acs, func(e saml.IndexedEndpoint) bool { return e.Binding != saml.HTTPPostBinding })
	if len(acs) == 0 {
		return ServiceProvider{}, errors.New("SP metadata: no AssertionConsumerService with the HTTP-POST binding")
	}
	slices.SortStableFunc(acs, func(a, b saml.IndexedEndpoint) int {
		ad, bd := a.IsDefault != nil && *a.IsDefault, b.IsDefault != nil && *b.IsDefault
		switch {
		case ad && !bd:
			return -1
		case bd && !ad:
			return 1
		}
		return a.Index - b.Index
	})
	sp.ACSURL = acs[0].Location
	for _, e := range acs[1:min(len(acs), 1+MaxAlternativeACSURLs)] {
		sp.AlternativeACSURLs = append(sp.AlternativeACSURLs, e.Location)
	}
	for _, b := range []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding} {
		if i := slices.IndexFunc(spd.SingleLogoutServices, func(e saml.Endpoint) bool { return e.Binding == b }); i >= 0 {
			sp.SLSURL = spd.SingleLogoutServices[i].Location
			break
		}
	}
	for _, k := range spd.KeyDescriptors {
		if (k.Use == "signing" || k.Use == "") && len(k.KeyInfo.X509Data.X509Certificates) > 0 {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(k.KeyInfo.X509Data.X509Certificates[0].Data), ""))
			if err != nil {
				return ServiceProvider{}, fmt.Errorf("SP metadata: signing certificate: %v", err)
			}
			sp.CertificatePEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
			if _, err := sp.certificate(); err != nil {
				return ServiceProvider{}, fmt.Errorf("SP metadata: %v", err)
			}
			break
		}
	}
	sp.RequireSignedRequests = spd.AuthnRequestsSigned != nil && *spd.AuthnRequestsSigned
	if sp.RequireSignedRequests && sp.CertificatePEM == "" {
		return ServiceProvider{}, errors.New("SP metadata: AuthnRequestsSigned without a signing certificate")
	}
	return sp, nil
}
