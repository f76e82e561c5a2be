#!/usr/bin/python3
"""A SAML service provider (and, for the benchmark, an IdP) made with
Lasso (Debian python3-lasso, the SAML library FortiOS's samld uses), to
prove fosim's IdP against a SAML implementation nobody here wrote.

It reads one JSON list of arguments a line on stdin and answers each with
a JSON line {"result": ...} or {"error": ...}; it prints {"ready": true}
first.

  metadata --entity-id E --acs URL --sls URL --cert-file C --out F
      writes the SP's metadata (signing key, ACS, SLS; AuthnRequestsSigned)
      to F, for the IdP to import; Lasso loads the same file as its own
  request  --sp-metadata F --key-file K --cert-file C --idp-metadata F
      an AuthnRequest with the HTTP-Redirect binding, signed in the query
      string (RSA-SHA256): {"id", "url"}
  response --sp-metadata F --key-file K --cert-file C --idp-metadata F --request-id ID --saml-response B64
      Lasso checks the Response (the signature is required, with the
      IdP's certificate from its metadata) and accepts the SSO: {"name_id",
      "name_id_format", "attributes", "in_response_to", "session"}
  logout   ... --session DUMP
      a LogoutRequest for that session, HTTP-Redirect, signed: {"id", "url"}
  logout-response ... --session DUMP --query QUERY
      Lasso checks the IdP's LogoutResponse (its query string signature):
      {"status"}
  requests ... --n N
      N signed AuthnRequests as request makes them: {"urls"}
  idp-bench --idp-metadata F --idp-key K --idp-cert C --sp-metadata F --sp-key K --sp-cert C --n N
      Lasso as the IdP: N AuthnRequests in, N signed Responses out (the
      work fosim's IdP does for a login with a session): {"per_second"}
"""
import argparse
import json
import sys
import time
import traceback
import urllib.parse

import lasso

METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sls}"/>
    <md:AssertionConsumerService index="0" isDefault="true" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"""


def pem_body(path):
    lines = open(path).read().strip().splitlines()
    return "".join(l for l in lines if not l.startswith("-----"))


def metadata(a):
    with open(a.out, "w") as f:
        f.write(METADATA.format(entity_id=a.entity_id, cert=pem_body(a.cert_file), sls=a.sls, acs=a.acs))
    return {"file": a.out}


_servers = {}


def sp_server(a):
    key = (a.sp_metadata, a.key_file, a.cert_file, a.idp_metadata)
    if key not in _servers:
        s = lasso.Server(a.sp_metadata, a.key_file, None, a.cert_file)
        s.signatureMethod = lasso.SIGNATURE_METHOD_RSA_SHA256
        s.addProvider(lasso.PROVIDER_ROLE_IDP, a.idp_metadata, None, None)
        _servers[key] = s
    return _servers[key]


def idp_id(server):
    return list(server.providers.keys())[0]


def request(a):
    s = sp_server(a)
    login = lasso.Login(s)
    login.initAuthnRequest(idp_id(s), lasso.HTTP_METHOD_REDIRECT)
    login.request.nameIdPolicy.allowCreate = True
    login.request.protocolBinding = lasso.SAML2_METADATA_BINDING_POST
    login.buildAuthnRequestMsg()
    return {"id": login.request.id, "url": login.msgUrl}


def requests(a):
    return {"urls": [request(a)["url"] for _ in range(a.n)]}


def values(attr):
    out = []
    for v in attr.attributeValue:
        out.append("".join(node.content for node in v.any if hasattr(node, "content")))
    return out


def response(a):
    s = sp_server(a)
    login = lasso.Login(s)
    login.setSignatureVerifyHint(lasso.PROFILE_SIGNATURE_VERIFY_HINT_FORCE)
    try:
        login.processAuthnResponseMsg(a.saml_response)
        login.acceptSso()
    except lasso.Error as e:
        raise Refused("refused by lasso: %s" % e)
    if login.response.inResponseTo != a.request_id:
        raise Refused("InResponseTo %r, want %r" % (login.response.inResponseTo, a.request_id))
    assertion = login.assertion
    attrs = {}
    for stmt in assertion.attributeStatement:
        for attr in stmt.attribute:
            attrs[attr.name] = values(attr)
    return {
        "name_id": assertion.subject.nameId.content,
        "name_id_format": assertion.subject.nameId.format,
        "attributes": attrs,
        "in_response_to": login.response.inResponseTo,
        "issuer": assertion.issuer.content,
        "session": login.session.dump(),
    }


def logout(a):
    s = sp_server(a)
    lo = lasso.Logout(s)
    lo.setSessionFromDump(a.session)
    lo.initRequest(idp_id(s), lasso.HTTP_METHOD_REDIRECT)
    lo.buildRequestMsg()
    return {"id": lo.request.id, "url": lo.msgUrl}


def logout_response(a):
    s = sp_server(a)
    lo = lasso.Logout(s)
    lo.setSessionFromDump(a.session)
    lo.setSignatureVerifyHint(lasso.PROFILE_SIGNATURE_VERIFY_HINT_FORCE)
    try:
        lo.processResponseMsg(a.query)
    except lasso.Error as e:
        raise Refused("refused by lasso: %s" % e)
    return {"status": lo.response.status.statusCode.value}


def idp_bench(a):
    idp = lasso.Server(a.idp_metadata, a.idp_key, None, a.idp_cert)
    idp.signatureMethod = lasso.SIGNATURE_METHOD_RSA_SHA256
    idp.addProvider(lasso.PROVIDER_ROLE_SP, a.sp_metadata, None, None)
    sp = lasso.Server(a.sp_metadata, a.sp_key, None, a.sp_cert)
    sp.signatureMethod = lasso.SIGNATURE_METHOD_RSA_SHA256
    sp.addProvider(lasso.PROVIDER_ROLE_IDP, a.idp_metadata, None, None)
    sp_id = list(idp.providers.keys())[0]
    queries = []
    for _ in range(a.n):
        login = lasso.Login(sp)
        login.initAuthnRequest(list(sp.providers.keys())[0], lasso.HTTP_METHOD_REDIRECT)
        login.request.protocolBinding = lasso.SAML2_METADATA_BINDING_POST
        login.buildAuthnRequestMsg()
        queries.append(urllib.parse.urlsplit(login.msgUrl).query)
    now = int(time.time())
    start = time.perf_counter()
    for q in queries:
        login = lasso.Login(idp)
        login.processAuthnRequestMsg(q)
        login.validateRequestMsg(True, True)
        login.buildAssertion(lasso.SAML2_AUTHN_CONTEXT_PASSWORD, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                             None, None, None)
        login.buildAuthnResponseMsg()
        if not login.msgBody:
            raise Refused("lasso built no response")
    took = time.perf_counter() - start
    return {"per_second": a.n / took, "n": a.n, "sp": sp_id}


class Refused(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise Refused(message)


def run(argv):
    p = Parser()
    p.add_argument("command")
    for opt in ["--entity-id", "--acs", "--sls", "--cert-file", "--key-file", "--out", "--sp-metadata", "--idp-metadata",
                "--request-id", "--saml-response", "--session", "--query", "--idp-key", "--idp-cert", "--sp-key", "--sp-cert"]:
        p.add_argument(opt)
    p.add_argument("--n", type=int, default=100)
    a = p.parse_args(argv)
    commands = {"metadata": metadata, "request": request, "response": response, "logout": logout,
                "logout-response": logout_response, "idp-bench": idp_bench, "requests": requests}
    if a.command not in commands:
        raise Refused("unknown command %r" % a.command)
    return commands[a.command](a)


def main():
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        try:
            answer = {"result": run(json.loads(line))}
        except Refused as e:
            answer = {"error": str(e)}
        except Exception:
            answer = {"error": traceback.format_exc()}
        print(json.dumps(answer, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
