// /auth/reset?token=: the link's token leaves the address bar at once; the new password and the
// token go to POST /api/auth/password/reset, then to the login page.
import { api } from "../api.js";
import { $ } from "../dom.js";
import { FieldError, onSubmit, values } from "../form.js";
import { takeLinkToken } from "../link-token.js";

const token = takeLinkToken();
const form = $("#reset");
if (!token) {
  $("#missing").textContent = "This page needs the link from the password reset email. Ask for a new link below.";
  form.hidden = true;
}

onSubmit(form, async () => {
  const { password = "", confirm = "" } = values(form);
  if (password !== confirm) throw new FieldError("confirm", "The two passwords differ.");
  await api("/auth/password/reset", { method: "POST", body: { token, password } });
  location.assign("/auth/login?notice=reset");
});
