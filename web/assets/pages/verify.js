// /auth/verify?token=: exchanged at once (POST /api/auth/verify-email) and removed from the
// address bar before anything else happens.
import { api } from "../api.js";
import { $ } from "../dom.js";
import { explain } from "../form.js";
import { takeLinkToken } from "../link-token.js";

const token = takeLinkToken();
const state = $("#state");

async function verify() {
  if (!token) throw new Error("This page needs the link from the confirmation email.");
  const user = await api("/auth/verify-email", { method: "POST", body: { token } });
  state.classList.remove("pending");
  state.textContent = `${user.email} is confirmed. Thank you.`;
}

verify().catch((err) => {
  state.textContent = "";
  $("#problem").textContent = `${explain(err)} You can ask for a new confirmation email from the dashboard.`;
});
