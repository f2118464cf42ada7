"""The account pages mailed links open, as a browser sees them: Debian's
Chromium, headless, driven by Playwright (tests/tools/main.rs starts the
app, has it mail a verification and a reset link, and runs this).

    pages.py API_ORIGIN VERIFY_LINK RESET_LINK CONFIRM_LINK EMAIL NEW_EMAIL

- Each link is loaded three times first, as mail scanners do: nothing is
  spent, so the form submitted afterwards still succeeds.
- /verify-email confirms the address; /reset-password sets a new
  password, after which a login with it succeeds and the old one fails;
  /confirm-email moves the account to the new address.
- The token leaves the address bar once the page has read it.

Exits non-zero, saying what failed, on the first broken expectation.
"""

import sys

from playwright.sync_api import expect, sync_playwright

from browser import CHROMIUM_ARGS, check

NEW_PASSWORD = "a passphrase from the page"

LOGIN = """
async ([api, email, password]) => (await fetch(api + "/token", {
  method: "POST",
  body: new URLSearchParams({grant_type: "password", username: email, password}),
})).status
"""


def scanned(page, link):
    for _ in range(3):
        answer = page.goto(link)
        check(answer.status == 200, f"loading {link.split('?')[0]} answers 200")
    check("token=" not in page.url, "the token leaves the address bar")


def verify(page, link):
    scanned(page, link)
    page.get_by_role("button", name="Confirm my address").click()
    outcome = page.locator("#outcome")
    expect(outcome).to_have_attribute("data-result", "done")
    expect(outcome).to_have_text("Your address is confirmed.")
    check(True, "after three loads, submitting the form confirms the address")
    page.goto(link)
    page.get_by_role("button", name="Confirm my address").click()
    expect(outcome).to_have_attribute("data-result", "invalid-token")
    check(True, "the same link a second time says the code is not valid")


def reset(page, api, link, email):
    scanned(page, link)
    page.locator("#password").fill("short")
    page.evaluate("() => document.getElementById('password').removeAttribute('minlength')")
    page.get_by_role("button", name="Set the new password").click()
    outcome = page.locator("#outcome")
    expect(outcome).to_have_attribute("data-result", "validation-failed")
    check(True, "a refused password is explained and the code stays usable")
    page.locator("#password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(outcome).to_have_attribute("data-result", "done")
    check(True, "submitting a good password resets it")
    check(page.evaluate(LOGIN, [api, email, NEW_PASSWORD]) == 200, "the new password logs in")
    check(page.evaluate(LOGIN, [api, email, "correct horse"]) == 400, "the old one no longer does")


def confirm(page, api, link, new_email):
    scanned(page, link)
    page.get_by_role("button", name="Move my account here").click()
    outcome = page.locator("#outcome")
    expect(outcome).to_have_attribute("data-result", "done")
    check(True, "after three loads, submitting the form moves the account")
    check(page.evaluate(LOGIN, [api, new_email, NEW_PASSWORD]) == 200, "the new address logs in")


def main():
    api, verify_link, reset_link, confirm_link, email, new_email = sys.argv[1:7]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.set_default_timeout(30_000)
        verify(page, verify_link)
        reset(page, api, reset_link, email)
        confirm(page, api, confirm_link, new_email)
        browser.close()


if __name__ == "__main__":
    main()
