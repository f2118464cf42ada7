"""A second factor enrolled through Swagger UI, as a person would: Debian's
Chromium, headless, driven by Playwright (tests/tools/main.rs starts the
app and runs this).

    second_factor.py API_ORIGIN EMAIL PASSWORD

- "Authorize" logs the registered user in; "Try it out" on
  `POST /users/me/mfa/totp` answers the secret, its URI and a QR code.
- The QR code, drawn by Chromium from the SVG and decoded from the
  screenshot by zxing-cpp, holds exactly the `otpauth://` URI.
- A code computed from the URI's secret here (RFC 6238, this file's own
  implementation, checked against the RFC's appendix B) confirms the
  enrolment through "Try it out" and gets the recovery codes.
- A password login in the page now answers `403 mfa_required`, and the
  second-factor grant with the next code answers tokens whose `amr` is
  `["pwd", "otp", "mfa"]`.

Exits non-zero, saying what failed, on the first broken expectation.
"""

import base64
import hashlib
import hmac
import io
import json
import struct
import sys
import time
import urllib.parse

import zxingcpp
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from browser import CHROMIUM_ARGS, authorize, check


def hotp(key, counter, digits):
    """RFC 4226 section 5.3."""
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[19] & 0x0F
    binary = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def totp(secret_base32, at):
    padded = secret_base32 + "=" * (-len(secret_base32) % 8)
    return hotp(base64.b32decode(padded), int(at) // 30, 6)


def check_appendix_b():
    seed = b"12345678901234567890"
    for at, expected in [(59, "94287082"), (1111111109, "07081804"), (2000000000, "69279037")]:
        check(hotp(seed, at // 30, 8) == expected, f"RFC 6238 appendix B at T={at}")


def try_it_out(page, api, operation_id, path, body):
    """Runs `operation_id` in Swagger UI with the JSON `body`; its answer."""
    operation = page.locator(f"#operations-users-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    editor = operation.locator("textarea.body-param__text")
    editor.fill(json.dumps(body))
    with page.expect_response(lambda r: r.url == f"{api}{path}" and r.request.method == "POST") as answer:
        operation.locator(".execute").click()
    return answer.value


def decode_qr(browser, svg):
    """The text of the QR code `svg`, as Chromium draws it."""
    page = browser.new_page()
    page.set_content(f"<body style='margin:0;background:#fff'>{svg}</body>")
    picture = page.locator("svg").screenshot()
    page.close()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(picture)))
    check(len(found) == 1, f"the QR code decodes ({len(found)} found)")
    return found[0].text


FINISH_LOGIN = """
async ([api, email, password, code]) => {
  const post = (body) => fetch(api + "/token", {method: "POST", body: new URLSearchParams(body)});
  const first = await post({grant_type: "password", username: email, password});
  const half = await first.json();
  const second = await post({grant_type: "urn:spin-users:grant-type:mfa",
                             mfa_token: half.mfa_token || "", otp: code});
  const tokens = await second.json();
  const claims = tokens.access_token
    ? JSON.parse(atob(tokens.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))
    : {};
  return {first: first.status, error: half.error, second: second.status, amr: claims.amr};
}
"""


def main():
    api, email, password = sys.argv[1], sys.argv[2], sys.argv[3]
    check_appendix_b()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{api}/docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
        authorize(page, api, email, password)

        enrolment = try_it_out(
            page, api, "enrol_totp", "/users/me/mfa/totp", {"current_password": password}
        )
        check(enrolment.status == 200, f"Try it out on POST /users/me/mfa/totp answers 200 ({enrolment.status})")
        shown = enrolment.json()
        uri = decode_qr(browser, shown["qr_svg"])
        check(uri == shown["otpauth_uri"], f"the QR code holds the otpauth URI ({uri})")
        parsed = urllib.parse.urlparse(uri)
        query = urllib.parse.parse_qs(parsed.query)
        check(parsed.scheme == "otpauth" and parsed.netloc == "totp", "an otpauth://totp URI")
        check(
            query["algorithm"] == ["SHA1"] and query["digits"] == ["6"] and query["period"] == ["30"],
            "SHA1, 6 digits, 30-second steps",
        )
        secret = query["secret"][0]
        check(len(base64.b32decode(secret + "=" * (-len(secret) % 8))) >= 20, "a secret of 160 bits or more")

        # Far enough from a step's end that the next step's code is still
        # within the server's drift when it arrives.
        if 30 - time.time() % 30 < 3:
            time.sleep(4)
        confirmed = try_it_out(
            page, api, "confirm_totp", "/users/me/mfa/totp/confirm", {"code": totp(secret, time.time())}
        )
        check(confirmed.status == 200, f"Try it out on the confirmation answers 200 ({confirmed.status})")
        codes = confirmed.json()["recovery_codes"]
        check(len(codes) >= 8, f"{len(codes)} recovery codes are shown")

        result = page.evaluate(FINISH_LOGIN, [api, email, password, totp(secret, time.time() + 30)])
        print(json.dumps(result))
        check(result["first"] == 403 and result["error"] == "mfa_required", "a password alone answers mfa_required")
        check(result["second"] == 200, "the second-factor grant answers tokens")
        check(result["amr"] == ["pwd", "otp", "mfa"], "their amr says a second factor was used")
        browser.close()


if __name__ == "__main__":
    main()
