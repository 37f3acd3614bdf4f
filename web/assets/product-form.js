// The product form's fields (create and edit): the price typed in major units becomes integer
// minor units for the API; a price the currency cannot hold is refused here, by its field.
import { FieldError, values } from "./form.js";
import { toMinor } from "./money.js";

export function productBody(form, { partialFrom } = {}) {
  const v = values(form);
  const currency = v.currency || "USD";
  let price;
  try {
    price = toMinor(v.price ?? "", currency);
  } catch (err) {
    throw new FieldError("price", err.message);
  }
  const body = { name: v.name ?? "", description: v.description ?? null, price, currency };
  if (!partialFrom) {
    if (body.description === null) delete body.description;
    return body;
  }
  // An edit sends only what changed (PATCH takes any subset).
  const changed = {};
  for (const [key, value] of Object.entries(body)) if ((partialFrom[key] ?? null) !== value) changed[key] = value;
  return changed;
}
