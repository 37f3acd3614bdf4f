// Money in minor units (what the API stores: integer "cents"), entered and shown in major units
// by the currency's ISO 4217 exponent: 29.99 USD is 2999, 500 JPY is 500, 1.250 KWD is 1250.

// ISO 4217 minor units other than 2 (list one, for the codes the API accepts).
const EXPONENTS = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0,
  UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4,
};

export function exponent(currency) {
  return EXPONENTS[String(currency).toUpperCase()] ?? 2;
}

// "29.99" -> 2999 by string arithmetic (a float would turn 0.29 * 100 into 28.999...).
// Accepts a point or a comma as the decimal separator; refuses more decimals than the
// currency has rather than rounding. Throws an Error whose message says why.
export function toMinor(text, currency) {
  const digits = exponent(currency);
  const value = String(text).trim().replace(/\s/g, "");
  const match = /^(\d+)(?:[.,](\d*))?$/.exec(value);
  if (!match) throw new Error("Enter the price as a number, e.g. 29.99.");
  const fraction = match[2] || "";
  if (fraction.length > digits) {
    throw new Error(
      digits === 0
        ? `${currency} has no decimal places: enter a whole number.`
        : `${currency} has at most ${digits} decimal places.`,
    );
  }
  const minor = Number(match[1] + fraction.padEnd(digits, "0"));
  if (!Number.isSafeInteger(minor)) throw new Error("That price is too large.");
  return minor;
}

// 2999 USD -> "29.99" for an input's value (no grouping, a point).
export function toMajor(minor, currency) {
  const digits = exponent(currency);
  if (digits === 0) return String(minor);
  const s = String(Math.abs(minor)).padStart(digits + 1, "0");
  return `${minor < 0 ? "-" : ""}${s.slice(0, -digits)}.${s.slice(-digits)}`;
}

const formats = new Map();

// 2999 USD -> "$29.99" in the user's locale.
export function formatMoney(minor, currency) {
  const code = String(currency).toUpperCase();
  const digits = exponent(code);
  let format = formats.get(code);
  if (!format) {
    format = new Intl.NumberFormat(undefined, {
      style: "currency",
      currency: code,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    formats.set(code, format);
  }
  return format.format(minor / 10 ** digits);
}
