#!/usr/bin/python3
"""A SAML service provider made with pysaml2 (Debian python3-pysaml2), to
prove fosim's IdP against an SP nobody here wrote.

  pysaml2_sp.py request  --metadata F --entity-id E --acs URL [--binding redirect|post] [--force-authn] [--is-passive]
                         [--sign --key-file K --cert-file C]
      prints JSON {"id", "url"} (redirect) or {"id", "url", "SAMLRequest"} (post);
      with --sign the request is signed with K (RSA-SHA256): in the query
      string (redirect) or as an enveloped XML signature (post)
  pysaml2_sp.py response --metadata F --entity-id E --acs URL --request-id ID --saml-response B64
      validates the Response (signature, audience, conditions, InResponseTo,
      destination) and prints JSON {"name_id", "name_id_format", "attributes",
      "issuer", "audience", "session_index"}; exits 1 with the reason otherwise
  pysaml2_sp.py logout   --metadata F --entity-id E --acs URL --sls URL --name-id V --name-id-format F --session-index I
                         --key-file K --cert-file C
      prints JSON {"id", "url"} of a LogoutRequest with the HTTP-Redirect
      binding, signed with the SP key
  pysaml2_sp.py serve
      prints {"ready": true}, then reads one JSON list of the arguments
      above a line and answers each
      with a JSON line {"result": …} or {"error": …}: importing saml2 takes
      a second, a test pays it once
"""
import argparse
import base64
import json
import sys
import traceback

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.saml import NameID
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256


_clients = {}


def client(args):
    """The SP for these arguments, made once: loading a configuration costs
    a tenth of a second."""
    key = (args.metadata, args.entity_id, args.acs, args.sls, args.key_file, args.cert_file)
    if key not in _clients:
        _clients[key] = new_client(args)
    return _clients[key]


def new_client(args):
    endpoints = {"assertion_consumer_service": [(args.acs, BINDING_HTTP_POST)]}
    if args.sls:
        endpoints["single_logout_service"] = [(args.sls, BINDING_HTTP_REDIRECT)]
    keys = {"key_file": args.key_file, "cert_file": args.cert_file} if args.key_file else {}
    conf = SPConfig()
    conf.load({
        **keys,
        "entityid": args.entity_id,
        "metadata": {"local": [args.metadata]},
        "service": {"sp": {
            "endpoints": endpoints,
            "want_assertions_signed": True,
            "want_response_signed": False,
            "allow_unsolicited": False,
            "authn_requests_signed": False,
            "logout_requests_signed": False,
        }},
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "allow_unknown_attributes": True,
    })
    return Saml2Client(conf)


def idp_entity_id(cl):
    ids = list(cl.metadata.identity_providers())
    if len(ids) != 1:
        raise Refused("expected one IdP in the metadata, got %r" % ids)
    return ids[0]


def request(args):
    cl = client(args)
    idp = idp_entity_id(cl)
    extra = {"force_authn": "true"} if args.force_authn else {}
    if args.is_passive:
        extra["is_passive"] = "true"
    if args.binding == "redirect":
        if args.sign:
            extra.update(sign=True, sigalg=SIG_RSA_SHA256)
        reqid, info = cl.prepare_for_authenticate(entityid=idp, relay_state="magic=040c048995bc76ba",
                                                  binding=BINDING_HTTP_REDIRECT, **extra)
        url = dict(info["headers"])["Location"]
        return {"id": reqid, "url": url}
    dest = cl.metadata.single_sign_on_service(idp, BINDING_HTTP_POST)[0]["location"]
    if args.sign:
        extra.update(sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    reqid, req = cl.create_authn_request(dest, binding=BINDING_HTTP_POST, **extra)
    return {"id": reqid, "url": dest, "SAMLRequest": base64.b64encode(str(req).encode()).decode()}


def response(args):
    cl = client(args)
    try:
        resp = cl.parse_authn_request_response(args.saml_response, BINDING_HTTP_POST,
                                               outstanding={args.request_id: "/"})
    except Exception as e:  # the reason is the test's output
        raise Refused("refused: %s: %s" % (type(e).__name__, e))
    if resp is None:
        raise Refused("refused: no response")
    a = resp.assertion
    audiences = [aud.text for ar in a.conditions.audience_restriction for aud in ar.audience]
    return {
        "name_id": resp.name_id.text,
        "name_id_format": resp.name_id.format,
        "attributes": resp.ava,
        "issuer": resp.issuer(),
        "audience": audiences,
        "not_on_or_after": a.conditions.not_on_or_after,
        "session_index": a.authn_statement[0].session_index,
        "signed": resp.assertion.signature is not None,
    }


def logout(args):
    cl = client(args)
    idp = idp_entity_id(cl)
    dest = cl.metadata.single_logout_service(idp, BINDING_HTTP_REDIRECT, "idpsso")[0]["location"]
    name_id = NameID(text=args.name_id, format=args.name_id_format)
    # Signed in the query string, as the HTTP-Redirect binding signs.
    reqid, req = cl.create_logout_request(dest, idp, name_id=name_id, session_indexes=[args.session_index], sign=False)
    info = cl.apply_binding(BINDING_HTTP_REDIRECT, str(req), dest, relay_state="bye", sign=True, sigalg=SIG_RSA_SHA256)
    return {"id": reqid, "url": dict(info["headers"])["Location"]}


class Refused(Exception):
    pass


class ArgumentError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ArgumentError(message)


def run(argv):
    p = Parser()
    p.add_argument("command", choices=["request", "response", "logout"])
    p.add_argument("--metadata", required=True)
    p.add_argument("--entity-id", required=True)
    p.add_argument("--acs", required=True)
    p.add_argument("--sls", default="")
    p.add_argument("--binding", default="redirect", choices=["redirect", "post"])
    p.add_argument("--force-authn", action="store_true")
    p.add_argument("--is-passive", action="store_true")
    p.add_argument("--sign", action="store_true")
    p.add_argument("--request-id")
    p.add_argument("--saml-response")
    p.add_argument("--name-id")
    p.add_argument("--name-id-format")
    p.add_argument("--session-index")
    p.add_argument("--key-file", default="")
    p.add_argument("--cert-file", default="")
    args = p.parse_args(argv)
    return {"request": request, "response": response, "logout": logout}[args.command](args)


def main():
    if sys.argv[1:] != ["serve"]:
        try:
            print(json.dumps(run(sys.argv[1:]), sort_keys=True))
        except (Refused, ArgumentError) as e:
            sys.exit(str(e))
        return
    print(json.dumps({"ready": True}), flush=True)  # saml2 is imported
    for line in sys.stdin:
        try:
            answer = {"result": run(json.loads(line))}
        except (Refused, ArgumentError) as e:
            answer = {"error": str(e)}
        except Exception:
            answer = {"error": traceback.format_exc()}
        print(json.dumps(answer, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
