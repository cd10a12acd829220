// Building DOM nodes without HTML strings: text from the API is only ever set as text, so
// nothing it holds can become markup (and the CSP forbids inline scripts and styles anyway).

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "text") {
      el.textContent = String(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("a", {href: "#/x", class: "btn"}, "text", otherNode). */
export function h(tag, attrs, ...children) {
  return append(apply(document.createElement(tag), attrs), children);
}

/** An SVG element, same calling convention as h(). */
export function s(tag, attrs, ...children) {
  return append(apply(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Replace every child of el. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A message box: kind is "error", "empty", "info" or "loading". */
export function notice(kind, title, ...details) {
  const attrs = { class: `notice ${kind}` };
  if (kind === "error") attrs.role = "alert";
  if (kind === "loading") attrs["aria-busy"] = "true";
  return h("div", attrs, h("p", { class: "notice-title" }, title), details.map((d) => h("p", {}, d)));
}

/** A horizontally scrollable wrapper so wide tables stay usable on a phone. */
export function scroller(table) {
  return h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": table.dataset.label || "table" }, table);
}
