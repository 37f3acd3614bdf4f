"""One OpenAPI 3.1 document for the whole API, generated from the code.

Each function's Powertools resolver describes its own routes and models; Powertools'
OpenAPIMerge merges them (a route claimed twice is an error), and this adds what only the
template knows: which routes sit behind the authorizer (bearer security, API Gateway's own
401/403 answers). ``python -m nexus_local.openapi`` writes
docs/openapi.json; a test fails when the committed file drifts from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from aws_lambda_powertools.event_handler.openapi import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel

from nexus_local.runtime import load_module
from nexus_local.template import ROOT, App, parse

OUTPUT = ROOT / "docs" / "openapi.json"
TITLE = "Nexus Sales API"
VERSION = "1.0.0"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}
GATEWAY_SCHEMA: dict[str, Any] = {
    "title": "GatewayMessage",
    "description": "An answer API Gateway gives itself",
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}
_UNUSED = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def _gateway(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}
        },
    }


# A function's RAW_BODIES: (method, path) → the model of a body its handler reads raw, JSON,
# or (model, media type) for another media type (a form).
RawBody = type[BaseModel] | tuple[type[BaseModel], str]


def _raw_body(body: RawBody, schemas: dict[str, Any]) -> dict[str, Any]:
    model, media_type = body if isinstance(body, tuple) else (body, "application/json")
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas[model.__name__] = schema
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {media_type: {"schema": ref}}}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: a query string cannot carry JSON null (an absent
    parameter is the None), so ``anyOf: [X, null]`` is X; titles and null defaults go."""
    variants = [v for v in schema.get("anyOf", []) if v != {"type": "null"}]
    kept = {k: v for k, v in schema.items() if k not in ("anyOf", "title", "default")}
    if len(variants) == 1:
        kept.update(variants[0])
    elif variants:
        kept["anyOf"] = variants
    if schema.get("default") is not None:
        kept["default"] = schema["default"]
    return kept


def _query_models(module: Any) -> dict[tuple[str, str], type[BaseModel]]:
    """Routes whose query is one pydantic model (``Annotated[Model, Query()]``)."""
    found: dict[tuple[str, str], type[BaseModel]] = {}
    for route in [*module.app._static_routes, *module.app._dynamic_routes]:
        hints = get_type_hints(route.func, include_extras=True)
        for hint in hints.values():
            if get_origin(hint) is not Annotated:
                continue
            model, *extras = get_args(hint)
            is_model = isinstance(model, type) and issubclass(model, BaseModel)
            if is_model and any(isinstance(extra, Query) for extra in extras):
                found[(route.method, route.openapi_path)] = model
    return found


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Powertools documents a query model's fields as bare strings; the model's own JSON
    schema says exactly what the server accepts (bounds, formats, which are required)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _without_null(prop)}
        for name, prop in schema["properties"].items()
    ]


def _merged(app: App) -> dict[str, Any]:
    """Every function's resolver schema, merged by Powertools (a route claimed by two
    functions is an error), each operation tagged with its function."""
    merger = OpenAPIMerge(title=TITLE, version=VERSION, on_conflict="error")
    raw_bodies: dict[tuple[str, str], RawBody] = {}
    queries: dict[tuple[str, str], type[BaseModel]] = {}
    for fn_id in sorted({r.function_id for r in app.routes}):
        module = load_module(app.functions[fn_id])
        doc = json.loads(module.app.get_openapi_json_schema(title=TITLE, version=VERSION))
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                operation["tags"] = [fn_id.removesuffix("Function")]
        merger.add_schema(doc)
        raw_bodies.update(getattr(module, "RAW_BODIES", {}))
        queries.update(_query_models(module))
    merged = merger.get_openapi_schema()
    schemas = merged.setdefault("components", {}).setdefault("schemas", {})
    for (method, path), body in raw_bodies.items():
        merged["paths"][path][method.lower()]["requestBody"] = _raw_body(body, schemas)
    for (method, path), model in queries.items():
        operation = merged["paths"][path][method.lower()]
        others = [p for p in operation.get("parameters", []) if p["in"] != "query"]
        operation["parameters"] = others + _query_parameters(model)
    for operations in merged["paths"].values():
        for operation in operations.values():
            _object_bodies(operation)
    return merged


def _object_bodies(operation: dict[str, Any]) -> None:
    """A body is a JSON object or absent (nexus.strict_json.loads_object): an optional body
    model (``SyncIn | None``) is documented as not required, never as JSON null."""
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = media.get("schema", {})
        if "anyOf" in schema and {"type": "null"} in schema["anyOf"]:
            media["schema"] = _without_null(schema)


def generate(app: App | None = None) -> dict[str, Any]:
    app = app or parse()
    merged = _merged(app)
    paths: dict[str, Any] = merged["paths"]
    schemas: dict[str, Any] = merged["components"]["schemas"]
    protected = {(r.method.lower(), r.path) for r in app.routes if r.authorizer}

    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                # Powertools' default; this API answers validation errors as problem+json.
                responses["422"] = {
                    "description": "Unprocessable Content",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            if (method, path) in protected:
                operation["security"] = [{"bearerAuth": []}]
                gateway = _gateway("No Authorization header (API Gateway)")
                if "401" in responses:  # the function's own 401 (problem+json) as well
                    gateway["content"].update(responses["401"].get("content", {}))
                    gateway["description"] += "; or the function's own refusal"
                responses["401"] = gateway
                responses["403"] = _gateway("Token rejected by the authorizer (API Gateway)")
            operation["responses"] = dict(sorted(responses.items()))
    for name in _UNUSED:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["GatewayMessage"] = GATEWAY_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Generated from the code by `make openapi`; do not edit by hand.",
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "make local"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    target = Path(argv[0]) if argv else OUTPUT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(generate()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
