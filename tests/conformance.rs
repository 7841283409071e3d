//! journeyd and its fake GBG GO held against the GBG GO OpenAPI documents (v1 and v2, copied in
//! `tests/spec/`): the documents' examples are read as they describe them, the simulator answers
//! in the shapes they give (errors included, where documented), and journeyd asks as they say.

mod common;

use std::sync::Arc;

use common::openapi::Spec;
use common::{Harness, expected_path, path};
use journeyd::api::{v1, v2};
use journeyd::clock::{SystemClock, format_timestamp};
use journeyd::journey::{ApiVersion, EndTimeSource, InstanceId};
use journeyd::simulator::{Fault, Script, Simulator, SimulatorConfig};
use serde_json::{Value, json};

fn spec(version: ApiVersion) -> Spec {
    Spec::load(match version {
        ApiVersion::V1 => "gbg-go-journey-state.openapi.yaml",
        ApiVersion::V2 => "gbg-go-journey-state-v2.openapi.yaml",
    })
}

fn assert_conforms(spec: &Spec, value: &Value, schema: &Value, what: &str) {
    let violations = spec.violations(value, schema);
    assert!(violations.is_empty(), "{what}: {violations:#?}\n{value:#}");
}

#[test]
fn the_v2_examples_are_read_as_documented() {
    let spec = spec(ApiVersion::V2);
    let examples = spec.response_examples(200);
    assert_eq!(examples.len(), 3, "pending, completed and failed");
    for (name, example) in examples {
        let schema = spec.response_schema(200).unwrap();
        assert_conforms(&spec, example, schema, name);
        let observation = v2::parse_state(&serde_json::to_vec(example).unwrap())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let started = example["context"]["process"]["journey"]["startedAt"].as_str();
        assert_eq!(
            observation.created_time.map(format_timestamp).as_deref(),
            started,
            "{name}"
        );
        let ended = observation
            .completed_time
            .map(|(at, source)| (format_timestamp(at), source));
        let (status, outcome, ended_expected) = match name {
            "pending" => ("InProgress", "pending", None),
            "completed" => (
                "Completed",
                "completed",
                Some((
                    "2025-06-02T09:16:11.480Z".to_owned(),
                    EndTimeSource::EndedAt,
                )),
            ),
            "failed" => ("Failed", "failed", None),
            other => panic!("an example the test does not know: {other}"),
        };
        assert_eq!(observation.status, status, "{name}");
        assert_eq!(observation.outcome.as_deref(), Some(outcome), "{name}");
        assert_eq!(ended, ended_expected, "{name}");
        assert_eq!(
            observation
                .data
                .map(|text| serde_json::from_str::<Value>(&text).unwrap()),
            Some(example["context"].clone()),
            "{name}: the context, as it came"
        );
    }
}

#[test]
fn the_v2_error_examples_give_their_code_and_name() {
    let spec = spec(ApiVersion::V2);
    let mut seen = 0;
    for status in [400, 401, 403, 404, 429, 500, 503] {
        for (_, example) in spec.response_examples(status) {
            let schema = spec.response_schema(status).unwrap();
            assert_conforms(&spec, example, schema, &format!("{status} example"));
            let error = &example["errors"][0];
            let detail = v2::error_detail(&serde_json::to_vec(example).unwrap());
            assert_eq!(
                detail,
                format!(
                    ": {} {}",
                    error["code"].as_str().unwrap(),
                    error["name"].as_str().unwrap()
                )
            );
            seen += 1;
        }
    }
    assert!(seen >= 5, "the document's error examples were read");
}

#[test]
fn the_v1_documented_fields_are_read() {
    let spec = spec(ApiVersion::V1);
    let schema = spec.response_schema(200).unwrap();
    let fields = &schema["properties"];
    let answer = json!({
        "metaData": {
            "createdTime": fields["metaData"]["properties"]["createdTime"]["example"],
            "completedTime": fields["metaData"]["properties"]["completedTime"]["example"],
        },
        "status": fields["status"]["example"],
        "data": {},
        "instanceId": fields["instanceId"]["example"],
    });
    assert_conforms(
        &spec,
        &answer,
        schema,
        "v1 answer of the documented examples",
    );
    let id = InstanceId::parse(fields["instanceId"]["example"].as_str().unwrap()).unwrap();
    let observation = v1::parse_state(&serde_json::to_vec(&answer).unwrap(), &id, None).unwrap();
    assert_eq!(observation.status, "InProgress");
    assert_eq!(
        observation
            .completed_time
            .map(|(at, source)| (format_timestamp(at), source)),
        Some((
            "2024-02-15T22:16:33.213Z".to_owned(),
            EndTimeSource::CompletedTime
        ))
    );
}

/// A token from the simulator, asked for as journeyd asks.
async fn token(client: &reqwest::Client, sim: &Simulator) -> String {
    let config = sim.config();
    let answer: Value = client
        .post(sim.token_url())
        .form(&[
            ("grant_type", "password"),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
            ("username", &config.username),
            ("password", &config.password),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_simulated_gbg_go_answers_as_the_specs_describe() {
    let sim = Simulator::start(SimulatorConfig::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let token = token(&client, &sim).await;
    for version in ApiVersion::ALL {
        let spec = spec(version);
        let url = format!("{}/journey/state/fetch", sim.base_url_of(version));
        let id = format!("conformance{version}journey");
        let script = [("InProgress", 1), ("Paused", 1), ("Completed", 0)];
        sim.add_journey_on(&id, version, Script::polls(&script));
        let ask =
            |body: Value, bearer: &str| client.post(&url).bearer_auth(bearer).json(&body).send();

        for answer in 0..3 {
            let response = ask(json!({"instanceId": id}), &token).await.unwrap();
            assert_eq!(response.status(), 200);
            assert!(response.headers().contains_key("x-request-id"));
            let body: Value = response.json().await.unwrap();
            let schema = spec.response_schema(200).unwrap();
            assert_conforms(&spec, &body, schema, &format!("{version} answer {answer}"));
        }

        let faults = [
            Fault::Status(500),
            Fault::Status(403),
            Fault::RetryAfter {
                status: 503,
                header: "5".into(),
            },
            Fault::RetryAfter {
                status: 429,
                header: "5".into(),
            },
        ];
        let mut errors = Vec::new();
        for fault in faults {
            sim.inject(&id, fault);
            errors.push(ask(json!({"instanceId": id}), &token).await.unwrap());
        }
        errors.push(
            ask(json!({"instanceId": "unknownjourney01"}), &token)
                .await
                .unwrap(),
        );
        errors.push(ask(json!({"instanceid": id}), &token).await.unwrap());
        errors.push(ask(json!({"instanceId": id}), "not-a-token").await.unwrap());
        let mut statuses = Vec::new();
        for response in errors {
            let status = response.status().as_u16();
            statuses.push(status);
            assert!(response.headers().contains_key("x-request-id"), "{status}");
            let body: Value = response.json().await.unwrap();
            match spec.response_schema(status) {
                Some(schema) => {
                    assert_conforms(&spec, &body, schema, &format!("{version} {status}"))
                }
                // The v1 document gives no error bodies; NOTES.md gives their shape.
                None => {
                    assert_eq!(version, ApiVersion::V1, "v2 documents every error");
                    assert_eq!(body["status"], status, "{body}");
                    assert!(body["message"].is_string(), "{body}");
                }
            }
        }
        assert_eq!(statuses, [500, 403, 503, 429, 404, 400, 401]);
    }
}

#[tokio::test]
async fn journeyd_asks_as_the_specs_describe() {
    let h = Harness::new().await;
    let statuses = ["InProgress", "Completed"];
    let script: Vec<(&str, u32)> = statuses.iter().map(|s| (*s, 1)).collect();
    for version in ApiVersion::ALL {
        let id = format!("asking{version}journey");
        h.sim.add_journey_on(&id, version, Script::polls(&script));
        h.enqueue_as(&[&id], Some(version)).await;
        h.poll_until_stopped(&id).await;
        assert_eq!(path(&h.transitions(&id).await), expected_path(&statuses));
    }
    let requests = h.sim.request_bodies();
    for version in ApiVersion::ALL {
        let spec = spec(version);
        let asked: Vec<&Value> = requests
            .iter()
            .filter(|(v, _)| *v == version)
            .map(|(_, body)| body)
            .collect();
        assert_eq!(asked.len(), 2, "{version}: {requests:?}");
        for body in asked {
            assert_conforms(
                &spec,
                body,
                spec.request_schema(),
                &format!("{version} request"),
            );
        }
    }
    assert!(h.sim.rejections().is_empty(), "{:?}", h.sim.rejections());
}

#[test]
fn the_check_finds_what_breaks_a_schema() {
    let spec = spec(ApiVersion::V2);
    let answer = spec.response_schema(200).unwrap();
    let broken = json!({"status": 5, "context": {"process": {"steps": {}}}});
    let violations = spec.violations(&broken, answer);
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(violations[0].contains("$.context.process.steps: not of type array"));
    assert!(violations[1].contains("$.status: not of type string"));
    let extra = json!({"instanceId": "x", "verbose": true});
    assert_eq!(
        spec.violations(&extra, spec.request_schema()),
        ["$.verbose: not allowed"]
    );
    let errors = spec.response_schema(404).unwrap();
    assert_eq!(
        spec.violations(&json!({}), errors),
        ["$: `errors` is missing"]
    );
}
