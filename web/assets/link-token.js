// The single-use token of an email link (/auth/reset?token=, /auth/verify?token=): read once and
// removed from the address bar at once (history.replaceState), so it is not left in the
// history, a bookmark or a screen share. The page keeps it in memory only.
export function takeLinkToken() {
  const url = new URL(location.href);
  const value = url.searchParams.get("token");
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
  }
  return value && value.trim() ? value.trim() : null;
}
