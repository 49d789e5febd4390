// The sign-in page: sends the key once, as JSON, and goes to the console when a session opens.
"use strict";
document.getElementById("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("error");
  const input = document.getElementById("key");
  error.textContent = "";
  let resp;
  try {
    resp = await fetch("/ui/api/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: input.value }),
      credentials: "same-origin",
    });
  } catch (e) {
    error.textContent = "The gateway cannot be reached.";
    return;
  }
  if (resp.ok) {
    input.value = "";
    location.assign("/ui");
    return;
  }
  let message = "Sign-in failed (" + resp.status + ").";
  try {
    message = (await resp.json()).error.message || message;
  } catch (e) { /* not JSON: keep the status */ }
  error.textContent = message;
});
