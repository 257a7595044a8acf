// The reference page: fetches /openapi.json and renders it as plain HTML.
// Text from the document is only ever inserted as text nodes; a tiny
// Markdown subset (paragraphs, tables, `code`, **bold**) is turned into
// elements, never parsed as HTML.
'use strict';

(function () {
  let doc = null;
  const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // ---- Markdown subset ----

  function inline(text) {
    const frag = document.createDocumentFragment();
    const re = /`([^`]+)`|\*\*([^*]+)\*\*/g;
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) frag.append(document.createTextNode(text.slice(last, m.index)));
      frag.append(m[1] !== undefined ? el('code', {}, m[1]) : el('strong', {}, m[2]));
      last = re.lastIndex;
    }
    if (last < text.length) frag.append(document.createTextNode(text.slice(last)));
    return frag;
  }

  function cells(line) {
    return line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
  }

  function markdown(text) {
    const box = el('div', { class: 'desc' });
    if (!text) return box;
    for (const block of text.split(/\n\s*\n/)) {
      const lines = block.split('\n');
      if (lines.length >= 2 && lines[0].trim().startsWith('|') && /^\s*\|[\s|:-]+\|\s*$/.test(lines[1])) {
        const table = el('table', {});
        const head = el('tr', {}, ...cells(lines[0]).map((c) => el('th', {}, inline(c))));
        table.append(el('thead', {}, head));
        const body = el('tbody', {});
        for (const l of lines.slice(2)) {
          if (l.trim()) body.append(el('tr', {}, ...cells(l).map((c) => el('td', {}, inline(c)))));
        }
        table.append(body);
        box.append(table);
      } else {
        box.append(el('p', {}, inline(block.replace(/\n/g, ' '))));
      }
    }
    return box;
  }

  // ---- references ----

  function refName(ref) {
    return ref.split('/').pop();
  }

  function resolve(obj) {
    let o = obj;
    for (let i = 0; o && o.$ref && i < 10; i++) {
      const parts = o.$ref.replace(/^#\//, '').split('/');
      o = parts.reduce((acc, p) => (acc ? acc[p] : undefined), doc);
    }
    return o || {};
  }

  function schemaLink(ref) {
    const name = refName(ref);
    return el('a', { href: '#schema-' + name, class: 'type' }, name);
  }

  // ---- schemas ----

  function typeLabel(s) {
    if (!s) return 'any';
    if (s.$ref) return schemaLink(s.$ref);
    if (s.const !== undefined) return el('span', { class: 'type' }, JSON.stringify(s.const));
    let t = Array.isArray(s.type) ? s.type.join(' | ') : s.type;
    if (!t && s.oneOf) t = 'one of';
    if (!t && s.allOf) t = 'all of';
    if (!t) t = 'any';
    if (s.type === 'array' && s.items) {
      const frag = document.createDocumentFragment();
      frag.append(el('span', { class: 'type' }, 'array of '), typeLabel(s.items));
      return frag;
    }
    if (s.format) t += ' (' + s.format + ')';
    return el('span', { class: 'type' }, t);
  }

  function constraints(s) {
    const out = [];
    const add = (label, v) => {
      if (v !== undefined) out.push(label + ' ' + (typeof v === 'string' ? v : JSON.stringify(v)));
    };
    add('min length', s.minLength);
    add('max length', s.maxLength);
    add('minimum', s.minimum);
    add('maximum', s.maximum);
    add('min items', s.minItems);
    add('max items', s.maxItems);
    add('default', s.default);
    add('pattern', s.pattern);
    const box = el('div', { class: 'constraints' });
    if (out.length) box.append(out.join(' · '));
    if (Array.isArray(s.enum)) {
      const en = el('div', { class: 'enum' }, 'one of: ');
      for (const v of s.enum) en.append(el('code', {}, v === null ? 'null' : String(v)));
      box.append(en);
    }
    return box;
  }

  // renderSchema: a block describing s; named schemas are linked, not expanded.
  function renderSchema(s, depth) {
    const box = el('div', { class: 'schema' });
    if (!s) return box;
    if (s.$ref) {
      box.append(schemaLink(s.$ref));
      return box;
    }
    // an error envelope narrowed to some codes (allOf [Error, {code}])
    if (Array.isArray(s.allOf) && s.allOf.length === 2 && s.allOf[0].$ref) {
      const code = (((s.allOf[1].properties || {}).error || {}).properties || {}).code;
      if (code) {
        const codes = code.const !== undefined ? [code.const] : code.enum || [];
        box.append(schemaLink(s.allOf[0].$ref), ' with code ');
        codes.forEach((c, i) => box.append(i ? ' or ' : '', el('code', {}, c)));
        return box;
      }
    }
    if (s.description && depth > 0) box.append(markdown(s.description));
    box.append(el('div', {}, typeLabel(s)), constraints(s));
    if (s.properties) {
      const req = new Set(s.required || []);
      const rows = Object.entries(s.properties).map(([name, p]) => {
        const detail = el('td', {});
        const rp = p.$ref ? resolve(p) : p;
        if (rp.description) detail.append(markdown(rp.description));
        detail.append(constraints(rp));
        if (!p.$ref && depth < 4 && (p.properties || (p.items && p.items.properties) || p.oneOf)) {
          detail.append(renderSchema(p.items && p.items.properties ? p.items : p, depth + 1));
        }
        return el('tr', {},
          el('td', {}, el('code', {}, name), req.has(name) ? el('span', { class: 'req' }, 'required') : null),
          el('td', {}, typeLabel(p)),
          detail);
      });
      box.append(el('table', {},
        el('thead', {}, el('tr', {}, el('th', {}, 'Field'), el('th', {}, 'Type'), el('th', {}, 'Description'))),
        el('tbody', {}, ...rows)));
      if (s.additionalProperties === false) {
        box.append(el('div', { class: 'constraints' }, 'No other fields.'));
      }
    }
    for (const key of ['oneOf', 'anyOf']) {
      if (Array.isArray(s[key])) {
        const list = el('ul', {});
        for (const alt of s[key]) {
          list.append(el('li', {}, alt.title ? el('strong', {}, alt.title + ': ') : null,
            renderSchema(alt, depth + 1)));
        }
        box.append(el('div', {}, key === 'oneOf' ? 'Exactly one of:' : 'Any of:'), list);
      }
    }
    if (Array.isArray(s.allOf)) {
      for (const part of s.allOf) {
        if (part.if && part.then) {
          box.append(el('div', { class: 'constraints' }, 'When ', el('code', {}, JSON.stringify(part.if.properties)),
            ': ', el('code', {}, JSON.stringify(part.then))));
        } else {
          box.append(renderSchema(part, depth + 1));
        }
      }
    }
    if (Array.isArray(s.examples) && s.examples.length && depth === 0) {
      box.append(el('details', {}, el('summary', {}, 'Example'),
        el('pre', {}, JSON.stringify(s.examples[0], null, 2))));
    }
    return box;
  }

  // ---- operations ----

  function renderParams(params) {
    if (!params || !params.length) return null;
    const rows = params.map((p0) => {
      const p = resolve(p0);
      const d = el('td', {}, markdown(p.description || ''), constraints(resolve(p.schema || {})));
      return el('tr', {},
        el('td', {}, el('code', {}, p.name), p.required ? el('span', { class: 'req' }, 'required') : null),
        el('td', {}, p.in),
        el('td', {}, typeLabel(p.schema)),
        d);
    });
    return el('div', {}, el('h4', {}, 'Parameters'),
      el('table', { class: 'params' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'In'), el('th', {}, 'Type'), el('th', {}, 'Description'))),
        el('tbody', {}, ...rows)));
  }

  // renderContent: each media type and its schema; with expand, a named
  // schema is shown in full under its link (request bodies, success answers).
  function renderContent(content, expand) {
    const box = el('div', {});
    for (const [media, m] of Object.entries(content || {})) {
      box.append(el('div', { class: 'small muted' }, el('code', {}, media)), renderSchema(m.schema, 0));
      if (expand && m.schema && m.schema.$ref) {
        box.append(el('details', {}, el('summary', {}, 'Fields of ' + refName(m.schema.$ref)),
          renderSchema(resolve(m.schema), 1)));
      }
    }
    return box;
  }

  function renderResponses(responses) {
    const rows = Object.entries(responses).map(([status, r0]) => {
      const r = resolve(r0);
      const detail = el('td', {}, markdown(r.description || ''));
      const hs = Object.keys(r.headers || {});
      if (hs.length) {
        const hl = el('div', { class: 'small muted' }, 'Headers: ');
        hs.forEach((h, i) => hl.append(i ? ', ' : '', el('code', {}, h)));
        detail.append(hl);
      }
      if (r.content) detail.append(renderContent(r.content, status.startsWith('2')));
      return el('tr', {}, el('td', {}, el('span', { class: 'status s' + status[0] }, status)), detail);
    });
    return el('div', {}, el('h4', {}, 'Responses'),
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Status'), el('th', {}, 'Meaning'))),
        el('tbody', {}, ...rows)));
  }

  function opId(method, path) {
    return 'op-' + method + '-' + path.replace(/[^A-Za-z0-9]+/g, '-');
  }

  function renderOperation(path, method, o) {
    const secured = (o.security || doc.security || []).length > 0;
    const box = el('section', { class: 'op', id: o.operationId ? 'op-' + o.operationId : opId(method, path) });
    box.append(el('div', { class: 'op-head' },
      el('span', { class: 'method ' + method }, method.toUpperCase()),
      el('code', { class: 'path' }, path),
      el('h3', {}, o.summary || ''),
      el('span', { class: 'auth' }, secured ? 'Bearer key' + (path.startsWith('/v1/admin') ? ' (admin)' : '') : 'no authentication')));
    box.append(markdown(o.description || ''));
    box.append(renderParams(o.parameters) || '');
    if (o.requestBody) {
      const rb = resolve(o.requestBody);
      box.append(el('h4', {}, 'Request body'), markdown(rb.description || ''), renderContent(rb.content, true));
    }
    box.append(renderResponses(o.responses || {}));
    return box;
  }

  // ---- page ----

  function render() {
    const main = document.getElementById('content');
    const toc = document.getElementById('toc-list');
    const nodes = [];
    nodes.push(el('h1', {}, doc.info.title + ' API ', el('span', { class: 'muted small' }, 'v' + doc.info.version)));
    if (doc.info.summary) nodes.push(el('p', { class: 'muted' }, doc.info.summary));
    nodes.push(el('h2', { id: 'intro' }, 'Introduction'), markdown(doc.info.description));
    toc.append(el('li', {}, el('a', { href: '#intro' }, 'Introduction')));

    nodes.push(el('h2', { id: 'auth' }, 'Authentication'));
    for (const [name, sc] of Object.entries((doc.components || {}).securitySchemes || {})) {
      nodes.push(el('p', {}, el('code', {}, name), ': HTTP ', sc.scheme, ' (', el('code', {}, 'Authorization: Bearer ' + (sc.bearerFormat || '…')), '). '),
        markdown(sc.description || ''));
    }
    toc.append(el('li', {}, el('a', { href: '#auth' }, 'Authentication')));

    const byTag = new Map((doc.tags || []).map((t) => [t.name, []]));
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const m of METHODS) {
        if (!item[m]) continue;
        const tag = (item[m].tags || ['Other'])[0];
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push([path, m, item[m]]);
      }
    }
    for (const [tag, ops] of byTag) {
      const tagInfo = (doc.tags || []).find((t) => t.name === tag) || {};
      const id = 'tag-' + tag.replace(/[^A-Za-z0-9]+/g, '-');
      nodes.push(el('h2', { id }, tag), markdown(tagInfo.description || ''));
      const sub = el('ol', {});
      for (const [path, m, o] of ops) {
        const section = renderOperation(path, m, o);
        nodes.push(section);
        sub.append(el('li', {}, el('a', { href: '#' + section.id }, m.toUpperCase() + ' ' + path)));
      }
      toc.append(el('li', {}, el('a', { href: '#' + id }, tag), sub));
    }

    nodes.push(el('h2', { id: 'schemas' }, 'Schemas'));
    const sub = el('ol', {});
    for (const [name, s] of Object.entries((doc.components || {}).schemas || {})) {
      nodes.push(el('section', { class: 'op', id: 'schema-' + name },
        el('h3', {}, name), markdown(s.description || ''), renderSchema(s, 0)));
      sub.append(el('li', {}, el('a', { href: '#schema-' + name }, name)));
    }
    toc.append(el('li', {}, el('a', { href: '#schemas' }, 'Schemas'), sub));
    main.replaceChildren(...nodes);
    if (location.hash) {
      const target = document.getElementById(location.hash.slice(1));
      if (target) target.scrollIntoView();
    }
  }

  fetch('/openapi.json', { cache: 'no-cache' })
    .then((r) => {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    })
    .then((d) => {
      doc = d;
      render();
    })
    .catch((e) => {
      const main = document.getElementById('content');
      main.replaceChildren(el('p', { id: 'error' }, 'Cannot load /openapi.json: ' + e.message));
    });
})();
