package samld

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"

	"github.com/crewjam/saml"
)

// Metadata is the SP metadata of server (served at
// /remote/saml/metadata/): its entity ID, the ACS (HTTP-POST), the single
// logout service (HTTP-Redirect) and, when the entry has a cert, its
// signing certificate.
func (d *Daemon) Metadata(server string) ([]byte, error) {
	s, err := d.server(server)
	if err != nil {
		return nil, err
	}
	return metadata(s)
}

func metadata(s *Server) ([]byte, error) {
	if s.EntityID == "" || s.ACSURL == "" {
		return nil, fmt.Errorf("SAML server %q has no entity-id or single-sign-on-url", s.Name)
	}
	signed := s.SigningCert != nil
	wantSigned := true
	isDefault := true
	sp := saml.SPSSODescriptor{
		SSODescriptor: saml.SSODescriptor{
			RoleDescriptor: saml.RoleDescriptor{ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol"},
			NameIDFormats:  []saml.NameIDFormat{saml.UnspecifiedNameIDFormat},
		},
		AuthnRequestsSigned:  &signed,
		WantAssertionsSigned: &wantSigned,
		AssertionConsumerServices: []saml.IndexedEndpoint{
			{Binding: saml.HTTPPostBinding, Location: s.ACSURL, Index: 0, IsDefault: &isDefault},
		},
	}
	if s.SigningCert != nil {
		sp.KeyDescriptors = []saml.KeyDescriptor{{
			Use: "signing",
			KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{X509Certificates: []saml.X509Certificate{
				{Data: base64.StdEncoding.EncodeToString(s.SigningCert.Raw)},
			}}},
		}}
	}
	if s.LogoutURL != "" {
		sp.SingleLogoutServices = []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: s.LogoutURL}}
	}
	ed := saml.EntityDescriptor{EntityID: s.EntityID, SPSSODescriptors: []saml.SPSSODescriptor{sp}}
	out, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}
