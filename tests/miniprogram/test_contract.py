"""The Python side of the mini-program's contract with the API.

``python tests/miniprogram/test_contract.py --write PATH`` writes what the jest contract test reads
(``miniprogram/tests/contract.test.js``): the app's OpenAPI document, every error code the backend can
answer and the page a subscribe message opens. Under pytest the same declarations
(``miniprogram/utils/endpoints.js``, read with Node) are checked against the OpenAPI document here too,
so an API change that breaks the mini-program fails ``make test`` even before the Node tests run.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MINIPROGRAM = ROOT / "miniprogram"
CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def _first_code(node: ast.Call, index: int) -> str | None:
    if len(node.args) > index + 1:
        arg = node.args[index]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and CODE.match(arg.value):
            return arg.value
    return None


def _error_classes(trees: list[ast.Module]) -> set[str]:
    """The names of DomainError and every class that derives from it (by name, across the modules)."""
    bases: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                bases.setdefault(node.name, set()).update(names)
    found = {"DomainError"}
    grew = True
    while grew:
        grew = False
        for name, parents in bases.items():
            if name not in found and parents & found:
                found.add(name)
                grew = True
    return found


def error_codes() -> list[str]:
    """Every ``code`` a DomainError (or an HTTP problem) of core/, payments/ and api/ is raised with."""
    from api.errors import HTTP_CODES

    codes = {code for code, _ in HTTP_CODES.values()}
    paths = [p for package in ("core", "payments", "api") for p in sorted((ROOT / package).rglob("*.py"))]
    trees = [ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for path in paths]
    kinds = _error_classes(trees)
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            code = None
            if isinstance(func, ast.Name) and func.id in kinds:
                code = _first_code(node, 0)
            elif isinstance(func, ast.Name) and func.id == "problem":
                code = _first_code(node, 1)
            elif (
                isinstance(func, ast.Attribute)
                and func.attr == "__init__"
                and isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name)
                and func.value.func.id == "super"
            ):
                code = _first_code(node, 0)
            if code:
                codes.add(code)
    return sorted(codes)


def contract_document() -> dict[str, Any]:
    from api.main import create_app
    from core.settings import SubscribeTemplate

    return {
        "openapi": create_app().openapi(),
        "error_codes": error_codes(),
        "subscribe_page": SubscribeTemplate.model_fields["page"].default,
    }


# --- the checks (the same rules as miniprogram/tests/helpers/contract.js)


def _resolve(doc: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    s: dict[str, Any] = schema or {}
    for _ in range(20):
        if "$ref" in s:
            s = doc["components"]["schemas"][s["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in s or "oneOf" in s:
            variants = [v for v in s.get("anyOf") or s.get("oneOf") or [] if v.get("type") != "null"]
            if len(variants) != 1:
                return s
            s = variants[0]
        elif len(s.get("allOf") or []) == 1:
            s = s["allOf"][0]
        else:
            return s
    return s


def _field_problem(doc: dict[str, Any], schema: dict[str, Any], field: str) -> str:
    s = _resolve(doc, schema)
    for part in field.split("."):
        is_list = part.endswith("[]")
        name = part[:-2] if is_list else part
        if name:
            if name not in (s.get("properties") or {}):
                return f'no field "{name}" (in "{field}")'
            s = _resolve(doc, s["properties"][name])
        if is_list:
            if s.get("type") != "array":
                return f'"{name or field}" is not a list (in "{field}")'
            s = _resolve(doc, s.get("items"))
    return ""


def endpoint_problems(doc: dict[str, Any], name: str, ep: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    def say(message: str) -> None:
        problems.append(f"{name} ({ep['method']} {ep['path']}): {message}")

    op = (doc["paths"].get(ep["path"]) or {}).get(ep["method"].lower())
    if op is None:
        say("no such path and method in the API")
        return problems
    params = op.get("parameters") or []

    def find(where: str, wanted: str) -> bool:
        return any(
            p["in"] == where
            and (p["name"].lower() == wanted.lower() if where == "header" else p["name"] == wanted)
            for p in params
        )

    placeholders = re.findall(r"\{(\w+)\}", ep["path"])
    if sorted(placeholders) != sorted(ep.get("params") or []):
        say(f"path parameters {ep.get('params') or []} do not match the path")
    for p in placeholders:
        if not find("path", p):
            say(f'path parameter "{p}" unknown to the API')
    query = ep.get("query") or []
    headers = [h.lower() for h in ep.get("headers") or []]
    for q in query:
        if not find("query", q):
            say(f'query parameter "{q}" unknown to the API')
    for p in params:
        if p["in"] == "query" and p.get("required") and p["name"] not in query:
            say(f'required query parameter "{p["name"]}" is not sent')
        if p["in"] == "header" and p.get("required") and p["name"].lower() not in headers:
            say(f'required header "{p["name"]}" is not sent')
    for h in ep.get("headers") or []:
        if not find("header", h):
            say(f'header "{h}" unknown to the API')

    content = (op.get("requestBody") or {}).get("content") or {}
    if ep.get("kind") == "upload":
        form = _resolve(doc, (content.get("multipart/form-data") or {}).get("schema"))
        if ep["file"] not in (form.get("properties") or {}):
            say(f'no multipart field "{ep["file"]}"')
    elif ep.get("freeBody"):
        schema = _resolve(doc, (content.get("application/json") or {}).get("schema"))
        if schema.get("type") != "object" or not schema.get("additionalProperties"):
            say("the API takes no free JSON object")
    elif ep.get("body"):
        schema = _resolve(doc, (content.get("application/json") or {}).get("schema"))
        properties = schema.get("properties") or {}
        for f in ep["body"]:
            if f not in properties:
                say(f'body field "{f}" unknown to the API')
        for f in schema.get("required") or []:
            if f not in ep["body"]:
                say(f'required body field "{f}" is not sent')
    elif (op.get("requestBody") or {}).get("required"):
        say("the API requires a body that the mini-program does not send")

    responses = op.get("responses") or {}
    if ep.get("kind") == "download":
        if "200" not in responses:
            say("no 200 answer to download")
    elif ep.get("response"):
        status = next((s for s in ("200", "201", "204") if s in responses), None)
        if status is None:
            say("no success answer")
        else:
            answer = ((responses[status].get("content") or {}).get("application/json") or {}).get("schema")
            if answer is None:
                say(f"the {status} answer is not JSON")
            else:
                for f in ep["response"]:
                    problem = _field_problem(doc, answer, f)
                    if problem:
                        say(f"answer: {problem}")
    return problems


def declared_endpoints() -> dict[str, Any]:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("Node is not installed (scripts/miniprogram.sh installs it; jest runs the same check)")
    script = "process.stdout.write(JSON.stringify(require('./utils/endpoints.js')))"
    out = subprocess.run([node, "-e", script], cwd=MINIPROGRAM, capture_output=True, text=True, check=True)
    endpoints: dict[str, Any] = json.loads(out.stdout)
    return endpoints


def declared_messages() -> list[str]:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("Node is not installed")
    script = "process.stdout.write(JSON.stringify(Object.keys(require('./utils/errors.js').MESSAGES)))"
    out = subprocess.run([node, "-e", script], cwd=MINIPROGRAM, capture_output=True, text=True, check=True)
    codes: list[str] = json.loads(out.stdout)
    return codes


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return contract_document()


def test_every_call_of_the_miniprogram_exists_in_the_api(contract: dict[str, Any]) -> None:
    endpoints = declared_endpoints()
    assert len(endpoints) > 20
    problems = [p for name, ep in endpoints.items() for p in endpoint_problems(contract["openapi"], name, ep)]
    assert problems == []


def test_every_error_message_of_the_miniprogram_is_a_backend_code(contract: dict[str, Any]) -> None:
    unknown = sorted(set(declared_messages()) - set(contract["error_codes"]))
    assert unknown == []


def test_error_codes_are_collected(contract: dict[str, Any]) -> None:
    codes = set(contract["error_codes"])
    # one of each way a code is raised: HTTP_CODES, problem(), a kind's call, super().__init__
    expected = {"not_found", "invalid_request", "insufficient_points", "fine_not_found", "sms_code_invalid"}
    assert expected <= codes


def test_the_subscribe_message_page_is_a_miniprogram_page(contract: dict[str, Any]) -> None:
    app = json.loads((MINIPROGRAM / "app.json").read_text(encoding="utf-8"))
    assert contract["subscribe_page"].split("?")[0] in app["pages"]


def test_the_checker_reports_drift() -> None:
    doc: dict[str, Any] = {
        "paths": {
            "/x": {
                "get": {
                    "parameters": [{"name": "q", "in": "query", "required": True}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            }
        },
        "components": {"schemas": {}},
    }
    ep = {"method": "GET", "path": "/x", "query": ["r"], "response": ["a"]}
    assert endpoint_problems(doc, "x", ep) == [
        'x (GET /x): query parameter "r" unknown to the API',
        'x (GET /x): required query parameter "q" is not sent',
        'x (GET /x): answer: no field "a" (in "a")',
    ]
    assert endpoint_problems(doc, "y", {"method": "POST", "path": "/x"}) == [
        "y (POST /x): no such path and method in the API"
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Write the API contract the mini-program's jest tests read.")
    parser.add_argument("--write", required=True, type=Path, help="where to write the JSON document")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(json.dumps(contract_document(), ensure_ascii=False), encoding="utf-8")
    print(f"contract: {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
