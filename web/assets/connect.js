// Connecting Meta accounts starts here: POST /api/integrations/connect answers Meta's dialog
// URL (with a single-use state bound to this user), and the browser goes there by an ordinary
// navigation; Meta sends the person back to /dashboard/integrations/callback.
import { call } from "./session.js";

export async function startConnect() {
  const started = await call("/integrations/connect", { method: "POST", body: { provider: "facebook" } });
  location.assign(started.authorize_url);
  await new Promise(() => {}); // leaving
}
