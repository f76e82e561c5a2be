#!/usr/bin/python3
"""An identity provider for admin SAML SSO tests, built on lasso (Debian
python3-lasso, the SAML library FortiOS itself uses): the appliance's GUI
is its service provider. Run by /usr/bin/python3.

Usage: lasso_admin_idp.py CONFIG.json
CONFIG holds key, cert (PEM files of this IdP), sp_metadata (a file: the
appliance's SP metadata) and users: {name: {"password": P,
"profilename": optional access profile, "sign": "sha256" (default) or
"sha512", the signature algorithm of that user's Responses,
"audience": optional entity ID of another SP the assertion is made for}}.

It listens on 127.0.0.1 (a port the system picks) and prints
"ready PORT" once listening; its entity ID is http://127.0.0.1:PORT/metadata.
Then one JSON line per message lasso took or made, for the test to check:
  {"request": ID, "issuer": SP, "sig_alg": SigAlg}  an AuthnRequest verified
  {"response": ID, "in_response_to": ID, "user": U, "audience": SP,
   "signature_methods": [...], "digest_methods": [...]}  a Response signed
Routes:
  GET  /metadata  this IdP's metadata (WantAuthnRequestsSigned, signing
                  certificate, SingleSignOnService HTTP-Redirect at /sso)
  GET  /sso       the SP's AuthnRequest (HTTP-Redirect); its signature must
                  verify against the SP metadata (lasso's FORCE hint). The
                  answer is a login form naming the request and its SigAlg.
  POST /auth      the form; a Response and assertion both signed by lasso
                  (RSA-SHA256 or -SHA512), in the HTTP-POST binding's
                  self-submitting form, with the attributes "username" and,
                  when the user has one, "profilename".
"""
import datetime
import base64
import html
import json
import secrets
import sys
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import lasso

DSIG = "{http://www.w3.org/2000/09/xmldsig#}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"

SIGNATURE_METHODS = {
    "sha256": lasso.SIGNATURE_METHOD_RSA_SHA256,
    "sha512": lasso.SIGNATURE_METHOD_RSA_SHA512,
}

LOGIN_FORM = """<!DOCTYPE html><html><head><title>lasso test IdP</title></head><body>
<h1>lasso test IdP sign-in</h1>
<p id="idp_request">AuthnRequest {request_id} from {issuer}, signature {sig_alg} verified by lasso</p>
{error}
<form method="post" action="/auth">
<input type="hidden" name="ticket" value="{ticket}">
<p><label>User <input id="idp_user" name="user"></label></p>
<p><label>Password <input id="idp_password" type="password" name="password"></label></p>
<p><button id="idp_submit" type="submit">Sign in</button></p>
</form></body></html>"""

# The HTTP-POST binding (saml-bindings §3.5.4): a form the browser posts
# to the ACS by itself; the button is there for a browser without script.
POST_FORM = """<!DOCTYPE html><html><head><title>lasso test IdP</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{url}">
<input type="hidden" name="SAMLResponse" value="{response}">
{relay}<noscript><button type="submit">Continue</button></noscript>
</form></body></html>"""


def idp_metadata(entity_id, base, cert_pem):
    der_b64 = "".join(l for l in cert_pem.splitlines() if l and not l.startswith("-----"))
    return """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      WantAuthnRequestsSigned="true">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
      <ds:X509Certificate>{cert}</ds:X509Certificate>
    </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{base}/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
""".format(entity_id=html.escape(entity_id), base=html.escape(base), cert=der_b64)


def saml_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def report(**event):
    print(json.dumps(event), flush=True)


def report_response(b64_response, user):
    """Reports the algorithms lasso signed a Response with."""
    root = ET.fromstring(base64.b64decode(b64_response))
    report(response=root.get("ID"), in_response_to=root.get("InResponseTo"), user=user,
           audience=[a.text for a in root.iter(SAML + "Audience")],
           signature_methods=[m.get("Algorithm") for m in root.iter(DSIG + "SignatureMethod")],
           digest_methods=[m.get("Algorithm") for m in root.iter(DSIG + "DigestMethod")])


def text_attribute(name, value):
    attr = lasso.Saml2Attribute()
    attr.name = name
    attr.nameFormat = lasso.SAML2_ATTRIBUTE_NAME_FORMAT_BASIC
    text = lasso.MiscTextNode.newWithString(value)
    text.textChild = True
    val = lasso.Saml2AttributeValue()
    val.any = (text,)
    attr.attributeValue = (val,)
    return attr


class IdP:
    def __init__(self, cfg, base):
        self.users = cfg["users"]
        self.entity_id = base + "/metadata"
        with open(cfg["cert"]) as f:
            cert = f.read()
        with open(cfg["key"]) as f:
            key = f.read()
        with open(cfg["sp_metadata"]) as f:
            sp_metadata = f.read()
        self.metadata = idp_metadata(self.entity_id, base, cert)
        self.server = lasso.Server.newFromBuffers(self.metadata, key, None, cert)
        self.server.addProviderFromBuffer(lasso.PROVIDER_ROLE_SP, sp_metadata)
        # lasso objects are not shared across threads: one login at a time.
        self.lock = threading.Lock()
        self.pending = {}  # login form ticket -> (lasso.Login, RelayState)

    def start(self, query):
        """Verifies an AuthnRequest and returns the login form for it."""
        q = urllib.parse.parse_qs(query)
        with self.lock:
            login = lasso.Login(self.server)
            login.setSignatureVerifyHint(lasso.PROFILE_SIGNATURE_VERIFY_HINT_FORCE)
            login.processAuthnRequestMsg(query)
            sig_alg = q.get("SigAlg", ["(none)"])[0]
            report(request=login.request.id, issuer=login.remoteProviderId, sig_alg=sig_alg)
            ticket = secrets.token_urlsafe(12)
            self.pending[ticket] = (login, q.get("RelayState", [""])[0])
            return LOGIN_FORM.format(request_id=html.escape(login.request.id),
                                     issuer=html.escape(login.remoteProviderId),
                                     sig_alg=html.escape(sig_alg),
                                     ticket=html.escape(ticket), error="")

    def answer(self, form):
        """Checks the login form; returns the HTTP-POST binding's form."""
        ticket = form.get("ticket", [""])[0]
        name = form.get("user", [""])[0]
        with self.lock:
            if ticket not in self.pending:
                return 400, "unknown login"
            user = self.users.get(name)
            if user is None or user["password"] != form.get("password", [""])[0]:
                return 403, "bad credentials"
            login, relay = self.pending.pop(ticket)
            self.server.signatureMethod = SIGNATURE_METHODS[user.get("sign", "sha256")]
            login.setSignatureHint(lasso.PROFILE_SIGNATURE_HINT_FORCE)
            login.validateRequestMsg(True, True)
            now = datetime.datetime.now(datetime.timezone.utc)
            login.buildAssertion(lasso.SAML2_AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
                                 saml_time(now), None,
                                 saml_time(now - datetime.timedelta(minutes=1)),
                                 saml_time(now + datetime.timedelta(minutes=5)))
            assertion = login.assertion
            name_id = lasso.Saml2NameID()
            name_id.content = name
            name_id.format = lasso.SAML2_NAME_IDENTIFIER_FORMAT_UNSPECIFIED
            assertion.subject.nameID = name_id
            if user.get("audience"):
                # An assertion for another SP: signed all the same.
                restriction = lasso.Saml2AudienceRestriction()
                restriction.audience = user["audience"]
                assertion.conditions.audienceRestriction = (restriction,)
            attrs = [text_attribute("username", name)]
            if user.get("profilename"):
                attrs.append(text_attribute("profilename", user["profilename"]))
            statement = lasso.Saml2AttributeStatement()
            statement.attribute = tuple(attrs)
            assertion.attributeStatement = (statement,)
            login.buildAuthnResponseMsg()
            report_response(login.msgBody, name)
            relay_field = ""
            if relay:
                relay_field = '<input type="hidden" name="RelayState" value="%s">\n' % html.escape(relay)
            return 200, POST_FORM.format(url=html.escape(login.msgUrl),
                                         response=html.escape(login.msgBody), relay=relay_field)


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    state = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, code, text, content_type="text/html; charset=utf-8"):
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            idp = state["idp"]
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/metadata":
                return self.reply(200, idp.metadata, "application/samlmetadata+xml")
            if url.path != "/sso":
                return self.reply(404, "no such page")
            try:
                self.reply(200, idp.start(url.query))
            except lasso.Error as e:  # lasso refused the AuthnRequest
                self.reply(400, "AuthnRequest refused by lasso: %s (%d)" % (html.escape(str(e)), e.code))

        def do_POST(self):
            if self.path != "/auth":
                return self.reply(404, "no such page")
            size = min(int(self.headers.get("Content-Length", "0")), 65536)
            try:
                code, text = state["idp"].answer(urllib.parse.parse_qs(self.rfile.read(size).decode()))
            except lasso.Error as e:
                code, text = 500, "lasso could not answer: %s (%d)" % (html.escape(str(e)), e.code)
            self.reply(code, text)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    # The entity ID holds the port, so lasso is set up once it is bound.
    state["idp"] = IdP(cfg, "http://127.0.0.1:%d" % port)
    print("ready", port, flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
