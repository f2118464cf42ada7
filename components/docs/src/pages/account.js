// The account pages mailed links open (/verify-email, /reset-password).
// Loading a page spends nothing, since mail scanners open every link:
// the token from the link only fills the form, and only submitting it
// POSTs to the API. The token is then taken out of the address bar.
window.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("account-form");
  const outcome = document.getElementById("outcome");
  const token = new URLSearchParams(window.location.search).get("token");
  if (token) {
    form.elements.token.value = token;
    window.history.replaceState(null, "", window.location.pathname);
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, value] of new FormData(form)) {
      // A pasted code may carry spaces; a password is taken as typed.
      body[name] = name === "password" ? value : value.trim();
    }
    const button = form.querySelector("button");
    button.disabled = true;
    outcome.textContent = "";
    try {
      const answer = await fetch(form.dataset.endpoint, {
        method: "POST",
        headers: {"content-type": "application/json"},
        body: JSON.stringify(body),
      });
      if (answer.ok) {
        outcome.textContent = form.dataset.done;
        outcome.dataset.result = "done";
        form.hidden = true;
        return;
      }
      const problem = await answer.json().catch(() => ({}));
      const fields = (problem.errors || []).map((e) => e.message).join(" ");
      outcome.textContent = fields || problem.detail || "Something went wrong; try again.";
      outcome.dataset.result = problem.code || "error";
    } catch (e) {
      outcome.textContent = "The service could not be reached; try again.";
      outcome.dataset.result = "unreachable";
    } finally {
      button.disabled = false;
    }
  });
});
