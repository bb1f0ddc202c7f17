"""Drives aioapns (PyPI, unmodified) against the HTTP/2 mock.

aioapns connects to Apple's host constant on port 443; the only change here is the host and
port constants of its protocol classes (monkeypatched), and an SSL context trusting the mock's
test CA. Config: one JSON argument
  {"port", "ca", "mode": "token"|"cert", "key_file", "key_id", "team_id", "cert_file",
   "topic", "sandbox", "requests": [{"id", "token", "message", "push_type", "priority"}]}
Prints one JSON line per request: {"id", "status", "description", "timestamp"}.
"""

import asyncio
import json
import ssl
import sys

from aioapns import APNs, NotificationRequest, PushType
from aioapns import connection


async def main(config):
    connection.APNsTLSClientProtocol.APNS_PORT = config["port"]
    connection.APNsProductionClientProtocol.APNS_SERVER = "localhost"
    connection.APNsDevelopmentClientProtocol.APNS_SERVER = "localhost"
    context = ssl.create_default_context(cafile=config["ca"])
    if config["mode"] == "token":
        with open(config["key_file"]) as f:
            key = f.read()
        client = APNs(
            key=key,
            key_id=config["key_id"],
            team_id=config["team_id"],
            topic=config["topic"],
            use_sandbox=config["sandbox"],
            ssl_context=context,
            max_connections=2,
        )
    else:
        client = APNs(
            client_cert=config["cert_file"],
            topic=config["topic"],
            use_sandbox=config["sandbox"],
            ssl_context=context,
            max_connections=2,
        )

    async def send(spec):
        request = NotificationRequest(
            device_token=spec["token"],
            message=spec["message"],
            notification_id=spec["id"],
            push_type=PushType(spec["push_type"]) if spec.get("push_type") else None,
            priority=spec.get("priority"),
        )
        result = await client.send_notification(request)
        return {
            "id": result.notification_id,
            "status": result.status,
            "description": result.description,
            "timestamp": result.timestamp,
        }

    results = await asyncio.gather(*(send(spec) for spec in config["requests"]))
    for result in results:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
