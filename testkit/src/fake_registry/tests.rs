//! Tests of the fake registry over plain HTTP: what it answers is what the Confluent API answers.

use super::*;

/// Sends one request with ureq and returns the status and the JSON body.
fn call(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        (_, body) => agent
            .post(url)
            .content_type("application/vnd.schemaregistry.v1+json")
            .send(body.unwrap_or("")),
    };
    let mut response = response.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

const RECORD: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#;

#[test]
fn one_id_per_canonical_schema_under_any_subject() {
    let fake = FakeSchemaRegistry::start();
    assert_eq!(fake.register("a-value", RECORD), 1);
    let reformatted = r#"{ "type": "record", "name": "R", "doc": "same schema, other text",
        "fields": [{"name": "a", "type": "long"}] }"#;
    assert_eq!(fake.register("b-value", reformatted), 1);
    let over_http = call(
        "POST",
        &format!("{}/subjects/a-value/versions", fake.url()),
        Some(&json!({ "schema": RECORD }).to_string()),
    );
    assert_eq!(over_http, (200, json!({ "id": 1 })));
    assert_eq!(
        fake.register("a-value", AvroCodec::verdict().schema_json()),
        2
    );
    let (_, text) = call("GET", &format!("{}/schemas/ids/1", fake.url()), None);
    assert_eq!(
        text,
        json!({ "schema": RECORD }),
        "the text as first registered"
    );
}

/// One conversation with the fake, request by request as a client would hold it: long because
/// each step depends on what the registry answered before.
#[test]
fn answers_and_errors_follow_the_confluent_rest_api() {
    let fake = FakeSchemaRegistry::start();
    let url = fake.url();
    fake.register("t-value", RECORD);
    fake.register("t-value", AvroCodec::transaction().schema_json());
    fake.register("a b", RECORD);
    assert_eq!(
        call("GET", &format!("{url}/subjects"), None),
        (200, json!(["a b", "t-value"]))
    );
    let latest = call(
        "GET",
        &format!("{url}/subjects/t-value/versions/latest"),
        None,
    );
    let schema = AvroCodec::transaction().schema_json();
    assert_eq!(
        latest,
        (
            200,
            json!({ "subject": "t-value", "version": 2, "id": 2, "schema": schema })
        )
    );
    let first = call(
        "GET",
        &format!("{url}/subjects/a%20b/versions/1?deleted=false"),
        None,
    );
    assert_eq!(
        first,
        (
            200,
            json!({ "subject": "a b", "version": 1, "id": 1, "schema": RECORD })
        )
    );
    let cases = [
        ("GET", "/schemas/ids/3", None, 404, 40403),
        ("GET", "/schemas/ids/zero", None, 404, 40403),
        (
            "GET",
            "/subjects/nope-value/versions/latest",
            None,
            404,
            40401,
        ),
        ("GET", "/subjects/t-value/versions/3", None, 404, 40402),
        ("GET", "/config", None, 404, 404),
        (
            "POST",
            "/subjects/t-value/versions",
            Some(r#"{"schema":"{not avro"}"#),
            422,
            42201,
        ),
        (
            "POST",
            "/subjects/t-value/versions",
            Some(r#"{"schema":"{}","schemaType":"JSON"}"#),
            422,
            42201,
        ),
        ("POST", "/subjects/t-value/versions", Some("{}"), 422, 42201),
        (
            "POST",
            "/subjects/t-value/versions",
            Some("not json"),
            400,
            400,
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = call(method, &format!("{url}{path}"), body);
        assert_eq!(
            (got, answer["error_code"].as_u64()),
            (status, Some(code)),
            "{method} {path}: {answer}"
        );
        assert!(answer["message"].is_string(), "{answer}");
    }
    assert_eq!(fake.lookups(), 2);
    assert_eq!(fake.requests()[0], "GET /subjects");
}

#[test]
fn an_outage_answers_500_until_it_ends() {
    let fake = FakeSchemaRegistry::start();
    fake.register("t-value", RECORD);
    fake.set_available(false);
    let (status, answer) = call("GET", &format!("{}/schemas/ids/1", fake.url()), None);
    assert_eq!((status, answer["error_code"].as_u64()), (500, Some(50001)));
    fake.set_available(true);
    assert_eq!(
        call("GET", &format!("{}/schemas/ids/1", fake.url()), None).0,
        200
    );
}

#[test]
fn the_evolved_message_is_what_an_avro_writer_of_that_schema_sends() {
    let fake = FakeSchemaRegistry::start();
    let tx = Transaction::takeover_example();
    let (id, message) = fake.evolved_transaction_message("transactions-value", &tx);
    let (_, text) = call("GET", &format!("{}/schemas/ids/{id}", fake.url()), None);
    let writer = Schema::parse_str(text["schema"].as_str().unwrap()).unwrap();
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&writer)
        .build()
        .unwrap();
    let mut body = &message[5..];
    let apache_avro::types::Value::Record(fields) = reader.read_value(&mut body).unwrap() else {
        panic!("not a record")
    };
    assert!(body.is_empty());
    assert_eq!(
        fields.last().unwrap(),
        &(
            "channel".to_owned(),
            apache_avro::types::Value::String("web".into())
        )
    );
    assert_eq!(fields[0].1, apache_avro::types::Value::String(tx.tx_id));
}

#[test]
fn dropping_the_fake_closes_its_port() {
    let fake = FakeSchemaRegistry::start();
    let addr = fake.addr;
    drop(fake);
    assert!(TcpStream::connect(addr).is_err());
}
