#!/usr/bin/python3
"""A SAML service provider built on pysaml2 (Debian python3-pysaml2, with
xmlsec1), for tests of the appliance as the identity provider of admin SSO
(config system saml, role identity-provider). Run by /usr/bin/python3.

It prints {"ready": true} once saml2 is imported, then reads one JSON
object a line on stdin and answers each with one JSON line, {"result": ...}
or {"error": ...}. Every command names the SP it is played by, "sp":
{"entity_id", "acs", "sls", "key", "cert" (PEM files), "idp_metadata" (a
file: the appliance's IdP metadata as GET /saml-idp/<prefix>/metadata/
serves it)}; one Saml2Client is made per SP.

  {"command": "metadata", "sp"}
      pysaml2's metadata of the SP: {"xml"}
  {"command": "request", "sp", "signed": bool}
      an AuthnRequest in the HTTP-Redirect binding, signed in the query
      string (RSA-SHA256) or not: {"id", "url"}
  {"command": "response", "sp", "request_id", "saml_response"}
      pysaml2 verifies the Response as an answer to that request only
      (signed assertion, audience, Destination = the ACS, InResponseTo,
      conditions): {"name_id", "attributes", "issuer", "audience",
      "destination", "in_response_to", "signed", "session_index"}, or an
      error "refused by pysaml2: ..."
  {"command": "logout", "sp", "name_id", "session_index", "signed": bool}
      a LogoutRequest in the HTTP-Redirect binding: {"id", "url"}
  {"command": "logout_response", "sp", "request_id", "query"}
      pysaml2 parses the IdP's LogoutResponse and checks its query string
      signature against the IdP metadata's signing certificate
      (saml2.sigver.verify_redirect_signature); InResponseTo must be the
      request: {"status", "sig_alg"}
"""
import json
import logging
import urllib.parse

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED, NameID
from saml2.sigver import verify_redirect_signature
from saml2.xmldsig import SIG_RSA_SHA256

from sp_commands import Refused, serve


class Said(logging.Handler):
    """Keeps what pysaml2 logs, for the refusal it gives without raising."""

    def emit(self, record):
        pysaml2_said.append(record.getMessage())


pysaml2_said = []
logging.getLogger("saml2").addHandler(Said(logging.ERROR))
logging.getLogger("saml2").propagate = False


def config(sp):
    conf = SPConfig()
    conf.load({
        "entityid": sp["entity_id"],
        "key_file": sp["key"],
        "cert_file": sp["cert"],
        # The SP's own metadata is made before it has the IdP's.
        "metadata": {"local": [sp["idp_metadata"]]} if sp.get("idp_metadata") else {},
        "service": {"sp": {
            "endpoints": {
                "assertion_consumer_service": [(sp["acs"], BINDING_HTTP_POST)],
                "single_logout_service": [(sp["sls"], BINDING_HTTP_REDIRECT)],
            },
            "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
            "authn_requests_signed": True,
            "want_assertions_signed": True,
            "want_response_signed": False,
            "allow_unsolicited": False,
        }},
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "allow_unknown_attributes": True,
    })
    return conf


class SP:
    def __init__(self):
        self.clients = {}
        self.logouts = set()  # LogoutRequest IDs sent, not yet answered

    def client(self, sp):
        key = json.dumps(sp, sort_keys=True)
        if key not in self.clients:
            self.clients[key] = Saml2Client(config(sp))
        return self.clients[key]

    @staticmethod
    def idp_id(cl):
        ids = list(cl.metadata.identity_providers())
        if len(ids) != 1:
            raise Refused("expected one IdP in the metadata, pysaml2 has %r" % ids)
        return ids[0]

    def metadata(self, c):
        return {"xml": str(entity_descriptor(config(c["sp"])))}

    def request(self, c):
        cl = self.client(c["sp"])
        extra = {"sign": True, "sigalg": SIG_RSA_SHA256} if c.get("signed") else {"sign": False}
        reqid, info = cl.prepare_for_authenticate(entityid=self.idp_id(cl), relay_state="/ng/dashboard",
                                                  binding=BINDING_HTTP_REDIRECT, **extra)
        return {"id": reqid, "url": dict(info["headers"])["Location"]}

    def response(self, c):
        cl = self.client(c["sp"])
        pysaml2_said.clear()
        try:
            resp = cl.parse_authn_request_response(c["saml_response"], BINDING_HTTP_POST,
                                                   outstanding={c["request_id"]: "/ng/dashboard"})
        except Exception as e:  # pysaml2 raises many kinds; the reason is the test's output
            raise Refused("refused by pysaml2: %s: %s" % (type(e).__name__, e))
        if resp is None or resp.assertion is None:
            # Some refusals (a Destination not this SP's ACS) are only
            # logged, and no assertion is returned.
            raise Refused("refused by pysaml2: no assertion accepted (%s)" % "; ".join(pysaml2_said))
        a = resp.assertion
        signed = (["Response"] if resp.response.signature is not None else []) + \
                 (["Assertion"] if a.signature is not None else [])
        return {
            "name_id": resp.name_id.text,
            "attributes": resp.ava,
            "issuer": resp.issuer(),
            "audience": [aud.text for ar in a.conditions.audience_restriction for aud in ar.audience],
            "destination": resp.response.destination,
            "in_response_to": resp.in_response_to,
            "signed": signed,
            "session_index": a.authn_statement[0].session_index,
        }

    def logout(self, c):
        cl = self.client(c["sp"])
        idp = self.idp_id(cl)
        dest = cl.metadata.single_logout_service(idp, BINDING_HTTP_REDIRECT, "idpsso")[0]["location"]
        name_id = NameID(text=c["name_id"], format=NAMEID_FORMAT_UNSPECIFIED)
        reqid, req = cl.create_logout_request(dest, idp, name_id=name_id,
                                              session_indexes=[c["session_index"]], sign=False)
        # The HTTP-Redirect binding signs the query string, not the XML.
        info = cl.apply_binding(BINDING_HTTP_REDIRECT, str(req), dest, relay_state="/login",
                                sign=bool(c.get("signed")), sigalg=SIG_RSA_SHA256)
        self.logouts.add(reqid)
        return {"id": reqid, "url": dict(info["headers"])["Location"]}

    def logout_response(self, c):
        cl = self.client(c["sp"])
        if c["request_id"] not in self.logouts:
            raise Refused("no LogoutRequest %r was sent" % c["request_id"])
        q = {k: v[0] for k, v in urllib.parse.parse_qs(c["query"]).items()}
        if "Signature" not in q or "SigAlg" not in q:
            raise Refused("refused by pysaml2: the LogoutResponse is not signed")
        certs = cl.metadata.certs(self.idp_id(cl), "idpsso", "signing")
        if not any(verify_redirect_signature(q, cl.sec.sec_backend, cert) for cert in certs):
            raise Refused("refused by pysaml2: the LogoutResponse signature does not verify")
        try:
            resp = cl.parse_logout_request_response(q["SAMLResponse"], BINDING_HTTP_REDIRECT)
        except Exception as e:
            raise Refused("refused by pysaml2: %s: %s" % (type(e).__name__, e))
        if resp is None:
            raise Refused("refused by pysaml2: no LogoutResponse")
        if resp.response.in_response_to != c["request_id"]:
            raise Refused("InResponseTo %r is not %r" % (resp.response.in_response_to, c["request_id"]))
        self.logouts.discard(c["request_id"])
        return {"status": resp.response.status.status_code.value, "sig_alg": q["SigAlg"]}


def main():
    sp = SP()
    serve({"metadata": sp.metadata, "request": sp.request, "response": sp.response,
           "logout": sp.logout, "logout_response": sp.logout_response})


if __name__ == "__main__":
    main()
