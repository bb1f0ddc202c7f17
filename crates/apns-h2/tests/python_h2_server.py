"""A scripted HTTP/2 server on python-hyper's h2 (sans-io, pure Python), behaving as APNs does
with its stream limit: 1 stream until the first success, then 10, back to 1 after a rejection.

Usage: python_h2_server.py CERT KEY. Prints "PORT <n>" once listening on 127.0.0.1, serves one
connection, and exits (after 30 s of silence at the latest).

The path picks the behaviour:
- /good/...: 200 with the request's apns-id; the limit becomes 10.
- /bad/...: 400 with {"reason":"BadDeviceToken"}; the limit becomes 1.
- /refuse/...: RST_STREAM REFUSED_STREAM.
- /hold/...: held until 5 have arrived; then the first 3 are answered, GOAWAY names the third
  (debug data {"reason":"Shutdown"}) and the connection closes.
"""

import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings

MAX_STREAMS = h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS


def main():
    cert, key = sys.argv[1], sys.argv[2]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(30)
    print("PORT", listener.getsockname()[1], flush=True)
    raw, _ = listener.accept()
    sock = context.wrap_socket(raw, server_side=True)
    sock.settimeout(30)
    assert sock.selected_alpn_protocol() == "h2"

    config = h2.config.H2Configuration(client_side=False, header_encoding=None)
    conn = h2.connection.H2Connection(config=config)
    conn.local_settings = h2.settings.Settings(client=False, initial_values={MAX_STREAMS: 1})
    conn.initiate_connection()
    conn.ping(b"pyh2ping")
    sock.sendall(conn.data_to_send())

    requests = {}  # stream id -> headers
    held = []
    while True:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                requests[event.stream_id] = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                headers = requests[event.stream_id]
                if respond(conn, event.stream_id, headers, held):
                    sock.sendall(conn.data_to_send())
                    sock.close()
                    return
        sock.sendall(conn.data_to_send())


def respond(conn, stream_id, headers, held):
    """Answers one complete request; returns True once the connection must close."""
    path = headers[b":path"]
    apns_id = headers.get(b"apns-id", b"")
    if path.startswith(b"/good/"):
        conn.send_headers(stream_id, [(b":status", b"200"), (b"apns-id", apns_id)], end_stream=True)
        conn.update_settings({MAX_STREAMS: 10})
    elif path.startswith(b"/bad/"):
        body = json.dumps({"reason": "BadDeviceToken"}).encode()
        conn.send_headers(
            stream_id,
            [(b":status", b"400"), (b"apns-id", apns_id), (b"content-length", str(len(body)).encode())],
        )
        conn.send_data(stream_id, body, end_stream=True)
        conn.update_settings({MAX_STREAMS: 1})
    elif path.startswith(b"/refuse/"):
        conn.reset_stream(stream_id, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
    elif path.startswith(b"/hold/"):
        held.append((stream_id, apns_id))
        if len(held) == 5:
            for held_id, held_apns_id in held[:3]:
                conn.send_headers(held_id, [(b":status", b"200"), (b"apns-id", held_apns_id)], end_stream=True)
            conn.close_connection(
                error_code=h2.errors.ErrorCodes.NO_ERROR,
                additional_data=json.dumps({"reason": "Shutdown"}).encode(),
                last_stream_id=held[2][0],
            )
            return True
    else:
        conn.send_headers(stream_id, [(b":status", b"404")], end_stream=True)
    return False


if __name__ == "__main__":
    main()
