// /auth/forgot: POST /api/auth/password/forgot. The API answers 202 whether or not the address
// has an account, and so does this page.
import { api } from "../api.js";
import { $ } from "../dom.js";
import { onSubmit, values } from "../form.js";

onSubmit($("#forgot"), async (form) => {
  const { email = "" } = values(form);
  await api("/auth/password/forgot", { method: "POST", body: { email } });
  $("#sent").textContent = `If ${email} has an account, a link to set a new password is on its way. It works once, for 30 minutes.`;
  form.reset();
});
