#!/usr/bin/env python3
"""check.py HERALD_API: keeps the reference in step with the code (a ctest, label unit).

Every setting `HERALD_API --help` lists is named in docs/ and every HERALD_* name in docs/ is one
it lists; every HERALD_* name in api/openapi.json is one too. The routes of api/openapi.json,
of docs/ (written `METHOD /path`) and of api/routes.c's table are the same set (path parameters
compared by position). The README links docs/reference.md. Prints each difference and exits 1
when there is one; needs no server.
"""

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
VAR = re.compile(r"\bHERALD_[A-Z0-9_]*[A-Z0-9]\b")
METHODS = "GET|POST|PUT|PATCH|DELETE"


def norm(path):
    """/v1/x/{id}/y and /v1/x/{}/y compare equal."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    problems = []

    helptext = subprocess.run([sys.argv[1], "--help"], capture_output=True, text=True,
                              check=True).stdout
    env = helptext[helptext.index("Environment:"):]
    help_vars = set(re.findall(r"^\s+(HERALD_[A-Z0-9_]+)\s", env, re.M))
    docs = {p: p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))}
    doc_text = "\n".join(docs.values())
    doc_vars = set(VAR.findall(doc_text))
    openapi_text = (ROOT / "api" / "openapi.json").read_text(encoding="utf-8")
    api_vars = set(VAR.findall(openapi_text))
    if len(help_vars) < 10:
        problems.append("herald-api --help lists only %d settings" % len(help_vars))
    for v in sorted(help_vars - doc_vars):
        problems.append("%s: listed by herald-api --help, named nowhere in docs/" % v)
    for v in sorted(doc_vars - help_vars):
        problems.append("%s: named in docs/, not a setting herald-api --help lists" % v)
    for v in sorted(api_vars - help_vars):
        problems.append("%s: named in api/openapi.json, not a setting herald-api --help lists" % v)

    doc = json.loads(openapi_text)
    api_routes = {(m.upper(), norm(p)) for p, ops in doc["paths"].items() for m in ops
                  if m.upper() in METHODS.split("|")}
    doc_routes = {(m, norm(p)) for m, p in re.findall(r"`(%s) (/[^`\s?]*)" % METHODS, doc_text)}
    routes_c = (ROOT / "api" / "routes.c").read_text(encoding="utf-8")
    code_routes = {(m, norm(p)) for m, p in re.findall(
        r'\.method\s*=\s*EVHTTP_REQ_(%s),\s*\.pattern\s*=\s*"([^"]+)"' % METHODS, routes_c)}
    if len(code_routes) < 10:
        problems.append("api/routes.c: only %d routes found" % len(code_routes))
    named = {"api/openapi.json": api_routes, "docs/": doc_routes, "api/routes.c": code_routes}
    for a, ra in named.items():
        for b, rb in named.items():
            for m, p in sorted(ra - rb):
                problems.append("%s %s: in %s, not in %s" % (m, p, a, b))

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if "docs/reference.md" not in readme:
        problems.append("README.md does not link docs/reference.md")

    for p in problems:
        print("FAIL " + p)
    print("docs in step: %d settings, %d routes, %d problems"
          % (len(help_vars), len(code_routes), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
