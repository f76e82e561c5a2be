#!/usr/bin/python3
"""A SAML identity provider made with pysaml2 (Debian python3-pysaml2), to
prove the appliance's SAML service provider (authd + samld) against an IdP
nobody here wrote.

  pysaml2_idp.py --entity-id E --base URL --key-file K --cert-file C
                 --sp-metadata F --users JSON --port N

It listens on 127.0.0.1:N, prints "ready", and serves
  GET  /sso?SAMLRequest=…&RelayState=…   (HTTP-Redirect binding): a login form
  POST /login                            the form: checks the password and
                                         answers with the HTTP-POST binding's
                                         auto-posting form to the SP's ACS
--users is {"name": {"password": P, "groups": [G…]}}; the assertion carries
the attributes "username" and "group" and is signed (RSA-SHA256).
"""
import argparse
import html
import http.server
import json
import secrets
import sys
import urllib.parse

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--entity-id", required=True)
    p.add_argument("--base", required=True)
    p.add_argument("--key-file", required=True)
    p.add_argument("--cert-file", required=True)
    p.add_argument("--sp-metadata", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    users = json.loads(args.users)

    conf = IdPConfig()
    conf.load({
        "entityid": args.entity_id,
        "key_file": args.key_file,
        "cert_file": args.cert_file,
        "metadata": {"local": [args.sp_metadata]},
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(args.base + "/sso", BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
            "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None}},
            "sign_response": True,
            "sign_assertion": True,
        }},
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "allow_unknown_attributes": True,
    })
    idp = Server(config=conf)
    pending = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def page(self, code, body):
            b = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            if u.path != "/sso":
                return self.page(404, "not found")
            q = urllib.parse.parse_qs(u.query)
            try:
                req = idp.parse_authn_request(q["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
            except Exception as e:  # a request pysaml2 refuses
                return self.page(400, "bad AuthnRequest: %s" % html.escape(str(e)))
            key = secrets.token_hex(8)
            pending[key] = (req, q.get("RelayState", [""])[0])
            self.page(200, """<html><body><form method="post" action="/login">
<input type="hidden" name="key" value="%s">
<input type="text" name="username"> <input type="password" name="password">
<input type="submit" value="Log in"></form></body></html>""" % key)

        def do_POST(self):
            if self.path != "/login":
                return self.page(404, "not found")
            n = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(n).decode())
            key = form.get("key", [""])[0]
            user = form.get("username", [""])[0]
            if key not in pending:
                return self.page(400, "no login pending")
            if user not in users or users[user]["password"] != form.get("password", [""])[0]:
                return self.page(403, "wrong username or password")
            req, relay = pending.pop(key)
            msg = req.message
            acs = msg.assertion_consumer_service_url
            resp = idp.create_authn_response(
                identity={"username": [user], "group": users[user].get("groups", [])},
                in_response_to=msg.id,
                destination=acs,
                sp_entity_id=msg.issuer.text,
                name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=user),
                authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
                sign_response=True,
                sign_assertion=True,
                sign_alg=SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA256,
            )
            http_args = idp.apply_binding(BINDING_HTTP_POST, "%s" % resp, acs, relay, response=True)
            self.page(200, http_args["data"])

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
