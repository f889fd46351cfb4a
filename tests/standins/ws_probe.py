"""WebSocket probe for the molecule verify step: does a WebSocket through Caddy work, and
does it survive a Caddy reload?

  ws_probe.py once HOST PORT CAFILE
      handshake (expects 101), one echo; exit 0 on success.
  ws_probe.py hold HOST PORT CAFILE SECONDS RESULT_FILE
      keep one connection for SECONDS, echoing a message every 0.25 s; writes
      "ok <count>" or "dropped after <count>: <reason>" to RESULT_FILE.

Standard library only; connects to 127.0.0.1 with SNI and Host set to HOST.
"""
import base64
import os
import socket
import ssl
import struct
import sys
import time


def connect(host, port, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock = ctx.wrap_socket(raw, server_hostname=host)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /api/1.48.0/sync HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host, port, key)
    )
    sock.sendall(request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)
        if not chunk:
            raise RuntimeError("connection closed during handshake")
        response += chunk
    status = response.split(b"\r\n", 1)[0].decode()
    if " 101 " not in status + " ":
        raise RuntimeError("handshake answered %r" % status)
    return sock


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("connection closed")
        data += chunk
    return data


def echo(sock, text):
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    head = recv_exact(sock, 2)
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", recv_exact(sock, 2))[0]
    got = recv_exact(sock, length).decode()
    if got != text:
        raise RuntimeError("echo mismatch: sent %r got %r" % (text, got))


def main(argv):
    mode, host, port, cafile = argv[0], argv[1], int(argv[2]), argv[3]
    if mode == "once":
        sock = connect(host, port, cafile)
        echo(sock, "hello")
        print("101 Switching Protocols; echo ok")
        return 0
    seconds, result_file = float(argv[4]), argv[5]
    sock = connect(host, port, cafile)
    count = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            echo(sock, "ping %d" % count)
            count += 1
            time.sleep(0.25)
    except (OSError, RuntimeError) as exc:
        with open(result_file, "w") as fh:
            fh.write("dropped after %d: %s\n" % (count, exc))
        return 1
    with open(result_file, "w") as fh:
        fh.write("ok %d\n" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
