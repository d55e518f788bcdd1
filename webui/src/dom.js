// SPDX-License-Identifier: GPL-2.0-or-later
// dom: h(tag, props, ...children) builds elements. Strings become text nodes,
// never markup, so names and messages from the daemon or a guest cannot
// inject HTML (noVNC CVE-2017-18635). There is deliberately no innerHTML here.
// Props: class, text, dataset, on<event> (listener), anything else an attribute
// (true → empty attribute; false/null/undefined → left out).

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
// A document-unique id for label/for and aria-describedby pairs.
export const newId = (prefix = 'f') => `${prefix}-${++uid}`;
