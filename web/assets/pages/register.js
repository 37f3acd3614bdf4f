// /auth/register: email, password, optional name -> POST /api/auth/register -> the dashboard
// (the API sets the refresh cookie and sends the verification email).
import { api } from "../api.js";
import { $ } from "../dom.js";
import { onSubmit, values } from "../form.js";
import { signedIn } from "../session.js";

onSubmit($("#register"), async (form) => {
  const { email = "", password = "", name } = values(form);
  const body = { email, password };
  if (name) body.name = name;
  const pair = await api("/auth/register", { method: "POST", body });
  signedIn(pair);
  location.assign("/dashboard");
});
