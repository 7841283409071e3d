//! The JSON body of a delivery: `{"type", "timestamp", "data": {...}}`, built from the outbox
//! row when it is sent.

use serde_json::{Map, Value, json};

use crate::clock::format_timestamp;
use crate::storage::outbox::DueDelivery;

/// The largest body sent. Without the journey's `data` a payload is far smaller; with it, a
/// body over this size goes without `data` and says so (`"dataOmitted": "too_large"`).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The body of `delivery`, with the journey's `data` if `include_data`.
pub fn body(delivery: &DueDelivery, include_data: bool) -> Vec<u8> {
    let mut data = Map::new();
    data.insert("instanceId".into(), delivery.instance_id.clone().into());
    data.insert("status".into(), delivery.status.clone().into());
    data.insert(
        "previousStatus".into(),
        delivery.previous_status.clone().into(),
    );
    data.insert(
        "observedAt".into(),
        format_timestamp(delivery.occurred_at).into(),
    );
    data.insert(
        "createdTime".into(),
        delivery.created_time.map(format_timestamp).into(),
    );
    data.insert(
        "completedTime".into(),
        delivery.completed_time.map(format_timestamp).into(),
    );
    data.insert("outcome".into(), delivery.outcome.clone().into());
    data.insert("sequence".into(), delivery.sequence.into());
    // The event's own fields; the common ones above win over a clash.
    if let Ok(Value::Object(detail)) = serde_json::from_str::<Value>(&delivery.detail) {
        for (name, value) in detail {
            data.entry(name).or_insert(value);
        }
    }
    let render = |data: &Map<String, Value>| {
        serde_json::to_vec(&json!({
            "type": delivery.event_type,
            "timestamp": format_timestamp(delivery.occurred_at),
            "data": data,
        }))
        .expect("JSON values serialize")
    };
    if include_data {
        let kept = delivery
            .data
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .unwrap_or(Value::Null);
        let mut with_data = data.clone();
        with_data.insert("data".into(), kept);
        let body = render(&with_data);
        if body.len() <= MAX_PAYLOAD_BYTES {
            return body;
        }
        data.insert("data".into(), Value::Null);
        data.insert("dataOmitted".into(), "too_large".into());
    }
    render(&data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(data: Option<String>) -> DueDelivery {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        DueDelivery {
            delivery_id: 1,
            endpoint: "crm".into(),
            attempts: 0,
            message_id: "msg_abc.2".into(),
            event_type: "journey.completed".into(),
            occurred_at: at,
            instance_id: "abc".into(),
            sequence: 2,
            status: Some("Completed".into()),
            previous_status: Some("InProgress".into()),
            created_time: Some(at),
            completed_time: Some(at),
            outcome: Some("Pass".into()),
            detail: r#"{"polls":4,"status":"clash"}"#.into(),
            data,
        }
    }

    fn parse(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn the_payload_names_the_event_and_the_journey() {
        let body = parse(&body(&delivery(Some(r#"{"a":1}"#.into())), false));
        assert_eq!(
            body,
            json!({
                "type": "journey.completed",
                "timestamp": "2023-11-14T22:13:20.000Z",
                "data": {
                    "instanceId": "abc",
                    "status": "Completed",
                    "previousStatus": "InProgress",
                    "observedAt": "2023-11-14T22:13:20.000Z",
                    "createdTime": "2023-11-14T22:13:20.000Z",
                    "completedTime": "2023-11-14T22:13:20.000Z",
                    "outcome": "Pass",
                    "sequence": 2,
                    "polls": 4,
                }
            })
        );
    }

    #[test]
    fn data_goes_only_where_asked_and_only_while_it_fits() {
        let small = parse(&body(&delivery(Some(r#"{"a":1}"#.into())), true));
        assert_eq!(small["data"]["data"], json!({"a": 1}));
        let huge = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_PAYLOAD_BYTES));
        let bytes = body(&delivery(Some(huge)), true);
        assert!(bytes.len() <= MAX_PAYLOAD_BYTES);
        let cut = parse(&bytes);
        assert_eq!(cut["data"]["data"], Value::Null);
        assert_eq!(cut["data"]["dataOmitted"], "too_large");
    }
}
