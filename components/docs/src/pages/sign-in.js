// The sign-in page (/sign-in): a password (and a second factor) or a
// passkey signs in; a signed-in user adds passkeys and sees them. It talks
// only to this origin's API; the tokens live in this page's memory, never
// in storage.
const session = {access: null, refresh: null};

const base64url = {
  encode(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (const byte of bytes) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
  decode(text) {
    const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  },
};

// The WebAuthn JSON forms of the options, as the API answers them, made
// into what navigator.credentials takes (binary as bytes).
const creationOptions = (json) => ({
  ...json,
  challenge: base64url.decode(json.challenge),
  user: {...json.user, id: base64url.decode(json.user.id)},
  excludeCredentials: json.excludeCredentials.map((c) => ({...c, id: base64url.decode(c.id)})),
});
const requestOptions = (json) => ({
  ...json,
  challenge: base64url.decode(json.challenge),
  allowCredentials: json.allowCredentials.map((c) => ({...c, id: base64url.decode(c.id)})),
});

// A credential as its toJSON() gives it (RegistrationResponseJSON,
// AuthenticationResponseJSON), for browsers without toJSON().
const credentialJson = (credential) => {
  const response = credential.response;
  const json = {
    id: credential.id,
    rawId: base64url.encode(credential.rawId),
    type: credential.type,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: {clientDataJSON: base64url.encode(response.clientDataJSON)},
  };
  if (response.attestationObject) {
    json.response.attestationObject = base64url.encode(response.attestationObject);
  } else {
    json.response.authenticatorData = base64url.encode(response.authenticatorData);
    json.response.signature = base64url.encode(response.signature);
    json.response.userHandle = response.userHandle ? base64url.encode(response.userHandle) : null;
  }
  return json;
};

const outcome = () => document.getElementById("outcome");

function say(text, result) {
  outcome().textContent = text;
  outcome().dataset.result = result;
}

async function api(method, path, body, form) {
  const headers = {};
  if (session.access) headers.authorization = `Bearer ${session.access}`;
  let payload;
  if (form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    payload = new URLSearchParams(body).toString();
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const answer = await fetch(path, {method, headers, body: payload});
  const text = await answer.text();
  let json = {};
  try { json = text ? JSON.parse(text) : {}; } catch (e) { json = {}; }
  return {status: answer.status, ok: answer.ok, json};
}

const problemText = (json) =>
  (json.errors || []).map((e) => e.message).join(" ") || json.detail || json.error_description || json.error || "Something went wrong; try again.";

// The amr of an access token (a JWT), to show how the session was proven.
function amr(token) {
  const payload = token.split(".")[1];
  return JSON.parse(new TextDecoder().decode(base64url.decode(payload))).amr || [];
}

async function showSignedIn(tokens) {
  session.access = tokens.access_token;
  session.refresh = tokens.refresh_token;
  const me = await api("GET", "/users/me");
  if (!me.ok) return say(problemText(me.json), me.json.code || "error");
  document.getElementById("who").textContent = `Signed in as ${me.json.email}`;
  document.getElementById("signed-out").hidden = true;
  document.getElementById("signed-in").hidden = false;
  await listPasskeys();
  say(`Signed in as ${me.json.email} (${amr(session.access).join(" ")})`, "signed-in");
}

async function listPasskeys() {
  const list = await api("GET", "/users/me/passkeys");
  const items = document.getElementById("passkeys");
  items.replaceChildren(...(list.json.items || []).map((passkey) => {
    const item = document.createElement("li");
    const used = passkey.last_used_at ? `last used ${passkey.last_used_at}` : "never used";
    item.textContent = `${passkey.name} (${passkey.synced ? "synced" : "this device"}, ${used})`;
    return item;
  }));
}

let mfaToken = null;

async function signInWithPassword(event) {
  event.preventDefault();
  const form = event.target;
  const fields = Object.fromEntries(new FormData(form));
  const body = mfaToken
    ? {grant_type: "urn:spin-users:grant-type:mfa", mfa_token: mfaToken, otp: fields.otp.trim()}
    : {grant_type: "password", username: fields.username.trim(), password: fields.password};
  const answer = await api("POST", "/token", body, true);
  if (answer.ok) {
    mfaToken = null;
    document.getElementById("otp-field").hidden = true;
    return showSignedIn(answer.json);
  }
  if (answer.json.error === "mfa_required") {
    mfaToken = answer.json.mfa_token;
    document.getElementById("otp-field").hidden = false;
    return say("Enter the code from your authenticator app.", "mfa_required");
  }
  say(problemText(answer.json), answer.json.error || answer.json.code || "error");
}

async function signInWithPasskey() {
  const options = await api("POST", "/passkeys/login/options");
  if (!options.ok) return say(problemText(options.json), options.json.code || "error");
  let credential;
  try {
    credential = await navigator.credentials.get({publicKey: requestOptions(options.json)});
  } catch (e) {
    return say(`No passkey was used (${e.name}).`, "cancelled");
  }
  const body = {
    grant_type: "urn:spin-users:grant-type:passkey",
    credential: JSON.stringify(credentialJson(credential)),
  };
  const answer = await api("POST", "/token", body, true);
  if (answer.ok) return showSignedIn(answer.json);
  say("That passkey was not accepted.", answer.json.error || "error");
}

async function addPasskey(event) {
  event.preventDefault();
  const fields = Object.fromEntries(new FormData(event.target));
  const proof = {current_password: fields.current_password};
  if (fields.code.trim()) proof.code = fields.code.trim();
  const options = await api("POST", "/users/me/passkeys/options", proof);
  if (!options.ok) return say(problemText(options.json), options.json.code || "error");
  let credential;
  try {
    credential = await navigator.credentials.create({publicKey: creationOptions(options.json)});
  } catch (e) {
    return say(`No passkey was made (${e.name}).`, "cancelled");
  }
  const body = {name: fields.name, credential: credentialJson(credential)};
  const answer = await api("POST", "/users/me/passkeys", body);
  if (!answer.ok) return say(problemText(answer.json), answer.json.code || "error");
  event.target.reset();
  await listPasskeys();
  say(`Passkey "${answer.json.name}" added.`, "passkey-added");
}

async function signOut() {
  if (session.refresh) await api("POST", "/logout", {refresh_token: session.refresh}, true);
  session.access = null;
  session.refresh = null;
  document.getElementById("signed-in").hidden = true;
  document.getElementById("signed-out").hidden = false;
  say("Signed out.", "signed-out");
}

window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("password-form").addEventListener("submit", signInWithPassword);
  document.getElementById("passkey-sign-in").addEventListener("click", signInWithPasskey);
  document.getElementById("add-passkey").addEventListener("submit", addPasskey);
  document.getElementById("sign-out").addEventListener("click", signOut);
  if (!window.PublicKeyCredential) say("This browser has no passkeys (WebAuthn).", "unsupported");
});
