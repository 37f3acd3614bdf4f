// Forms: submit through a handler, show what went wrong next to the form in its
// role="alert" element (the problem's detail, and each per-field error by its field), and
// keep the submit button disabled while a request is under way.
import { h } from "./dom.js";

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

// "Try again in 15 minutes." from a Retry-After in seconds.
export function retryText(seconds) {
  if (seconds === null || seconds === undefined) return "Wait a moment and try again.";
  if (seconds < 60) return `Try again ${relative.format(Math.max(1, seconds), "second")}.`;
  if (seconds < 3600) return `Try again ${relative.format(Math.ceil(seconds / 60), "minute")}.`;
  return `Try again ${relative.format(Math.ceil(seconds / 3600), "hour")}.`;
}

// What a person reads for an error: the problem's detail; for a 429 also when to try again.
export function explain(err) {
  const message = err && err.message ? err.message : String(err);
  if (err && err.status === 429) {
    const why = err.problem && err.problem.detail ? err.problem.detail : "Too many attempts.";
    return `${why} ${retryText(err.retryAfter)}`;
  }
  if (err && err.status === 503 && err.retryAfter !== null && err.retryAfter !== undefined) {
    return `${message} ${retryText(err.retryAfter)}`; // storage or the payment provider, briefly
  }
  return message;
}

function alertOf(form) {
  let alert = form.querySelector("[role=alert]");
  if (!alert) {
    alert = h("div", { class: "alert", role: "alert" });
    form.prepend(alert);
  }
  return alert;
}

function fieldName(loc) {
  // ["body", "price"] -> "price"; ["query", "from"] -> "from"; nested: the first name.
  const names = (loc || []).filter((part) => typeof part === "string" && part !== "body" && part !== "query");
  return names[0];
}

export function clearErrors(form) {
  alertOf(form).replaceChildren();
  for (const node of form.querySelectorAll(".field-error")) node.remove();
  for (const node of form.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    node.removeAttribute("aria-describedby");
  }
}

// Show an error: the summary in the alert, each field's message under its input.
export function showError(form, err) {
  const alert = alertOf(form);
  const items = [];
  for (const e of (err && err.errors) || []) {
    const name = fieldName(e.loc);
    const input = name && form.elements.namedItem(name);
    const label = input && input.labels && input.labels[0] ? input.labels[0].textContent.trim() : name;
    const text = name ? `${label}: ${e.msg}` : e.msg;
    items.push(h("li", {}, text));
    if (input && input.setAttribute) {
      const id = `${input.id || name}-error`;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", id);
      input.after(h("p", { class: "field-error", id }, e.msg));
    }
  }
  alert.replaceChildren(h("p", {}, explain(err)), items.length ? h("ul", {}, items) : "");
  const first = form.querySelector("[aria-invalid]");
  if (first) first.focus();
}

// A field's own error, found before any request (e.g. a price that is not a number).
export class FieldError extends Error {
  constructor(field, message) {
    super("Check the form.");
    this.errors = [{ loc: [field], msg: message }];
  }
}

// Run `handler(form)` on submit; errors go to the form's alert. Returns the form.
// The pages' submit buttons start disabled (and their forms use POST): a click or Enter before
// this handler is attached must not submit the form natively, which would put its fields
// (an email, a password) in a request to the static site. They are enabled here.
export function onSubmit(form, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    clearErrors(form);
    buttons.forEach((b) => (b.disabled = true));
    form.setAttribute("aria-busy", "true");
    try {
      await handler(form, event.submitter);
    } catch (err) {
      showError(form, err);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      form.removeAttribute("aria-busy");
    }
  });
  for (const button of form.querySelectorAll("button")) button.disabled = false;
  return form;
}

// The form's fields as an object; empty optional ones left out, text trimmed (passwords are
// taken exactly as typed).
export function values(form) {
  const out = {};
  for (const input of form.elements) {
    if (!input.name || input.disabled || input.type === "file" || input.type === "submit") continue;
    if ((input.type === "checkbox" || input.type === "radio") && !input.checked) continue;
    const value = input.type === "password" ? input.value : input.value.trim();
    if (value !== "") out[input.name] = value;
  }
  return out;
}
