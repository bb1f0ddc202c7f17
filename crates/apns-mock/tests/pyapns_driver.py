"""Drives PyAPNs (the PyPI package apns3 1.0.0, a Python 3 port of PyAPNs) against apns-mock.

Run by tests/pyapns_interop.rs with one argument, a JSON object:
  {"gateway": port, "feedback": port, "feedback_chunked": port, "cert": path, "key": path,
   "good": [hex, hex], "bad": hex, "expiry": unix}
Prints one JSON object per line (the Rust test asserts on them):
  {"event": "sent", "id", "token", "payload", "expiry", "priority", "command"}
  {"event": "error_response", "status", "identifier"}     (from PyAPNs' response listener)
  {"event": "thread_exception", "thread", "type", "message"}
  {"event": "worker", "phase", "alive"}
  {"event": "feedback", "source", "token", "token_type", "time"}
  {"event": "done"}

apns3 hard-codes Apple's host names and ports: the connection objects are pointed at the mock
by setting their plain `server` and `port` attributes after construction.
"""

import calendar
import json
import os
import sys
import threading

from apns3 import APNs, Frame, Payload


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


# PyAPNs' error-response reader thread dies with an exception after an error response (see the
# Rust test for which); record it instead of letting Python print a traceback only.
def excepthook(args):
    emit(event="thread_exception", thread=args.thread.name if args.thread else None,
         type=args.exc_type.__name__, message=str(args.exc_value))


threading.excepthook = excepthook

config = json.loads(sys.argv[1])
good, good2 = config["good"]
bad = config["bad"]
expiry = config["expiry"]

responses = []
arrived = threading.Condition()


def listener(response):
    with arrived:
        responses.append(response)
        arrived.notify_all()
    emit(event="error_response", status=response["status"], identifier=response["identifier"])


def wait_for_responses(count):
    with arrived:
        if not arrived.wait_for(lambda: len(responses) >= count, timeout=30):
            emit(event="timeout", waiting_for="error response %d" % count)
            os._exit(3)


def payload(ident):
    return Payload(alert="n%d" % ident, sound="default", badge=ident)


def send(gateway, ident, token):
    body = payload(ident)
    gateway.send_notification(token, body, identifier=ident, expiry=expiry)
    emit(event="sent", id=ident, token=token, payload=body.json().decode(), expiry=expiry,
         priority=10, command=1)


def join_worker(gateway, phase):
    worker = gateway._error_response_handler_worker
    worker.join(30)
    emit(event="worker", phase=phase, alive=worker.is_alive())


apns = APNs(use_sandbox=True, cert_file=config["cert"], key_file=config["key"], enhanced=True)
gateway = apns.gateway_server
gateway.server = "127.0.0.1"
gateway.port = config["gateway"]
gateway.register_response_listener(listener)

# Phase 1, enhanced format (command 1): 3 goes to a rejected token. The mock waits before
# answering, so 4 and 5 are on the wire before the error response and are discarded.
for ident, token in [(1, good), (2, good2), (3, bad), (4, good), (5, good2)]:
    send(gateway, ident, token)
wait_for_responses(1)
join_worker(gateway, 1)

# Phase 2: PyAPNs reconnects on the next send. Then a Frame batch (command 2, one frame per
# notification), whose last notification is rejected.
for ident, token in [(6, good), (7, good2)]:
    send(gateway, ident, token)
frame = Frame()
for ident, token, priority in [(8, good, 10), (9, good2, 5), (10, bad, 10)]:
    body = payload(ident)
    frame.add_item(token, body, ident, expiry, priority)
    emit(event="sent", id=ident, token=token, payload=body.json().decode(), expiry=expiry,
         priority=priority, command=2)
gateway.send_notification_multiple(frame)
wait_for_responses(2)
join_worker(gateway, 2)


def read_feedback(source, port):
    # Through the APNs facade, as users did: apns.feedback_server.items().
    connection = APNs(use_sandbox=True, cert_file=config["cert"], key_file=config["key"]).feedback_server
    connection.server = "127.0.0.1"
    connection.port = port
    for token, fail_time in connection.items():
        emit(event="feedback", source=source, token_type=type(token).__name__,
             token=token.decode() if isinstance(token, bytes) else token,
             time=calendar.timegm(fail_time.utctimetuple()))
    connection._disconnect()


read_feedback("whole", config["feedback"])
read_feedback("chunked", config["feedback_chunked"])
emit(event="done")
# Exit at once: a PyAPNs reader thread still alive would keep the process up for 30 s.
os._exit(0)
