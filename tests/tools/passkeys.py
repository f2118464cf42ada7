"""Passkeys in a real browser: Debian's Chromium, headless, driven by
Playwright, with DevTools virtual authenticators (CTAP2, internal,
resident keys, user verification); tests/tools/main.rs starts the app and
runs this.

    passkeys.py API_ORIGIN ALLOWED_PORT FOREIGN_PORT EMAIL PASSWORD

The app's own sign-in page (/sign-in) is opened through two forwarding
proxies run here: http://localhost:ALLOWED_PORT, the one origin the app's
`webauthn_origins` lists, and http://localhost:FOREIGN_PORT, which it does
not (the RP ID `localhost` is valid for both, so only the service can
refuse the second).

- A password signs in; the page registers a passkey on authenticator A;
  the list shows it; signing out and signing in with the passkey answers
  tokens whose `amr` is `["hwk", "user"]`, and `GET /users/me` with them
  names the account.
- The assertion the page sent, sent again, is refused (`invalid_grant`).
- The same passkey on the foreign origin is refused.
- Authenticator B, holding a credential for `localhost` the service never
  registered, is refused.

Exits non-zero, saying what failed, on the first broken expectation.
"""

import http.client
import http.server
import json
import sys
import threading
import urllib.parse

from playwright.sync_api import expect, sync_playwright

from browser import CHROMIUM_ARGS, check

AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def proxy_to(api):
    """A handler forwarding every request to `api` (scheme://host:port)."""
    target = urllib.parse.urlsplit(api)

    class Forward(http.server.BaseHTTPRequestHandler):
        def forward(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            upstream.close()

        do_GET = do_POST = do_DELETE = do_PATCH = forward

        def log_message(self, *args):
            pass

    return Forward


def serve(port, handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def outcome_of(page, action, result):
    """Runs `action`; waits for the page's outcome to say `result`."""
    action()
    expect(page.locator("#outcome")).to_have_attribute("data-result", result, timeout=15000)
    return page.locator("#outcome").inner_text()


def passkey_grants(page):
    """Records the bodies of the passkey grants the page sends."""
    sent = []

    def on_request(request):
        body = request.post_data or ""
        if request.url.endswith("/token") and "grant-type%3Apasskey" in body:
            sent.append(body)

    page.on("request", on_request)
    return sent


def main():
    api, allowed_port, foreign_port, email, password = sys.argv[1:6]
    handler = proxy_to(api)
    servers = [serve(int(allowed_port), handler), serve(int(foreign_port), handler)]
    allowed = f"http://localhost:{allowed_port}"
    foreign = f"http://localhost:{foreign_port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        first = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
        grants = passkey_grants(page)

        page.goto(f"{allowed}/sign-in")
        page.fill("#email", email)
        page.fill("#password", password)
        said = outcome_of(page, lambda: page.click("#password-form button"), "signed-in")
        check("(pwd)" in said, f"a password signs in: {said!r}")

        page.fill("#passkey-name", "Chromium")
        page.fill("#current-password", password)
        said = outcome_of(page, lambda: page.click("#add-passkey button"), "passkey-added")
        check("Chromium" in said, f"the page registers a passkey: {said!r}")
        listed = page.locator("#passkeys li").all_inner_texts()
        check(len(listed) == 1 and "Chromium" in listed[0], f"the list shows it: {listed}")
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": first["authenticatorId"]})
        check(
            len(credentials["credentials"]) == 1 and credentials["credentials"][0]["isResidentCredential"],
            "the authenticator holds one discoverable credential",
        )

        outcome_of(page, lambda: page.click("#sign-out"), "signed-out")
        said = outcome_of(page, lambda: page.click("#passkey-sign-in"), "signed-in")
        check(f"Signed in as {email} (hwk user)" == said, f"the passkey signs in, amr hwk user: {said!r}")
        check(page.locator("#who").inner_text() == f"Signed in as {email}", "GET /users/me names the account")

        check(len(grants) == 1, f"one passkey grant was sent: {len(grants)}")
        replay = page.request.post(
            f"{allowed}/token",
            data=grants[0],
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        check(
            replay.status == 400 and replay.json()["error"] == "invalid_grant",
            f"a replayed assertion is refused: {replay.status} {replay.text()}",
        )

        outcome_of(page, lambda: page.click("#sign-out"), "signed-out")
        page.goto(f"{foreign}/sign-in")
        said = outcome_of(page, lambda: page.click("#passkey-sign-in"), "invalid_grant")
        check("not accepted" in said, f"a page outside webauthn_origins is refused: {said!r}")

        cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": first["authenticatorId"]})
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
        page.goto(f"{allowed}/sign-in")
        # A discoverable credential for this RP the service never saw.
        made = page.evaluate(
            """async () => {
                const credential = await navigator.credentials.create({publicKey: {
                    rp: {id: "localhost", name: "not the service"},
                    user: {id: new Uint8Array([1, 2, 3, 4]), name: "mallory", displayName: "Mallory"},
                    challenge: new Uint8Array(32),
                    pubKeyCredParams: [{type: "public-key", alg: -7}],
                    authenticatorSelection: {residentKey: "required", userVerification: "required"},
                }});
                return credential.id;
            }"""
        )
        check(bool(made), "authenticator B holds a credential of its own")
        said = outcome_of(page, lambda: page.click("#passkey-sign-in"), "invalid_grant")
        check("not accepted" in said, f"a credential never registered is refused: {said!r}")
        browser.close()
    for server in servers:
        server.shutdown()


if __name__ == "__main__":
    main()
