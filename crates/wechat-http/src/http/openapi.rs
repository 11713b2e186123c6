//! `/openapi.json`, generated from the action table (the same one that routes requests).

use serde_json::{Map, Value, json};

use crate::actions::{ACTIONS, ActionSpec};

fn schema(ty: &str) -> Value {
    match ty {
        "string|array" => {
            json!({ "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "object" } }] })
        }
        "array" => json!({ "type": "array", "items": { "type": "string" } }),
        other => json!({ "type": other }),
    }
}

fn envelope_schema(a: &ActionSpec) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for p in a.params {
        let mut s = schema(p.ty);
        if let Value::Object(o) = &mut s {
            o.insert("description".into(), Value::String(p.doc.into()));
        }
        props.insert(p.name.into(), s);
        if p.required {
            required.push(p.name);
        }
    }
    json!({
        "type": "object",
        "properties": {
            "action": { "type": "string", "enum": [a.name], "description": "optional; must equal the path" },
            "params": { "type": "object", "properties": props, "required": required },
            "echo": { "description": "returned unchanged" },
        },
    })
}

fn response() -> Value {
    json!({
        "200": {
            "description": "OneBot 12 response envelope (also for failures: see retcode and message)",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Resp" } } },
        },
        "401": { "description": "token missing" },
        "403": { "description": "token wrong" },
    })
}

/// The OpenAPI 3.1 document.
pub(super) fn document() -> Value {
    let mut paths = Map::new();
    for a in ACTIONS {
        let mut item = Map::new();
        item.insert(
            "post".into(),
            json!({
                "summary": a.summary,
                "operationId": a.name,
                "requestBody": { "content": { "application/json": { "schema": envelope_schema(a) } } },
                "responses": response(),
            }),
        );
        if a.get {
            let mut params: Vec<Value> = a
                .params
                .iter()
                .map(|p| json!({ "name": p.name, "in": "query", "required": p.required, "description": p.doc, "schema": { "type": "string" } }))
                .collect();
            params.push(json!({ "name": "echo", "in": "query", "required": false, "schema": { "type": "string" } }));
            item.insert(
                "get".into(),
                json!({ "summary": a.summary, "operationId": format!("{}_get", a.name), "parameters": params, "responses": response() }),
            );
        }
        paths.insert(format!("/{}", a.name), Value::Object(item));
    }
    paths.insert(
        "/".into(),
        json!({ "post": {
            "summary": "OneBot 12: any action as {action, params, echo, self}",
            "operationId": "onebot",
            "requestBody": { "content": { "application/json": { "schema": {
                "type": "object", "required": ["action"],
                "properties": { "action": { "type": "string" }, "params": { "type": "object" }, "echo": {}, "self": { "type": "object" } } } } } },
            "responses": response(),
        }}),
    );
    paths.insert(
        "/chat_image/{date}/{file}".into(),
        json!({ "get": {
            "summary": "A received chat image (the address comes from message events)",
            "operationId": "chat_image",
            "parameters": [
                { "name": "date", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$" } },
                { "name": "file", "in": "path", "required": true, "schema": { "type": "string" } },
            ],
            "responses": { "200": { "description": "image bytes with the sniffed Content-Type" }, "404": { "description": "unknown image" } },
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "wechat-http",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "WeChat as an HTTP API (OneBot 12 style). Auth: Authorization: Bearer <token> or ?access_token=<token>.",
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "Resp": {
                "type": "object",
                "required": ["status", "retcode", "data", "message"],
                "properties": {
                    "status": { "type": "string", "enum": ["ok", "failed"] },
                    "retcode": { "type": "integer" },
                    "data": {},
                    "message": { "type": "string" },
                    "echo": {},
                },
            }},
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
    })
}
