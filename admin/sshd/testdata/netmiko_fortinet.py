#!/usr/bin/python3
"""Drive fosim's SSH server with netmiko's "fortinet" driver (Debian's
python3-netmiko 2.4.2), as automation does against a FortiGate.

usage: netmiko_fortinet.py HOST PORT PASSWORD CERT.pem CONFIG.conf...

netmiko's default timing waits about 4 s of silence after each
send_command_timing (20 s just to log in): the script runs with fast_cli
and global_delay_factor 0.25 (send_config_set then writes the whole block
at once, as a paste) unless NETMIKO_DEFAULT_TIMING=1.

Connects (netmiko saves the console output mode and sets it to standard),
reads the status, creates the remote certificate REMOTE_Cert_3 from
CERT.pem, sends every CONFIG file with send_config_set, reads the result
back and disconnects (netmiko restores the output mode). Prints one JSON
object with what each step returned; exits 1 on any exception.
"""

import json
import os
import sys
import traceback

from netmiko import ConnectHandler


def config_lines(path):
    """The statements of a FortiOS snippet, one per line, unindented."""
    with open(path) as f:
        return [l.strip() for l in f if l.strip()]


def main():
    host, port, password, pem_path = sys.argv[1:5]
    configs = sys.argv[5:]
    with open(pem_path) as f:
        pem = f.read().strip()
    result = {}
    timing = {}
    if os.environ.get("NETMIKO_DEFAULT_TIMING") != "1":
        timing = {"fast_cli": True, "global_delay_factor": 0.25}
    dev = ConnectHandler(
        device_type="fortinet",
        host=host,
        port=int(port),
        username="admin",
        password=password,
        allow_agent=False,
        use_keys=False,
        timeout=20,
        **timing
    )
    try:
        result["prompt"] = dev.find_prompt()
        result["saved_output_mode"] = dev._output_mode
        result["console_during"] = dev.send_command("get system console")
        result["status"] = dev.send_command("get system status")
        # The PEM goes in one quoted value spanning lines, as pasted.
        cert = [
            "config vpn certificate remote",
            "edit REMOTE_Cert_3",
            'set remote "%s"' % pem,
            "next",
            "end",
        ]
        result["cert_output"] = dev.send_config_set(cert)
        commands = []
        for path in configs:
            commands += config_lines(path)
        result["config_output"] = dev.send_config_set(commands)
        result["show_phase1"] = dev.send_command("show vpn ipsec phase1-interface")
        result["show_phase2"] = dev.send_command("show vpn ipsec phase2-interface")
        result["show_saml"] = dev.send_command("show user saml SAML-IPSEC")
    finally:
        dev.disconnect()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
