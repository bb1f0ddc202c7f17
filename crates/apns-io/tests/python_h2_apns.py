"""A scripted HTTP/2 server on python-hyper's h2 (sans-io, pure Python) playing APNs for the
HTTP/2 client's interoperability test: the stream limit starts at 1, becomes 10 after a
success and goes back to 1 after a rejection; after 40 answers a connection ends with GOAWAY
(last-stream-id = the 40th, debug data {"reason": "Shutdown"}) and the next one is served.

Usage: python_h2_apns.py CERT KEY. Prints "PORT <n>" once listening on 127.0.0.1; serves
connections one after the other; exits after 30 s without a connection. h2 treats a client that
opens more streams than the acknowledged limit as a connection error, so a clean run proves the
client keeps the budget.

Device tokens starting with "00" are rejected (400 BadDeviceToken); the rest get 200.
"""

import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings

MAX_STREAMS = h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS
PER_CONNECTION = 40


def main():
    cert, key = sys.argv[1], sys.argv[2]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(30)
    print("PORT", listener.getsockname()[1], flush=True)
    while True:
        try:
            raw, _ = listener.accept()
        except socket.timeout:
            return
        try:
            serve(context.wrap_socket(raw, server_side=True))
        except (OSError, ssl.SSLError):
            pass


def serve(sock):
    sock.settimeout(30)
    config = h2.config.H2Configuration(client_side=False, header_encoding=None)
    conn = h2.connection.H2Connection(config=config)
    conn.local_settings = h2.settings.Settings(client=False, initial_values={MAX_STREAMS: 1})
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    requests = {}
    answered = 0
    limit = 1
    while True:
        data = sock.recv(65536)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                requests[event.stream_id] = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                headers = requests.pop(event.stream_id)
                apns_id = headers.get(b"apns-id", b"")
                token = headers[b":path"].rsplit(b"/", 1)[-1]
                if token.startswith(b"00"):
                    body = json.dumps({"reason": "BadDeviceToken"}).encode()
                    conn.send_headers(event.stream_id, [(b":status", b"400"), (b"apns-id", apns_id)])
                    conn.send_data(event.stream_id, body, end_stream=True)
                    if limit != 1:
                        limit = 1
                        conn.update_settings({MAX_STREAMS: 1})
                else:
                    conn.send_headers(event.stream_id, [(b":status", b"200"), (b"apns-id", apns_id)], end_stream=True)
                    if limit != 10:
                        limit = 10
                        conn.update_settings({MAX_STREAMS: 10})
                answered += 1
                if answered == PER_CONNECTION:
                    conn.close_connection(
                        additional_data=json.dumps({"reason": "Shutdown"}).encode(),
                        last_stream_id=event.stream_id,
                    )
                    sock.sendall(conn.data_to_send())
                    sock.close()
                    return
        sock.sendall(conn.data_to_send())


if __name__ == "__main__":
    main()
