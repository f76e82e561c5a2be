"""The command loop of the SP scripts of these tests (idp_lasso_sp.py,
idp_pysaml2_sp.py), imported from this folder: it prints {"ready": true},
then answers each JSON object a line on stdin with one JSON line,
{"result": ...} or {"error": ...}, until stdin ends."""
import json
import sys
import traceback


class Refused(Exception):
    """The SP library (or the script's own bookkeeping) refused a message."""


def serve(commands):
    """Answers each line with commands[its "command"](the line)."""
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        try:
            c = json.loads(line)
            if c.get("command") not in commands:
                raise Refused("unknown command %r" % c.get("command"))
            answer = {"result": commands[c["command"]](c)}
        except Refused as e:
            answer = {"error": str(e)}
        except Exception:
            answer = {"error": traceback.format_exc()}
        print(json.dumps(answer, sort_keys=True), flush=True)
