"""aioapns (PyPI, unmodified) against the HTTP/2 mock, for the HTTP/2 benchmark
(`apns-soak bench --http2`).

aioapns connects to Apple's host constants on port 443; as in the interop test
(crates/apns-mock/tests/aioapns_driver.py) only those constants of its protocol classes are
changed, and its SSL context trusts the test CA. Token auth. Config: one JSON argument
  {"port", "ca", "key_file", "key_id", "team_id", "topic", "token", "count", "concurrency"}
Sends `count` notifications, at most `concurrency` at once. Prints {"event":"start"} before
the first send and {"event":"done","seconds","sent","failed","first_error"} at the end.
"""

import asyncio
import json
import ssl
import sys
import time

from aioapns import APNs, NotificationRequest
from aioapns import connection


async def main(config):
    connection.APNsTLSClientProtocol.APNS_PORT = config["port"]
    connection.APNsProductionClientProtocol.APNS_SERVER = "localhost"
    connection.APNsDevelopmentClientProtocol.APNS_SERVER = "localhost"
    context = ssl.create_default_context(cafile=config["ca"])
    with open(config["key_file"]) as f:
        key = f.read()
    client = APNs(
        key=key,
        key_id=config["key_id"],
        team_id=config["team_id"],
        topic=config["topic"],
        use_sandbox=False,
        ssl_context=context,
    )
    message = {"aps": {"alert": "Hello World!", "sound": "default", "badge": 1}}
    window = asyncio.Semaphore(config["concurrency"])
    counts = {"sent": 0, "failed": 0, "first_error": None}

    async def send():
        try:
            request = NotificationRequest(device_token=config["token"], message=message)
            result = await client.send_notification(request)
            if result.is_successful:
                counts["sent"] += 1
            else:
                counts["failed"] += 1
                counts["first_error"] = counts["first_error"] or f"{result.status} {result.description}"
        finally:
            window.release()

    print(json.dumps({"event": "start"}), flush=True)
    start = time.monotonic()
    tasks = []
    for _ in range(config["count"]):
        await window.acquire()
        tasks.append(asyncio.ensure_future(send()))
    await asyncio.gather(*tasks)
    seconds = time.monotonic() - start
    print(json.dumps({"event": "done", "seconds": seconds, **counts}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
