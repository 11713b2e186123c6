//! `/openapi.json`, generated from the action table (the same one that routes requests).
//!
//! Every operation lists every status it can answer with, each a OneBot envelope. A bad
//! action answers HTTP 200 with a retcode (the OneBot 12 rule), so negative data is "accepted"
//! at the HTTP level by design; `message` says what was wrong.

use serde_json::{Map, Value, json};

use crate::actions::{ACTIONS, ActionSpec, META_ACTIONS};

fn schema(ty: &str) -> Value {
    match ty {
        "string|array" => {
            json!({ "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "object" } }] })
        }
        "array" => json!({ "type": "array", "items": { "type": "string" } }),
        other => json!({ "type": other }),
    }
}

fn self_id_doc() -> &'static str {
    "the account (wxid or configured name) when the gateway serves several; or send \"self\" in the body"
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
    if !META_ACTIONS.contains(&a.name) || a.name == "get_latest_events" {
        props.insert("self_id".into(), json!({ "type": "string", "description": self_id_doc() }));
    }
    json!({
        "type": "object",
        "properties": {
            "action": { "type": "string", "enum": [a.name], "description": "optional; must equal the path" },
            "params": { "type": "object", "properties": props, "required": required },
            "echo": { "description": "returned unchanged" },
            "self": { "$ref": "#/components/schemas/BotSelf" },
        },
    })
}

/// The envelope as the answer to each of `codes`.
fn responses(codes: &[&str]) -> Value {
    let described = |code: &str| match code {
        "200" => "OneBot 12 response envelope (also for failures: see retcode and message)",
        "400" => "two different tokens, or a malformed percent-escape",
        "401" => "token missing",
        "403" => "token wrong, a browser request from another site, or a Host this gateway does not answer to",
        "404" => "not found",
        "405" => "method not allowed (see Allow)",
        "408" => "the body did not arrive within http_server.request_timeout",
        "413" => "body larger than http_server.max_body_bytes",
        "414" => "request URI longer than 8 KiB",
        "415" => "body is not application/json",
        _ => "error",
    };
    let mut out = Map::new();
    for c in codes {
        out.insert(
            (*c).into(),
            json!({
                "description": described(c),
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Resp" } } },
            }),
        );
    }
    Value::Object(out)
}

const POST_CODES: &[&str] = &["200", "400", "401", "403", "408", "413", "414", "415"];

/// A working request body for some actions (the examples phase of API fuzzers uses them).
fn example(name: &str) -> Option<Value> {
    Some(match name {
        "send_message" => {
            json!({ "params": { "detail_type": "private", "user_id": "wxid_alice", "message": "hello" } })
        }
        "create_group" => json!({ "params": { "group_name": "VIP" } }),
        "get_user_info" => json!({ "params": { "user_id": "wxid_alice" } }),
        "get_group_info" => json!({ "params": { "group_id": "1001@chatroom" } }),
        "upload_file" => json!({ "params": { "type": "data", "name": "hello.txt", "data": "aGVsbG8=" } }),
        _ => return None,
    })
}

/// Where an action's answer leads (the stateful phase of API fuzzers follows these).
fn links(name: &str) -> Option<Value> {
    Some(match name {
        "upload_file" => json!({
            "GetFile": { "operationId": "get_file_get", "parameters": { "file_id": "$response.body#/data/file_id", "type": "data" } },
            "StoredFile": { "operationId": "stored_file", "parameters": { "file_id": "$response.body#/data/file_id" } },
        }),
        "create_group" => json!({
            "Members": { "operationId": "get_group_members_get", "parameters": { "group_id": "$response.body#/data/id" } },
        }),
        "send_message" => json!({
            "Status": { "operationId": "wx.get_sent_message_get", "parameters": { "message_id": "$response.body#/data/message_id" } },
        }),
        _ => return None,
    })
}
const GET_CODES: &[&str] = &["200", "400", "401", "403", "414"];

/// A GET operation that answers bytes (images, files), envelopes on failure.
fn bytes_get(summary: &str, id: &str, params: Value, types: &[&str]) -> Value {
    let mut rsp = match responses(&["400", "401", "403", "404", "414"]) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let content: Map<String, Value> = types
        .iter()
        .map(|t| ((*t).to_owned(), json!({ "schema": { "type": "string", "format": "binary" } })))
        .collect();
    rsp.insert("200".into(), json!({ "description": "the bytes, with the sniffed Content-Type", "content": content }));
    json!({ "get": { "summary": summary, "operationId": id, "parameters": params, "responses": rsp } })
}

/// The OpenAPI 3.1 document.
pub(super) fn document() -> Value {
    let mut paths = Map::new();
    for a in ACTIONS {
        let mut item = Map::new();
        let mut body = json!({ "schema": envelope_schema(a) });
        if let Some(e) = example(a.name) {
            body["example"] = e;
        }
        let mut rsp = responses(POST_CODES);
        if let Some(l) = links(a.name) {
            rsp["200"]["links"] = l;
        }
        item.insert(
            "post".into(),
            json!({
                "summary": a.summary,
                "operationId": a.name,
                "requestBody": { "content": { "application/json": body } },
                "responses": rsp,
            }),
        );
        if a.get {
            let mut params: Vec<Value> = a
                .params
                .iter()
                .map(|p| json!({ "name": p.name, "in": "query", "required": p.required, "description": p.doc, "schema": { "type": "string" } }))
                .collect();
            params.push(json!({ "name": "echo", "in": "query", "required": false, "schema": { "type": "string" } }));
            if !META_ACTIONS.contains(&a.name) || a.name == "get_latest_events" {
                params.push(json!({ "name": "self_id", "in": "query", "required": false, "description": self_id_doc(), "schema": { "type": "string" } }));
            }
            item.insert(
                "get".into(),
                json!({ "summary": a.summary, "operationId": format!("{}_get", a.name), "parameters": params, "responses": responses(GET_CODES) }),
            );
        }
        paths.insert(format!("/{}", a.name), Value::Object(item));
    }
    paths.insert(
        "/".into(),
        json!({ "post": {
            "summary": "OneBot 12: any action as {action, params, echo, self}; GET with Upgrade: websocket opens the forward WebSocket",
            "operationId": "onebot",
            "requestBody": { "content": { "application/json": { "schema": {
                "type": "object", "required": ["action"],
                "properties": {
                    "action": { "type": "string" },
                    "params": { "type": "object" },
                    "echo": {},
                    "self": { "$ref": "#/components/schemas/BotSelf" },
                } } } } },
            "responses": responses(POST_CODES),
        }}),
    );
    let image_types = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "application/octet-stream"];
    paths.insert(
        "/chat_image/{date}/{file}".into(),
        bytes_get(
            "A received chat image (the address comes from message events)",
            "chat_image",
            json!([
                { "name": "date", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$" } },
                { "name": "file", "in": "path", "required": true, "schema": { "type": "string" } },
            ]),
            &image_types,
        ),
    );
    paths.insert(
        "/files/{file_id}".into(),
        bytes_get(
            "A file stored with upload_file (get_file with type url gives this address)",
            "stored_file",
            json!([{ "name": "file_id", "in": "path", "required": true, "schema": { "type": "string" } }]),
            &image_types,
        ),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "wechat-http",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "WeChat as an HTTP API (OneBot 12 style). Auth: Authorization: Bearer <token> or ?access_token=<token>. A well-formed action always answers HTTP 200; its retcode says whether it worked.",
        },
        "components": {
            // `?access_token=` works too (see the description); one scheme keeps clients from
            // sending two different tokens, which is refused.
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Resp": {
                    "type": "object",
                    "required": ["status", "retcode", "data", "message"],
                    "properties": {
                        "status": { "type": "string", "enum": ["ok", "failed"] },
                        "retcode": { "type": "integer" },
                        "data": {},
                        "message": { "type": "string" },
                        "echo": {},
                        "wx.error_id": { "type": "string", "description": "names the log entry of an internal failure" },
                    },
                },
                "BotSelf": {
                    "type": "object",
                    "required": ["platform", "user_id"],
                    "properties": { "platform": { "type": "string", "enum": ["wechat"] }, "user_id": { "type": "string" } },
                },
            },
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
    })
}
