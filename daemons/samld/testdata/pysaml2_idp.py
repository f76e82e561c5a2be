"""A pysaml2 IdP for samld's tests (run by /usr/bin/python3).

argv[1] is a JSON file: entity_id, sso_url, slo_url, key_file, cert_file,
sp_metadata (samld's metadata, a file), sp_cert (the SP's signing
certificate, base64 DER). Each line on stdin is a JSON request; each
answer is one JSON line on stdout:

  {"op": "login", "url": <samld's redirect URL>, "user": ..., "attributes": {...},
   "sign_response": bool, "sign_assertion": bool}
  -> {"request_id", "acs", "force_authn", "signature_verified", "response"}
"""
import base64
import json
import sys
import urllib.parse

from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED, NameID
from saml2.server import Server
from saml2.sigver import verify_redirect_signature
from saml2.authn_context import PASSWORDPROTECTEDTRANSPORT


def main():
    with open(sys.argv[1]) as f:
        c = json.load(f)
    conf = IdPConfig()
    conf.load({
        "entityid": c["entity_id"],
        "service": {"idp": {
            "endpoints": {
                "single_sign_on_service": [(c["sso_url"], BINDING_HTTP_REDIRECT)],
                "single_logout_service": [(c["slo_url"], BINDING_HTTP_REDIRECT)],
            },
            "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
            "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                   "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}},
        }},
        "metadata": {"local": [c["sp_metadata"]]},
        "key_file": c["key_file"],
        "cert_file": c["cert_file"],
        "xmlsec_binary": "/usr/bin/xmlsec1",
    })
    idp = Server(config=conf)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            out = login(idp, c, req)
        except Exception as e:  # the test prints it
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(out), flush=True)


def login(idp, c, req):
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(req["url"]).query))
    verified = False
    if "Signature" in query:
        # The SP's Redirect-binding signature, by the certificate in its metadata.
        verified = bool(verify_redirect_signature(query, idp.sec.sec_backend, cert=c["sp_cert"]))
    parsed = idp.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
    authn = parsed.message
    identity = req.get("attributes", {})
    resp = idp.create_authn_response(
        identity,
        in_response_to=authn.id,
        destination=authn.assertion_consumer_service_url,
        sp_entity_id=authn.issuer.text,
        name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=req["user"]),
        authn={"class_ref": PASSWORDPROTECTEDTRANSPORT, "authn_auth": c["entity_id"]},
        sign_response=req.get("sign_response", True),
        sign_assertion=req.get("sign_assertion", True),
    )
    return {
        "request_id": authn.id,
        "acs": authn.assertion_consumer_service_url,
        "force_authn": authn.force_authn,
        "signature_verified": verified,
        "response": base64.b64encode(str(resp).encode()).decode(),
        "relay_state": query.get("RelayState", ""),
    }


if __name__ == "__main__":
    main()
