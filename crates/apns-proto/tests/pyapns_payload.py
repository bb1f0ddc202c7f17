"""Builds each payload described on stdin (a JSON list) with PyAPNs and prints its bytes as hex.

Driven by pyapns_payload.rs: the Rust test builds the same payloads with apns_proto::Payload and
compares the bytes.
"""
import json
import sys

from apns3 import Payload, PayloadAlert

for case in json.load(sys.stdin):
    alert = case.get("alert")
    if isinstance(alert, dict):
        alert = PayloadAlert(**alert)
    payload = Payload(
        alert=alert,
        sound=case.get("sound"),
        badge=case.get("badge"),
        category=case.get("category"),
        custom=case.get("custom", {}),
        content_available=case.get("content_available", False),
    )
    print(payload.json().hex())
