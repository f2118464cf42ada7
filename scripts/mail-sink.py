#!/usr/bin/env python3
"""A local mail sink for `make up`: receives the service's signed webhook
events on 127.0.0.1:PORT (scripts/up.sh points webhook_url here), checks
each Standard Webhooks signature with the development secret, and prints
every mail's recipient, subject and link, so a developer can click through
verification and reset flows without a mail server.

    mail-sink.py PORT WHSEC_SECRET
"""

import base64
import hashlib
import hmac
import http.server
import json
import sys


def main():
    port, secret = int(sys.argv[1]), sys.argv[2]
    key = base64.b64decode(secret.removeprefix("whsec_"))

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            signed = f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode() + body
            expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            given = [s.split(",", 1)[-1] for s in self.headers.get("webhook-signature", "").split()]
            if not any(hmac.compare_digest(expected, g) for g in given):
                self.send_response(401)
                self.end_headers()
                print("mail-sink: refused a delivery with a bad signature", flush=True)
                return
            event = json.loads(body)
            data = event.get("data", {})
            if event.get("type", "").startswith("email."):
                print(f"\n--- {event['type']} to {data.get('to')}: {data.get('subject')}", flush=True)
                if data.get("link"):
                    print(f"    link: {data['link']}", flush=True)
            else:
                print(f"\n--- event {event.get('type')}", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink)
    print(f"mail-sink: printing mail sent to http://127.0.0.1:{port}/hooks/spin-users", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
