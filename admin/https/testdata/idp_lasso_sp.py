#!/usr/bin/python3
"""A SAML service provider built on lasso (Debian python3-lasso, the SAML
library FortiOS itself uses), for tests of the appliance as the identity
provider of admin SSO (config system saml, role identity-provider). Run
by /usr/bin/python3.

It prints {"ready": true}, then reads one JSON object a line on stdin and
answers each with one JSON line, {"result": ...} or {"error": ...}. Every
command names the SP it is played by, "sp": {"entity_id", "acs", "sls",
"key", "cert" (PEM files), "idp_metadata" (a file: the appliance's IdP
metadata as GET /saml-idp/<prefix>/metadata/ serves it)}; one lasso.Server
is made per SP. lasso's own Login and Logout objects are kept between the
request and its answer, so lasso itself matches InResponseTo.

  {"command": "metadata", "sp"}
      the SP's metadata (signing certificate, HTTP-POST ACS, HTTP-Redirect
      SLS, AuthnRequestsSigned): {"xml"}
  {"command": "request", "sp", "signed": bool}
      an AuthnRequest in the HTTP-Redirect binding, signed in the query
      string (RSA-SHA256) or not at all: {"id", "url"}
  {"command": "response", "sp", "request_id", "saml_response"}
      lasso verifies the Response of that request (a signature by the
      IdP's metadata certificate is required, InResponseTo, then acceptSso
      and lasso's validateConditions for audience and times); Destination
      and the SubjectConfirmation Recipient must be the ACS (checked here:
      lasso leaves them to the SP): {"name_id", "attributes", "issuer",
      "audience", "destination", "in_response_to", "signed", "session"},
      or an error "refused by lasso: ..." ("refused by the lasso SP: ..."
      for the checks made here)
  {"command": "logout", "sp", "session", "signed": bool}
      a LogoutRequest for that session (NameID, SessionIndex) in the
      HTTP-Redirect binding: {"id", "url"}
  {"command": "logout_response", "sp", "request_id", "query"}
      lasso verifies the IdP's LogoutResponse (query string signature
      required, InResponseTo): {"status"}
"""
import base64
import json
import xml.etree.ElementTree as ET

import lasso

from sp_commands import Refused, serve

DSIG = "{http://www.w3.org/2000/09/xmldsig#}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"

SP_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      AuthnRequestsSigned="true" WantAssertionsSigned="true">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
      <ds:X509Certificate>{cert}</ds:X509Certificate>
    </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{sls}"/>
    <md:AssertionConsumerService index="0" isDefault="true"
        Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"""


def escape(s):
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def sp_metadata(sp):
    with open(sp["cert"]) as f:
        der_b64 = "".join(l for l in f.read().splitlines() if l and not l.startswith("-----"))
    return SP_METADATA.format(entity_id=escape(sp["entity_id"]), cert=der_b64,
                              acs=escape(sp["acs"]), sls=escape(sp["sls"]))


class SP:
    def __init__(self):
        self.servers = {}
        self.logins = {}   # AuthnRequest ID -> lasso.Login that made it
        self.logouts = {}  # LogoutRequest ID -> lasso.Logout that made it

    def server(self, sp):
        key = json.dumps(sp, sort_keys=True)
        if key not in self.servers:
            with open(sp["key"]) as f:
                private_key = f.read()
            with open(sp["cert"]) as f:
                cert = f.read()
            s = lasso.Server.newFromBuffers(sp_metadata(sp), private_key, None, cert)
            s.signatureMethod = lasso.SIGNATURE_METHOD_RSA_SHA256
            s.addProvider(lasso.PROVIDER_ROLE_IDP, sp["idp_metadata"], None, None)
            self.servers[key] = s
        return self.servers[key]

    @staticmethod
    def idp_id(server):
        ids = list(server.providers.keys())
        if len(ids) != 1:
            raise Refused("expected one IdP, lasso has %r" % ids)
        return ids[0]

    def metadata(self, c):
        return {"xml": sp_metadata(c["sp"])}

    def request(self, c):
        s = self.server(c["sp"])
        login = lasso.Login(s)
        login.initAuthnRequest(self.idp_id(s), lasso.HTTP_METHOD_REDIRECT)
        login.request.protocolBinding = lasso.SAML2_METADATA_BINDING_POST
        login.request.nameIdPolicy.allowCreate = True
        if not c.get("signed"):
            login.setSignatureHint(lasso.PROFILE_SIGNATURE_HINT_FORBID)
        login.buildAuthnRequestMsg()
        self.logins[login.request.id] = login
        return {"id": login.request.id, "url": login.msgUrl}

    def response(self, c):
        s = self.server(c["sp"])
        # The Login that made the request, so lasso checks InResponseTo;
        # a fresh one for an ID this SP never sent.
        login = self.logins.pop(c["request_id"], None) or lasso.Login(s)
        login.setSignatureVerifyHint(lasso.PROFILE_SIGNATURE_VERIFY_HINT_FORCE)
        try:
            login.processAuthnResponseMsg(c["saml_response"])
        except lasso.Error as e:
            raise Refused("refused by lasso: %s (%d)" % (e, e.code))
        try:
            login.acceptSso()
        except lasso.Error as e:
            raise Refused("refused by lasso at acceptSso: %s (%d)" % (e, e.code))
        assertion = login.assertion
        # lasso 2.8 verifies the signatures and InResponseTo but leaves
        # the rest to the SP, as mod_auth_mellon does it: lasso's own
        # condition check (audience = this SP, NotBefore/NotOnOrAfter),
        # and the Destination and Recipient compared with the ACS.
        if assertion.validateConditions(c["sp"]["entity_id"]) != lasso.SAML2_ASSERTION_VALID:
            raise Refused("refused by lasso: the assertion's conditions (audience %r, times) are not valid for %s" %
                          ([r.audience for r in assertion.conditions.audienceRestriction or ()], c["sp"]["entity_id"]))
        if login.response.destination != c["sp"]["acs"]:
            raise Refused("refused by the lasso SP: Destination %r is not the ACS %r" %
                          (login.response.destination, c["sp"]["acs"]))
        recipients = [assertion.subject.subjectConfirmation.subjectConfirmationData.recipient]
        if recipients != [c["sp"]["acs"]]:
            raise Refused("refused by the lasso SP: Recipient %r is not the ACS %r" % (recipients, c["sp"]["acs"]))
        attrs = {}
        for stmt in assertion.attributeStatement or ():
            for attr in stmt.attribute or ():
                attrs[attr.name] = ["".join(n.content for n in v.any if hasattr(n, "content"))
                                    for v in attr.attributeValue or ()]
        audience = []
        for r in (assertion.conditions.audienceRestriction or ()) if assertion.conditions else ():
            audience.append(r.audience)
        # Which elements carried a signature, read from the XML lasso took.
        root = ET.fromstring(base64.b64decode(c["saml_response"]))
        signed = []
        if root.find(DSIG + "Signature") is not None:
            signed.append("Response")
        for a in root.iter(SAML + "Assertion"):
            if a.find(DSIG + "Signature") is not None:
                signed.append("Assertion")
        return {
            "name_id": assertion.subject.nameId.content,
            "attributes": attrs,
            "issuer": login.response.issuer.content,
            "audience": audience,
            "destination": login.response.destination,
            "in_response_to": login.response.inResponseTo,
            "signed": signed,
            "session": login.session.dump(),
        }

    def logout(self, c):
        s = self.server(c["sp"])
        lo = lasso.Logout(s)
        lo.setSessionFromDump(c["session"])
        if not c.get("signed"):
            lo.setSignatureHint(lasso.PROFILE_SIGNATURE_HINT_FORBID)
        lo.initRequest(self.idp_id(s), lasso.HTTP_METHOD_REDIRECT)
        lo.buildRequestMsg()
        self.logouts[lo.request.id] = lo
        return {"id": lo.request.id, "url": lo.msgUrl}

    def logout_response(self, c):
        lo = self.logouts.pop(c["request_id"], None)
        if lo is None:
            raise Refused("no LogoutRequest %r was sent" % c["request_id"])
        lo.setSignatureVerifyHint(lasso.PROFILE_SIGNATURE_VERIFY_HINT_FORCE)
        try:
            lo.processResponseMsg(c["query"])
        except lasso.Error as e:
            raise Refused("refused by lasso: %s (%d)" % (e, e.code))
        return {"status": lo.response.status.statusCode.value}


def main():
    sp = SP()
    serve({"metadata": sp.metadata, "request": sp.request, "response": sp.response,
           "logout": sp.logout, "logout_response": sp.logout_response})


if __name__ == "__main__":
    main()
