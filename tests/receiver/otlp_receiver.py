#!/usr/bin/env python3
"""otlp_receiver.py - a test OTLP/HTTP receiver with fault modes.

Python 3 standard library only. Listens on 127.0.0.1 (port 0 = the OS picks),
prints "PORT <n>" on stdout once it listens, and saves every request it gets
in --dir:

    NNNN.body   the body exactly as received (gzip included)
    NNNN.plain  the body after gunzip, when Content-Encoding was gzip
    NNNN.json   {"seq", "time", "method", "path", "headers": [[name, value]],
                 "peer": "ip:port", "action", "status", "complete"}

The .json file is written last (and renamed into place), so a reader that
sees it sees the whole request. NNNN counts requests from 0 in arrival order.

Answers: request i gets the i-th action of --script (comma separated), and
every later one gets --default (default "ok"). Actions:

    ok                  200, an empty ExportTraceServiceResponse
    status:CODE         CODE with a short text body (400, 503, ...)
    retry:CODE:SECS     CODE with "Retry-After: SECS"
    retrydate:CODE:SECS CODE with Retry-After as an HTTP-date SECS from now
    partial:N:MESSAGE   200 with partial_success {rejected_spans N, error_message}
    slow:MS             wait MS milliseconds, then as ok
    hang                read the request, never answer (until the client leaves)
    close               read part of the body, then close the connection
    closeidle           answer ok, then close the connection (no "Connection: close")
    garbage             200 with a body that is not a protobuf message

Answers are protobuf (application/x-protobuf) unless the request was JSON.
The receiver exits on SIGTERM, after --lifetime seconds, and with --watch-stdin
when its standard input reaches end of file (the test that started it died).
"""
import argparse
import email.utils
import gzip
import http.server
import json
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time

lock = threading.Lock()
state = {"seq": 0}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def partial_pb(rejected, message):
    """ExportTraceServiceResponse{partial_success{rejected_spans, error_message}}."""
    inner = b""
    if rejected:
        inner += b"\x08" + varint(rejected)
    msg = message.encode()
    if msg:
        inner += b"\x12" + varint(len(msg)) + msg
    return b"\x0a" + varint(len(inner)) + inner


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "otlp-test-receiver"

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        self.answer(404, b"POST OTLP to /v1/traces\n", "text/plain")

    def answer(self, code, body, ctype, extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_POST(self):
        with lock:
            seq = state["seq"]
            state["seq"] += 1
        script = self.server.script
        action = script[seq] if seq < len(script) else self.server.default
        name, _, arg = action.partition(":")
        length = int(self.headers.get("Content-Length") or 0)
        is_json = "json" in (self.headers.get("Content-Type") or "")
        meta = {
            "seq": seq,
            "time": time.time(),
            "method": "POST",
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "peer": "%s:%d" % self.client_address[:2],
            "action": action,
            "status": 0,
            "complete": False,
        }
        if name == "close":
            part = self.rfile.read(min(length, 16)) if length else b""
            self.save(seq, part, meta)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = self.rfile.read(length) if length else b""
        meta["complete"] = len(body) == length
        ok_body, ok_type = (b"{}", "application/json") if is_json else (b"", "application/x-protobuf")
        code, out, ctype, extra = 200, ok_body, ok_type, []
        if name == "status":
            code, out, ctype = int(arg), b"refused by the test receiver\n", "text/plain"
        elif name in ("retry", "retrydate"):
            c, _, secs = arg.partition(":")
            code, out, ctype = int(c), b"try again later\n", "text/plain"
            if name == "retry":
                extra.append(("Retry-After", secs))
            else:
                extra.append(("Retry-After", email.utils.formatdate(time.time() + float(secs), usegmt=True)))
        elif name == "partial":
            n, _, msg = arg.partition(":")
            if is_json:
                out = json.dumps({"partialSuccess": {"rejectedSpans": n, "errorMessage": msg}}).encode()
            else:
                out = partial_pb(int(n), msg)
        elif name == "slow":
            time.sleep(int(arg) / 1000.0)
        elif name == "garbage":
            out, ctype = b"\xff\xff\xff\xff not protobuf", "application/x-protobuf"
        meta["status"] = 0 if name == "hang" else code
        self.save(seq, body, meta)
        if name == "hang":
            self.close_connection = True
            deadline = time.time() + 30
            while time.time() < deadline:  # until the client gives up
                r, _, _ = select.select([self.connection], [], [], 0.1)
                if r and not self.connection.recv(1, socket.MSG_PEEK):
                    break
            return
        self.answer(code, out, ctype, extra)
        if name == "closeidle":
            self.close_connection = True

    def save(self, seq, body, meta):
        d = self.server.dir
        base = os.path.join(d, "%04d" % seq)
        meta["body_len"] = len(body)
        if self.server.discard:
            body = b""
        with open(base + ".body", "wb") as f:
            f.write(body)
        if not self.server.discard and (self.headers.get("Content-Encoding") or "").lower() == "gzip" and meta["complete"]:
            try:
                plain = gzip.decompress(body)
                with open(base + ".plain", "wb") as f:
                    f.write(plain)
            except Exception as e:  # noqa: BLE001 - the test checks the file exists
                meta["gzip_error"] = str(e)
        tmp = base + ".json.tmp"
        with open(tmp, "w") as f:
            json.dump(meta, f)
        os.rename(tmp, base + ".json")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that left (reset, timeout) is expected in fault modes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", default="")
    ap.add_argument("--default", default="ok")
    ap.add_argument("--lifetime", type=float, default=120)
    ap.add_argument("--discard", action="store_true", help="save only the .json metadata (benchmarks)")
    ap.add_argument("--watch-stdin", action="store_true", help="exit when stdin reaches end of file")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-ca", help="require a client certificate signed by this CA")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.dir = a.dir
    srv.script = [s for s in a.script.split(",") if s]
    srv.default = a.default
    srv.discard = a.discard
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        if a.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(a.client_ca)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

    def stop(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def stdin_watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:  # noqa: BLE001
            pass
        os._exit(0)

    if a.watch_stdin:
        threading.Thread(target=stdin_watch, daemon=True).start()
    threading.Timer(a.lifetime, stop).start()
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
