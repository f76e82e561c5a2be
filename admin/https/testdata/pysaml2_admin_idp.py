#!/usr/bin/python3
"""An identity provider for admin SAML SSO tests, built on pysaml2 (Debian
python3-pysaml2): the appliance's GUI is its service provider.

Usage: pysaml2_admin_idp.py CONFIG.json
CONFIG holds entity_id, base (this IdP's URL), key, cert (PEM files),
sp_metadata (a file), port (0: any), and users: {name: {"password": P,
"profilename": optional access profile, "groupmatch" and "adoms":
optional comma-separated values of those attributes, "sign": "sha256" (default) or
"sha512", the signature and digest algorithms of that user's Responses}}.

Routes, on 127.0.0.1:port ("ready PORT" is printed once listening):
  GET  /sso    the HTTP-Redirect AuthnRequest; answers with a login form
  POST /auth   the form; a signed Response (RSA-SHA256 or -SHA512) in the HTTP-POST
               binding's self-submitting form, carrying the attributes
               "username" and, when the user has them, "profilename",
               "groupmatch" and "adoms".
"""
import html
import json
import secrets
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, DIGEST_SHA512, SIG_RSA_SHA256, SIG_RSA_SHA512

LOGIN_FORM = """<!DOCTYPE html><html><head><title>Test IdP</title></head><body>
<h1>Test IdP sign-in</h1>
<form method="post" action="/auth">
<input type="hidden" name="ticket" value="{ticket}">
<p><label>User <input id="idp_user" name="user"></label></p>
<p><label>Password <input id="idp_password" type="password" name="password"></label></p>
<p><button id="idp_submit" type="submit">Sign in</button></p>
</form></body></html>"""


def build_idp(cfg):
    conf = IdPConfig()
    conf.load({
        "entityid": cfg["entity_id"],
        "key_file": cfg["key"],
        "cert_file": cfg["cert"],
        "metadata": {"local": [cfg["sp_metadata"]]},
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "allow_unknown_attributes": True,
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(cfg["base"] + "/sso", BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
            "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}},
        }},
    })
    return Server(config=conf)


class IdP:
    def __init__(self, cfg):
        self.users = cfg["users"]
        self.server = build_idp(cfg)
        self.tickets = {}  # login form ticket -> (parsed request, relay state)

    def start(self, query):
        q = urllib.parse.parse_qs(query)
        parsed = self.server.parse_authn_request(q["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        ticket = secrets.token_urlsafe(12)
        self.tickets[ticket] = (parsed, q.get("RelayState", [""])[0])
        return LOGIN_FORM.format(ticket=html.escape(ticket))

    def answer(self, form):
        ticket = form.get("ticket", [""])[0]
        name = form.get("user", [""])[0]
        if ticket not in self.tickets:
            return 400, "unknown login"
        user = self.users.get(name)
        if user is None or user["password"] != form.get("password", [""])[0]:
            return 403, "bad credentials"
        parsed, relay = self.tickets.pop(ticket)
        req = parsed.message
        identity = {"username": [name]}
        if user.get("profilename"):
            identity["profilename"] = [user["profilename"]]
        for multi in ("groupmatch", "adoms"):  # comma-separated values
            if user.get(multi):
                identity[multi] = user[multi].split(",")
        response = self.server.create_authn_response(
            identity=identity,
            in_response_to=req.id,
            destination=req.assertion_consumer_service_url,
            sp_entity_id=req.issuer.text,
            name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=name),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
            sign_response=True, sign_assertion=True,
            sign_alg=SIG_RSA_SHA512 if user.get("sign") == "sha512" else SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA512 if user.get("sign") == "sha512" else DIGEST_SHA256,
        )
        args = self.server.apply_binding(BINDING_HTTP_POST, str(response),
                                         req.assertion_consumer_service_url, relay, response=True)
        return 200, args["data"]


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    idp = IdP(cfg)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, code, text):
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/sso":
                return self.reply(404, "no such page")
            try:
                self.reply(200, idp.start(url.query))
            except Exception as e:  # pysaml2 refused the AuthnRequest
                self.reply(400, "AuthnRequest refused: " + html.escape(str(e)))

        def do_POST(self):
            if self.path != "/auth":
                return self.reply(404, "no such page")
            size = min(int(self.headers.get("Content-Length", "0")), 65536)
            code, text = idp.answer(urllib.parse.parse_qs(self.rfile.read(size).decode()))
            self.reply(code, text)

    httpd = ThreadingHTTPServer(("127.0.0.1", cfg.get("port", 0)), Handler)
    print("ready", httpd.server_address[1], flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
