"""Swagger UI and CORS as a browser sees them: Debian's Chromium, headless,
driven by Playwright (tests/tools/main.rs starts the app and runs this).

    browser.py API_ORIGIN PAGE_PORT EMAIL PASSWORD

- `/docs` lists the operations; "Authorize" with the OAuth2 password flow
  logs the registered user in through `/token`, after which neither
  localStorage nor sessionStorage holds the password or a token; "Try it
  out" on `GET /users/me` answers 200 with that user.
- A page served at http://127.0.0.1:PAGE_PORT (an allowed origin) calls
  the API with `fetch()`: a token request, a read that exposes `ETag`, and a
  preflighted `PATCH` with `If-Match`. The same page at
  http://127.0.0.2:PAGE_PORT (not allowed) is refused by the browser.

Exits non-zero, saying what failed, on the first broken expectation.
"""

import http.server
import json
import sys
import threading

from playwright.sync_api import expect, sync_playwright

# Flags for a closed network: no background fetches to Google's hosts.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PAGE = b"<!doctype html><title>another origin</title><p>a web app elsewhere</p>"


class PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


def serve_page(host, port):
    server = http.server.ThreadingHTTPServer((host, port), PageHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def authorize(page, api, email, password):
    """Logs in through Swagger UI's "Authorize" with the OAuth2 password flow."""
    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    oauth = dialog.locator(".auth-container").filter(has_text="password")
    oauth.locator("#oauth_username").fill(email)
    oauth.locator("#oauth_password").fill(password)
    with page.expect_response(lambda r: r.url == f"{api}/token") as token:
        oauth.locator("button.authorize").click()
    check(token.value.status == 200, f"the password flow's POST /token answers 200 ({token.value.status})")
    expect(oauth.locator("h6")).to_have_text("Authorized")
    expect(oauth.get_by_role("button", name="Remove authorization")).to_be_visible()
    check(True, "Swagger UI shows the user authorised")
    dialog.locator("button.close-modal").click()


def swagger_ui(page, api, email, password):
    page.goto(f"{api}/docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible(timeout=30_000)
    summaries = operations.locator(".opblock-summary-path").all_inner_texts()
    check(
        "/users/me" in [s.strip() for s in summaries] and len(summaries) >= 15,
        f"/docs lists the operations ({len(summaries)})",
    )

    authorize(page, api, email, password)
    stored = page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    check(
        password not in stored and "refresh_token" not in stored and "eyJ" not in stored,
        f"/docs keeps no password or token in localStorage or sessionStorage ({len(stored)} bytes stored)",
    )

    operation = page.locator("#operations-users-me")
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    with page.expect_response(lambda r: r.url == f"{api}/users/me") as me:
        operation.locator(".execute").click()
    check(me.value.status == 200, f"Try it out on GET /users/me answers 200 ({me.value.status})")
    response = operation.locator(".live-responses-table tbody .response-col_status").first
    expect(response).to_contain_text("200")
    body = operation.locator(".live-responses-table .microlight").first
    expect(body).to_contain_text(email)
    check(True, "Swagger UI shows the caller's own account")


FETCH_FROM_PAGE = """
async ([api, email, password]) => {
  const token = await fetch(api + "/token", {
    method: "POST",
    body: new URLSearchParams({grant_type: "password", username: email, password}),
  });
  const access = (await token.json()).access_token;
  const auth = {authorization: "Bearer " + access};
  const me = await fetch(api + "/users/me", {headers: auth});
  const etag = me.headers.get("etag");
  const patch = await fetch(api + "/users/me", {
    method: "PATCH",
    headers: {...auth, "content-type": "application/json", "if-match": etag},
    body: JSON.stringify({name: "Renamed from elsewhere"}),
  });
  return {token: token.status, me: me.status, etag, patch: patch.status,
          name: (await patch.json()).name};
}
"""

REFUSED_FETCH = """
async (api) => {
  try {
    await fetch(api + "/healthz");
    return "answered";
  } catch (e) {
    return "refused: " + e.message;
  }
}
"""


def cross_origin(page, api, page_port, email, password):
    page.goto(f"http://127.0.0.1:{page_port}/")
    result = page.evaluate(FETCH_FROM_PAGE, [api, email, password])
    print(json.dumps(result))
    check(result["token"] == 200, "an allowed origin gets a token with fetch()")
    check(result["me"] == 200 and result["etag"], "it reads /users/me and sees the exposed ETag")
    check(
        result["patch"] == 200 and result["name"] == "Renamed from elsewhere",
        "a preflighted PATCH with If-Match succeeds",
    )

    page.goto(f"http://127.0.0.2:{page_port}/")
    outcome = page.evaluate(REFUSED_FETCH, api)
    check(outcome.startswith("refused"), f"another origin is refused by the browser ({outcome})")


def main():
    api, page_port, email, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    servers = [serve_page(host, page_port) for host in ("127.0.0.1", "127.0.0.2")]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.set_default_timeout(30_000)
            swagger_ui(page, api, email, password)
            cross_origin(page, api, page_port, email, password)
            browser.close()
    finally:
        for server in servers:
            server.shutdown()


if __name__ == "__main__":
    main()
