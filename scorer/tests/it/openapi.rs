//! The server against its own OpenAPI document, with every request derived from the document it
//! serves at `GET /openapi.json` (read by a small schema walker, [`document`]):
//!
//! - every operation answers a valid request with a documented status whose body and headers fit
//!   the documented response;
//! - for `POST /v1/score`, objects built from the body's object branch (its properties,
//!   `required`, `enum`s, bounds and `example`) and a batch built from its array branch are each
//!   answered with a verdict (or verdicts in request order) that fits the documented response;
//! - every body the document calls invalid — a required property missing, a property of the wrong
//!   type or outside its `enum`, bounds or integer format, an unknown property where
//!   `additionalProperties` is false (accepted where it is not), a body that is neither branch, a
//!   batch over `maxItems` — and a request without a body are refused with a 4xx the operation
//!   lists, whose message names the property (and the batch index);
//! - an operation whose body is one object (`POST /v1/labels`) gets the same checks, without
//!   the batches;
//! - every other method on a documented path is a documented 405 whose `Allow` header holds
//!   exactly the path's documented methods.
//!
//! So a schema describing what the server does not parse (such as a `{"Many": […]}` wrapper), or
//! an answer the document does not list, fails here.

mod document;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;

use aegis_scorer::http::api::MAX_BATCH;
use aegis_scorer::http::routes;
use aegis_scorer::ReplicaState;
use serde_json::{json, Map, Value};
use warp::http::HeaderMap;

use crate::Pipeline;
use document::{first_type, Doc, Operation, METHODS};

/// A property no schema declares.
const UNKNOWN: &str = "conformance_unknown_property";

/// What [`routes`] returns.
trait Api:
    warp::Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync + 'static
{
}

impl<F> Api for F where
    F: warp::Filter<Extract = (warp::reply::Response,), Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// What the server answered.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    /// The start of the body, for messages.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(300)
            .collect()
    }
}

async fn send(api: &impl Api, method: &str, path: &str, body: Option<&Value>) -> Answer {
    let mut request = warp::test::request().method(method).path(path);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.reply(api).await;
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.body().to_vec(),
    }
}

/// The routes of a replica without a broker, and the document they serve.
async fn served() -> (impl Api, Doc) {
    let replica = Arc::new(ReplicaState::new(&Pipeline::config_without_broker()).unwrap());
    let api = routes(replica);
    let answer = send(&api, "GET", "/openapi.json", None).await;
    assert_eq!(answer.status, 200);
    let doc = Doc(serde_json::from_slice(&answer.body).unwrap());
    (api, doc)
}

/// Checks that `answer` is a response `operation` lists, its headers and body fitting what the
/// document says of that response; returns the status.
fn assert_documented(doc: &Doc, operation: &Operation, case: &str, answer: &Answer) -> u16 {
    let responses = &operation.spec["responses"];
    let place = format!("{} ({case}) → {}", operation.name(), answer.status);
    let Some(documented) = responses.get(answer.status.to_string()) else {
        let listed: Vec<&String> = responses.as_object().unwrap().keys().collect();
        panic!(
            "{place}: not a status the document lists ({listed:?}): {}",
            answer.text()
        );
    };
    let response = doc.resolve(documented);
    for (name, header) in response["headers"].as_object().into_iter().flatten() {
        let value = answer
            .headers
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{place}: the documented header {name} is missing"));
        let value = json!(value.to_str().unwrap());
        if let Err(e) = doc.check(&doc.resolve(header)["schema"], &value, name) {
            panic!("{place}: header {e}");
        }
    }
    if let Some(content) = response["content"].as_object() {
        let content_type = answer.headers["content-type"].to_str().unwrap();
        let (media, spec) = content
            .iter()
            .find(|(media, _)| content_type.starts_with(media.as_str()))
            .unwrap_or_else(|| panic!("{place}: content-type {content_type} is not documented"));
        if let Some(schema) = spec.get("schema") {
            let body = if media.ends_with("json") {
                serde_json::from_slice(&answer.body)
                    .unwrap_or_else(|e| panic!("{place}: the body is not JSON ({e})"))
            } else {
                json!(String::from_utf8_lossy(&answer.body))
            };
            if let Err(e) = doc.check(schema, &body, "body") {
                panic!("{place}: the body does not fit the documented schema: {e}");
            }
        }
    }
    answer.status
}

#[tokio::test]
async fn every_operation_answers_valid_requests_as_documented() {
    let (api, doc) = served().await;
    for operation in doc.operations() {
        if let Some(body) = operation.spec.get("requestBody") {
            let body = doc.resolve(body);
            if doc
                .resolve(&body["content"]["application/json"]["schema"])
                .get("oneOf")
                .is_some()
            {
                assert_bodies_conform(&api, &doc, &operation, body).await;
            } else {
                assert_object_body_conforms(&api, &doc, &operation, body).await;
            }
            continue;
        }
        let answer = send(&api, operation.method, operation.path, None).await;
        let status = assert_documented(&doc, &operation, "valid", &answer);
        // Without a broker a replica holds no partitions: readiness may say so, as documented.
        let not_ready = status == 503 && operation.spec["responses"].get("503").is_some();
        assert!(
            (200..300).contains(&status) || not_ready,
            "{}: {status}",
            operation.name()
        );
    }
}

/// The two branches of a JSON body: a single object, and an array of them.
struct Branches<'a> {
    object: &'a Value,
    array: &'a Value,
}

impl<'a> Branches<'a> {
    /// The body schema must be a `oneOf` of an object and an array, bare.
    fn of(doc: &'a Doc, schema: &'a Value, operation: &str) -> Branches<'a> {
        let top = doc.resolve(schema);
        let branches: Vec<&Value> = top["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{operation}: the body is not a oneOf: {top}"))
            .iter()
            .map(|b| doc.resolve(b))
            .collect();
        let branch = |kind: &str| {
            *branches
                .iter()
                .find(|b| first_type(b) == kind)
                .unwrap_or_else(|| panic!("{operation}: no {kind} branch in {top}"))
        };
        Branches {
            object: branch("object"),
            array: branch("array"),
        }
    }

    fn properties(&self) -> &'a Map<String, Value> {
        self.object["properties"].as_object().unwrap()
    }

    /// Whether the object refuses properties it does not declare.
    fn closed(&self) -> bool {
        self.object.get("additionalProperties") == Some(&json!(false))
    }
}

/// Valid and invalid bodies for an operation with a request body (see the module's doc).
async fn assert_bodies_conform(api: &impl Api, doc: &Doc, operation: &Operation<'_>, body: &Value) {
    let name = operation.name();
    let schema = &body["content"]["application/json"]["schema"];
    let branches = Branches::of(doc, schema, &name);
    // One row per enum value of the object's properties (at least 3), from the array branch.
    let variants = branches
        .properties()
        .values()
        .filter_map(|p| doc.resolve(p)["enum"].as_array().map(Vec::len))
        .max()
        .unwrap_or(1)
        .max(3);
    let rows: Vec<Value> = (0..variants)
        .map(|v| doc.instance(&branches.array["items"], v))
        .collect();

    for (case, value) in valid_bodies(doc, &branches, &rows) {
        doc.check(schema, &value, "request")
            .unwrap_or_else(|e| panic!("{name} ({case}): the walker built an invalid body: {e}"));
        let answer = send(api, operation.method, operation.path, Some(&value)).await;
        let status = assert_documented(doc, operation, &case, &answer);
        assert!(
            (200..300).contains(&status),
            "{name} ({case}): {status} {}",
            answer.text()
        );
        let verdicts: Value = serde_json::from_slice(&answer.body).unwrap();
        match value.as_array() {
            Some(rows) => {
                let asked: Vec<&Value> = rows.iter().map(|r| &r["tx_id"]).collect();
                let answered: Vec<&Value> = verdicts
                    .as_array()
                    .unwrap_or_else(|| panic!("{name} ({case}): an array is answered by one"))
                    .iter()
                    .map(|v| &v["tx_id"])
                    .collect();
                assert_eq!(
                    asked, answered,
                    "{name} ({case}): one verdict a row, in order"
                );
            }
            None => assert!(verdicts.is_object(), "{name} ({case}): one verdict"),
        }
    }

    let invalid = invalid_bodies(doc, &branches, &rows[0]);
    assert_refused(api, doc, operation, schema, invalid).await;
}

/// Each `(case, body, property)` of `invalid` — a body the document refuses — and no body at
/// all are answered with a documented 4xx, each message naming its property.
async fn assert_refused(
    api: &impl Api,
    doc: &Doc,
    operation: &Operation<'_>,
    schema: &Value,
    invalid: Vec<(String, Value, String)>,
) {
    let name = operation.name();
    for (case, value, named) in invalid {
        assert!(
            doc.check(schema, &value, "request").is_err(),
            "{name} ({case}): the document allows it, so it is no case for refusal"
        );
        let answer = send(api, operation.method, operation.path, Some(&value)).await;
        let status = assert_documented(doc, operation, &case, &answer);
        assert!((400..500).contains(&status), "{name} ({case}): {status}");
        let error: Value = serde_json::from_slice(&answer.body).unwrap();
        let message = error["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(&named),
            "{name} ({case}): {message:?} should name {named:?}"
        );
    }
    // No body at all: no JSON, refused with a documented 4xx.
    let answer = send(api, operation.method, operation.path, None).await;
    let status = assert_documented(doc, operation, "no body", &answer);
    assert!((400..500).contains(&status), "{name} (no body): {status}");
}

/// An operation whose body is one JSON object (`POST /v1/labels`): the schema's instance is
/// answered with a status the operation lists (a replica without a broker writes no labels: its
/// documented 503); every body the document refuses — a required property missing, a property's
/// wrong value, an unknown property where the object is closed, another JSON type — and no body
/// at all are a documented 4xx whose message names the property.
async fn assert_object_body_conforms(
    api: &impl Api,
    doc: &Doc,
    operation: &Operation<'_>,
    body: &Value,
) {
    let name = operation.name();
    let schema = doc.resolve(&body["content"]["application/json"]["schema"]);
    let valid = doc.instance(schema, 0);
    doc.check(schema, &valid, "request")
        .unwrap_or_else(|e| panic!("{name}: the walker built an invalid body: {e}"));
    let answer = send(api, operation.method, operation.path, Some(&valid)).await;
    assert_documented(doc, operation, "the schema's instance", &answer);

    let mut invalid: Vec<(String, Value, String)> = Vec::new();
    let mut change = |case: String, property: &str, edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut changed = valid.as_object().unwrap().clone();
        edit(&mut changed);
        invalid.push((case, Value::Object(changed), property.to_owned()));
    };
    for property in schema["required"].as_array().into_iter().flatten() {
        let property = property.as_str().unwrap();
        change(format!("required {property} missing"), property, &|row| {
            row.remove(property);
        });
    }
    for (property, spec) in schema["properties"].as_object().into_iter().flatten() {
        let spec = doc.resolve(spec);
        for value in wrong_values(spec) {
            if doc.check(spec, &value, property).is_err() {
                change(format!("{property} = {value}"), property, &|row| {
                    row.insert(property.clone(), value.clone());
                });
            }
        }
    }
    if schema.get("additionalProperties") == Some(&json!(false)) {
        change(format!("unknown property {UNKNOWN}"), UNKNOWN, &|row| {
            row.insert(UNKNOWN.to_owned(), json!(1));
        });
    }
    for other in [json!(null), json!(42), json!("text"), json!([])] {
        invalid.push((format!("body {other}"), other, String::new()));
    }
    assert_refused(api, doc, operation, schema, invalid).await;
}

/// (case, body) pairs the document allows: the object branch's instance, each row alone, the
/// rows as one batch, every bounded property at each bound, and an unknown property where the
/// object is open.
fn valid_bodies(doc: &Doc, branches: &Branches, rows: &[Value]) -> Vec<(String, Value)> {
    let mut valid = vec![(
        "the object branch".to_owned(),
        doc.instance(branches.object, 0),
    )];
    valid.extend(rows.iter().map(|row| (format!("row {row}"), row.clone())));
    valid.push(("the rows as a batch".to_owned(), json!(rows)));
    for (property, spec) in branches.properties() {
        for bound in ["minimum", "maximum"] {
            if let Some(edge) = doc.resolve(spec).get(bound) {
                let mut row = rows[0].clone();
                row[property] = edge.clone();
                valid.push((format!("{property} at its {bound}"), row));
            }
        }
    }
    if !branches.closed() {
        let mut row = rows[0].clone();
        row[UNKNOWN] = json!(1);
        valid.push((format!("unknown property {UNKNOWN}"), row));
    }
    valid
}

/// (case, body, what the error must name) triples the document refuses: each change to a valid
/// `row`, alone (naming the property) and as row 1 of a batch (naming `[1]`); bodies that fit
/// neither branch; a batch one over `maxItems`.
fn invalid_bodies(doc: &Doc, branches: &Branches, row: &Value) -> Vec<(String, Value, String)> {
    let mut invalid = Vec::new();
    let mut change = |case: String, property: &str, edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut changed = row.as_object().unwrap().clone();
        edit(&mut changed);
        let changed = Value::Object(changed);
        let batch = json!([row, changed]);
        invalid.push((case.clone(), changed, property.to_owned()));
        invalid.push((
            format!("{case}, as row 1 of a batch"),
            batch,
            "[1]".to_owned(),
        ));
    };
    for property in branches.object["required"].as_array().unwrap() {
        let property = property.as_str().unwrap();
        change(format!("required {property} missing"), property, &|row| {
            row.remove(property);
        });
    }
    for (property, spec) in branches.properties() {
        let spec = doc.resolve(spec);
        for value in wrong_values(spec) {
            // Only what the document itself refuses is a case for refusal.
            if doc.check(spec, &value, property).is_err() {
                change(format!("{property} = {value}"), property, &|row| {
                    row.insert(property.clone(), value.clone());
                });
            }
        }
    }
    if branches.closed() {
        change(format!("unknown property {UNKNOWN}"), UNKNOWN, &|row| {
            row.insert(UNKNOWN.to_owned(), json!(1));
        });
    }
    for body in [
        json!(null),
        json!(42),
        json!("text"),
        json!(true),
        json!({}),
    ] {
        invalid.push((format!("body {body}"), body, String::new()));
    }
    let max_items = branches.array["maxItems"]
        .as_u64()
        .expect("the array branch says how many items it takes (maxItems)");
    // maxItems + 1 rows are over the body limit too, so the refusal below may be the size's: the
    // count limit itself is compared with the server's.
    assert_eq!(
        max_items, MAX_BATCH as u64,
        "maxItems is the server's MAX_BATCH"
    );
    let over = vec![row.clone(); max_items as usize + 1];
    let case = format!("a batch of {} (maxItems + 1)", over.len());
    invalid.push((case, json!(over), String::new()));
    invalid
}

/// Values to try for a property: one of each JSON type, and for its schema a value outside its
/// `enum`, beyond each bound, beyond its integer format, shorter than its `minLength`.
fn wrong_values(spec: &Value) -> Vec<Value> {
    let mut values = vec![
        json!(null),
        json!(true),
        json!(12345),
        json!(1.5),
        json!("text"),
        json!([]),
        json!({}),
    ];
    if let Some(first) = spec["enum"].get(0).and_then(Value::as_str) {
        values.push(json!(format!("NOT_{first}")));
    }
    if let Some(minimum) = spec["minimum"].as_f64() {
        values.push(json!(minimum - 1.0));
    }
    if let Some(maximum) = spec["maximum"].as_f64() {
        values.push(json!(maximum * 10.0));
    }
    match spec["format"].as_str() {
        Some("int32") => values.extend([
            json!(i64::from(i32::MAX) + 1),
            json!(i64::from(i32::MIN) - 1),
        ]),
        Some("int64") => values.extend([json!(u64::MAX), json!(1e30)]),
        _ => {}
    }
    if spec["minLength"].as_u64().is_some_and(|n| n > 0) {
        values.push(json!(""));
    }
    values
}

#[tokio::test]
async fn other_methods_on_documented_paths_are_a_documented_405_with_allow() {
    let (api, doc) = served().await;
    let operations = doc.operations();
    let paths: BTreeSet<&str> = operations.iter().map(|o| o.path).collect();
    for path in paths {
        let on_path: Vec<&Operation> = operations.iter().filter(|o| o.path == path).collect();
        let documented: BTreeSet<&str> = on_path.iter().map(|o| o.method).collect();
        for method in METHODS.iter().filter(|m| !documented.contains(*m)) {
            let answer = send(&api, method, path, None).await;
            for operation in &on_path {
                assert_documented(&doc, operation, &format!("{method} instead"), &answer);
            }
            assert_eq!(answer.status, 405, "{method} {path}: {}", answer.text());
            let allow: BTreeSet<&str> = answer.headers["allow"]
                .to_str()
                .unwrap()
                .split(',')
                .map(str::trim)
                .collect();
            assert_eq!(
                allow, documented,
                "{method} {path}: Allow lists the documented methods"
            );
        }
    }
}
