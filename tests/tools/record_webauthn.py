"""Records WebAuthn ceremonies from Debian's Chromium with a DevTools
virtual authenticator (CTAP2, resident keys, user verification), for the
unit tests of crates/domain/src/passkey.rs:

    .tools/python/bin/python tests/tools/record_webauthn.py > vectors.json

For ES256 (-7) and EdDSA (-8): a registration with the challenge
0x00..0x1f on http://localhost:<port> (RP ID `localhost`), then two
assertions with 0xff..0xe0. Prints them as base64url JSON.
"""

import http.server, json, sys, threading, base64
from playwright.sync_api import sync_playwright
PAGE=b"<!doctype html><title>rp</title>"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("content-type","text/html"); self.send_header("content-length",str(len(PAGE))); self.end_headers(); self.wfile.write(PAGE)
    def log_message(self,*a): pass
srv=http.server.ThreadingHTTPServer(("127.0.0.1",0),H); port=srv.server_address[1]
threading.Thread(target=srv.serve_forever,daemon=True).start()
JS="""
async ([alg]) => {
  const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\\+/g,'-').replace(/\\//g,'_').replace(/=+$/,'');
  const challenge = new Uint8Array(32).map((_, i) => i);
  const cred = await navigator.credentials.create({publicKey: {
    challenge, rp: {id: "localhost", name: "spin-users"},
    user: {id: new Uint8Array([1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]), name: "ada@example.com", displayName: "Ada"},
    pubKeyCredParams: [{type: "public-key", alg}],
    authenticatorSelection: {residentKey: "required", userVerification: "required"},
    attestation: "none"}});
  const challenge2 = new Uint8Array(32).map((_, i) => 255 - i);
  const got = await navigator.credentials.get({publicKey: {challenge: challenge2, rpId: "localhost", userVerification: "required"}});
  const got2 = await navigator.credentials.get({publicKey: {challenge: challenge2, rpId: "localhost", userVerification: "required"}});
  return {
    id: cred.id,
    registration: {clientDataJSON: b64u(cred.response.clientDataJSON), attestationObject: b64u(cred.response.attestationObject)},
    assertion: {id: got.id, clientDataJSON: b64u(got.response.clientDataJSON), authenticatorData: b64u(got.response.authenticatorData), signature: b64u(got.response.signature), userHandle: got.response.userHandle ? b64u(got.response.userHandle) : null},
    assertion2: {authenticatorData: b64u(got2.response.authenticatorData), signature: b64u(got2.response.signature), clientDataJSON: b64u(got2.response.clientDataJSON)},
  };
}
"""
out={}
with sync_playwright() as p:
    b=p.chromium.launch(executable_path="/usr/bin/chromium",headless=True,args=["--disable-gpu","--no-first-run"])
    for alg in [-7,-8]:
        page=b.new_page()
        page.goto(f"http://localhost:{port}/")
        cdp=page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send("WebAuthn.addVirtualAuthenticator",{"options":{"protocol":"ctap2","transport":"internal","hasResidentKey":True,"hasUserVerification":True,"isUserVerified":True,"automaticPresenceSimulation":True}})
        try:
            out[str(alg)]=page.evaluate(JS,[alg])
            out[str(alg)]["origin"]=f"http://localhost:{port}"
        except Exception as e:
            out[str(alg)]={"error":str(e)}
        page.close()
    b.close()
print(json.dumps(out,indent=1))
