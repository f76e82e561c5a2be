"""Lasso (Debian python3-lasso, the library FortiOS's samld is built on)
as samld's peer, run by /usr/bin/python3.

  lasso_peer.py idp IDP-METADATA IDP-KEY IDP-CERT SP-METADATA
      Each stdin line is the query of samld's AuthnRequest redirect; lasso
      verifies its signature against the SP metadata and answers one JSON
      line: request_id, force_authn, response (base64 SAMLResponse), url;
      or error.
  lasso_peer.py verify SP-METADATA SP-KEY SP-CERT IDP-METADATA RESPONSE-FILE SECONDS
      Verifies the base64 Response in RESPONSE-FILE as an SP, in a loop
      for SECONDS, and prints {"verified": N, "seconds": S}.
"""
import datetime
import json
import sys
import time

import lasso


def idp(md, key, cert, sp_md):
    server = lasso.Server(md, key, None, cert)
    server.addProvider(lasso.PROVIDER_ROLE_SP, sp_md)
    for line in sys.stdin:
        query = line.strip()
        try:
            login = lasso.Login(server)
            login.processAuthnRequestMsg(query)
            req = login.request
            login.validateRequestMsg(True, True)
            now = datetime.datetime.utcnow()
            fmt = "%Y-%m-%dT%H:%M:%SZ"
            login.buildAssertion(lasso.SAML2_AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
                                 now.strftime(fmt), None,
                                 (now - datetime.timedelta(minutes=1)).strftime(fmt),
                                 (now + datetime.timedelta(minutes=5)).strftime(fmt))
            login.buildAuthnResponseMsg()
            out = {"request_id": req.id, "force_authn": bool(req.forceAuthn),
                   "response": login.msgBody, "url": login.msgUrl}
        except lasso.Error as e:
            out = {"error": "%s (%d)" % (e, e.code)}
        print(json.dumps(out), flush=True)


def verify(sp_md, key, cert, idp_md, response_file, seconds):
    server = lasso.Server(sp_md, key, None, cert)
    server.addProvider(lasso.PROVIDER_ROLE_IDP, idp_md)
    with open(response_file) as f:
        response = f.read().strip()
    n, start = 0, time.monotonic()
    while True:  # at least once: a refusal raises and exits non-zero
        login = lasso.Login(server)
        login.processAuthnResponseMsg(response)
        n += 1
        if time.monotonic() - start >= seconds:
            break
    print(json.dumps({"verified": n, "seconds": time.monotonic() - start}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "idp":
        idp(*sys.argv[2:6])
    else:
        verify(*sys.argv[2:7], float(sys.argv[7]))
