// Package samld is the appliance's SAML 2.0 service provider (FortiOS's
// samld), configured from `config user saml`. authd serves its HTTP
// endpoints and calls it: Login builds the AuthnRequest redirect to the
// IdP (seed 001's shape and debug dumps), Consume verifies what the IdP
// posts to the ACS, Metadata is the SP metadata, Logout and HandleLogout
// the single logout in the HTTP-Redirect binding.
//
// crewjam/saml gives the protocol and metadata types; goxmldsig (v1.6.1)
// verifies XML signatures with a validation clock set to the appliance
// clock, and samld does every other check itself, so that several
// appliances with their own clocks can run in one process (crewjam's
// time checks read package globals). See README.md for the checks.
package samld
