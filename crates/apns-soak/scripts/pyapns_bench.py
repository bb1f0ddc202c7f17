"""PyAPNs (the PyPI package apns3 1.0.0) side of `apns-soak bench`: sends N notifications in
enhanced mode to the mock as fast as PyAPNs can, through its documented API.

One argument, a JSON object: {"port", "cert", "key", "count", "token", "expiry"}.
Prints {"event": "start"} right before the first send (the Rust side starts its clock when it
reads it, then waits until the mock has accepted all N), then {"event": "sent", "seconds": s}
when PyAPNs returned from the last send. Exits when a line arrives on stdin (or stdin closes):
PyAPNs' error-response reader thread would keep the process alive otherwise.

apns3 hard-codes Apple's host names: the gateway connection is pointed at the mock by setting
its `server` and `port` attributes, as crates/apns-mock/tests/pyapns_driver.py does.
"""

import json
import os
import sys
import time

from apns3 import APNs, Payload

config = json.loads(sys.argv[1])
apns = APNs(use_sandbox=True, cert_file=config["cert"], key_file=config["key"], enhanced=True)
gateway = apns.gateway_server
gateway.server = "127.0.0.1"
gateway.port = config["port"]

token = config["token"]
expiry = config["expiry"]
count = config["count"]

sys.stdout.write(json.dumps({"event": "start"}) + "\n")
sys.stdout.flush()
start = time.perf_counter()
for ident in range(1, count + 1):
    # Built per notification, as PyAPNs users do: the golden payload, 60 bytes of JSON.
    payload = Payload(alert="Hello World!", sound="default", badge=1)
    gateway.send_notification(token, payload, identifier=ident, expiry=expiry)
seconds = time.perf_counter() - start
sys.stdout.write(json.dumps({"event": "sent", "seconds": seconds}) + "\n")
sys.stdout.flush()
sys.stdin.readline()
os._exit(0)
