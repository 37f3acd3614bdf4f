// /auth/login: email and password -> POST /api/auth/login -> the dashboard. A wrong password
// shows the API's reason; after too many, the 429 says when to try again.
import { api } from "../api.js";
import { $ } from "../dom.js";
import { onSubmit, values } from "../form.js";
import { nextPath, signedIn } from "../session.js";

const notices = {
  reset: "Your password has been changed. Log in with the new one.",
  "logged-out": "You have logged out.",
};
const notice = new URLSearchParams(location.search).get("notice");
if (notices[notice]) $("#notice").textContent = notices[notice];

onSubmit($("#login"), async (form) => {
  const { email = "", password = "" } = values(form);
  const pair = await api("/auth/login", { method: "POST", body: { email, password } });
  signedIn(pair);
  location.assign(nextPath());
});
