// lib: what the OpenAPI response checks and the page tests share: the
// document, an ajv (JSON Schema 2020-12) instance that knows its schemas, a
// tiny reporter that ends with the "N passed, N failed" line, and the way a
// script's main runs.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const DOC_PATH = join(HERE, '..', '..', 'api', 'openapi.json');
export const DOC_TEXT = readFileSync(DOC_PATH, 'utf8');
export const DOC = JSON.parse(DOC_TEXT);
const DOC_ID = 'https://herald.invalid/openapi.json';

// env: a required environment variable; exits 2 with a message when unset.
export function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
}

// The document is added whole under an $id so that "#/components/..." refs
// resolve inside it; strict mode is off for the OpenAPI-only keywords around
// the schemas (paths, info, ...), which ajv is told to ignore.
export const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
ajv.addSchema({ ...DOC, $id: DOC_ID });

const compiled = new Map();
// validator: a compiled validator for the JSON pointer ptr inside the document.
export function validator(ptr) {
  if (!compiled.has(ptr)) {
    compiled.set(ptr, ajv.compile({ $ref: DOC_ID + '#' + ptr }));
  }
  return compiled.get(ptr);
}

export function deref(obj) {
  let o = obj;
  while (o && o.$ref) {
    o = o.$ref.replace(/^#\//, '').split('/')
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((acc, p) => acc[p], DOC);
  }
  return o;
}

// pointerOf: where a possibly-$ref'd object lives, as a pointer for validator().
export function pointerOf(obj, fallback) {
  return obj && obj.$ref ? obj.$ref.replace(/^#/, '') : fallback;
}

export class Report {
  constructor() {
    this.passed = 0;
    this.failed = 0;
  }

  check(name, problems) {
    if (problems.length === 0) {
      this.passed++;
      console.log(`ok - ${name}`);
    } else {
      this.failed++;
      console.log(`not ok - ${name}`);
      for (const p of problems) console.log(`    ${p}`);
    }
  }

  // step: runs fn as the check called name: passed unless it throws, when
  // the first six lines of what it threw are the problem. Returns whether it passed.
  async step(name, fn) {
    try {
      await fn();
      this.check(name, []);
      return true;
    } catch (e) {
      this.check(name, [String(e && e.message ? e.message : e).split('\n').slice(0, 6).join('\n    ')]);
      return false;
    }
  }

  finish() {
    console.log(`${this.passed} passed, ${this.failed} failed`);
    process.exit(this.failed === 0 && this.passed > 0 ? 0 : 1);
  }
}

// assert: throws msg unless cond, failing the step it is in.
export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// runMain: runs the async main; an exception it throws ends the script with exit 1.
export function runMain(main) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
