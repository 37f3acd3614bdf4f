// The currencies a product may be priced in: ISO 4217's active codes (as the API accepts),
// the common ones first, each named in the user's language.
const COMMON = ["USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "SEK", "NOK", "DKK", "PLN", "BRL", "MXN", "INR"];
const ALL = `AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD
IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG`.split(/\s+/);

function names() {
  try {
    return new Intl.DisplayNames(undefined, { type: "currency" });
  } catch {
    return null;
  }
}

// Fill a <select> with every code, `selected` chosen.
export function currencyOptions(select, selected = "USD") {
  const display = names();
  const option = (code) => {
    const node = document.createElement("option");
    node.value = code;
    const name = display ? display.of(code) : "";
    node.textContent = name && name !== code ? `${code} · ${name}` : code;
    node.selected = code === selected;
    return node;
  };
  const common = document.createElement("optgroup");
  common.label = "Common";
  common.append(...COMMON.map(option));
  const rest = document.createElement("optgroup");
  rest.label = "All currencies";
  rest.append(...ALL.filter((c) => !COMMON.includes(c)).map(option));
  select.replaceChildren(common, rest);
  if (!ALL.includes(selected)) select.append(option(selected));
}
