"""STAND-IN upstream for the caddy_tailscale molecule tests (not Convex).

Listens on one or more loopback ports and answers every HTTP request with JSON describing
what arrived (port, method, path with query, Host, the X-Forwarded-For/-Proto/-Host and
Tailscale-Funnel-Request headers), so a test can see exactly what Caddy forwarded, e.g. that the site
host added the /http prefix, or that the visitor's address survived. A request with
"Upgrade: websocket" gets a real RFC 6455 handshake (101) and its text frames are echoed.

Standard library only: it runs under the test host's plain python3 as a systemd service.
Usage: python3 upstream_echo.py PORT [PORT ...]
"""
import base64
import hashlib
import json
import socketserver
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_frame(rfile):
    """Read one WebSocket frame; return (opcode, payload) or (None, b'') at EOF."""
    head = rfile.read(2)
    if len(head) < 2:
        return None, b""
    opcode = head[0] & 0x0F
    masked = head[1] & 0x80
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", rfile.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", rfile.read(8))[0]
    mask = rfile.read(4) if masked else b"\x00\x00\x00\x00"
    data = bytearray(rfile.read(length))
    for i in range(len(data)):
        data[i] ^= mask[i % 4]
    return opcode, bytes(data)


def write_frame(wfile, opcode, payload):
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([len(payload)])
    elif len(payload) < 65536:
        header += bytes([126]) + struct.pack("!H", len(payload))
    else:
        header += bytes([127]) + struct.pack("!Q", len(payload))
    wfile.write(header + payload)
    wfile.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # journald gets one line per request
        sys.stderr.write("%s %s\n" % (self.server.server_address[1], fmt % args))

    def _describe(self):
        return {
            "port": self.server.server_address[1],
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "forwarded_for": self.headers.get("X-Forwarded-For"),
            "forwarded_proto": self.headers.get("X-Forwarded-Proto"),
            "forwarded_host": self.headers.get("X-Forwarded-Host"),
            "funnel_request": self.headers.get("Tailscale-Funnel-Request"),
        }

    def _websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            opcode, payload = read_frame(self.rfile)
            if opcode is None or opcode == 0x8:
                return
            if opcode == 0x9:
                write_frame(self.wfile, 0xA, payload)
            elif opcode in (0x1, 0x2):
                write_frame(self.wfile, opcode, payload)

    def _answer(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.close_connection = True
            self._websocket()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(self._describe()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(ports):
    servers = [Server(("127.0.0.1", int(p)), Handler) for p in ports]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(sys.argv[1:] or ["3210"])
