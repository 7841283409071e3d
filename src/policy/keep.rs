//! What journeyd keeps of an answer's personal data (v1 `data`, v2 `context`): `data.keep`.
//!
//! Nothing by default. Everything, if asked. Or only what a list of JSON pointers (RFC 6901)
//! points at, for example the decision outcome, rebuilt at the same place in an otherwise empty
//! document, so that a query written for the full object still finds it there.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data.keep`: `"none"`, `"all"`, or a list of JSON pointers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DataKeep {
    /// `"none"` or `"all"`.
    Named(KeepNamed),
    /// Only these parts.
    Pointers(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepNamed {
    None,
    All,
}

impl Default for DataKeep {
    fn default() -> Self {
        Self::Named(KeepNamed::None)
    }
}

impl DataKeep {
    /// What is stored of `data` (JSON text of an object); `None`: nothing.
    pub fn apply(&self, data: &str) -> Option<String> {
        match self {
            Self::Named(KeepNamed::None) => None,
            Self::Named(KeepNamed::All) => Some(data.to_owned()),
            Self::Pointers(pointers) => {
                let full: Value = serde_json::from_str(data).ok()?;
                let mut kept = Value::Object(Map::new());
                for pointer in pointers {
                    copy_part(&full, &mut kept, pointer);
                }
                let empty = kept.as_object().is_some_and(Map::is_empty);
                (!empty).then(|| kept.to_string())
            }
        }
    }

    /// The first pointer that is not one, if any: each must be empty or start with `/`.
    pub fn invalid_pointer(&self) -> Option<&str> {
        match self {
            Self::Pointers(pointers) => pointers
                .iter()
                .find(|pointer| !pointer.starts_with('/'))
                .map(String::as_str),
            Self::Named(_) => None,
        }
    }
}

/// Copies what `pointer` points at in `full`, if anything, to the same place in `kept`, making
/// the arrays and objects on the way as they are in `full` (an array's earlier items null).
fn copy_part(full: &Value, kept: &mut Value, pointer: &str) {
    if full.pointer(pointer).is_none() {
        return;
    }
    let mut source = full;
    let mut slot = kept;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        let next = match source {
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
            Value::Object(fields) => fields.get(&token),
            _ => None,
        };
        let next = next.expect("the pointer resolves: checked above");
        if source.is_array() != slot.is_array() || !(slot.is_array() || slot.is_object()) {
            *slot = if source.is_array() {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            };
        }
        slot = match slot {
            Value::Array(items) => {
                let index: usize = token.parse().expect("an index: it found an item above");
                if items.len() <= index {
                    items.resize(index + 1, Value::Null);
                }
                &mut items[index]
            }
            Value::Object(fields) => fields.entry(token).or_insert(Value::Null),
            _ => unreachable!("made an array or an object above"),
        };
        source = next;
    }
    *slot = source.clone();
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"{"process": {"flow": {"v1": {"decision": "Accept", "score": 7}}},
        "subject": {"identity": {"firstName": "Mara", "dateOfBirth": "1990-04-12"}},
        "steps": [{"nodeId": "a"}, {"nodeId": "b", "result": {"outcome": "Match"}}]}"#;

    fn kept(keep: DataKeep) -> Option<Value> {
        keep.apply(ANSWER)
            .map(|text| serde_json::from_str(&text).unwrap())
    }

    #[test]
    fn nothing_is_kept_unless_asked() {
        assert_eq!(DataKeep::default().apply(ANSWER), None);
        assert_eq!(
            kept(DataKeep::Named(KeepNamed::All)).unwrap()["subject"]["identity"]["firstName"],
            "Mara"
        );
    }

    #[test]
    fn pointers_keep_their_parts_where_they_were() {
        let keep = DataKeep::Pointers(vec![
            "/process/flow/v1/decision".into(),
            "/steps/1/result/outcome".into(),
            "/steps/0/nodeId".into(),
            "/missing/part".into(),
            "/process/flow/v2".into(),
            "/steps/7".into(),
        ]);
        assert_eq!(
            kept(keep),
            Some(serde_json::json!({
                "process": {"flow": {"v1": {"decision": "Accept"}}},
                "steps": [{"nodeId": "a"}, {"result": {"outcome": "Match"}}],
            }))
        );
        let whole_and_part = DataKeep::Pointers(vec!["/process".into(), "/process/flow".into()]);
        assert_eq!(
            kept(whole_and_part).unwrap()["process"]["flow"]["v1"]["score"],
            7
        );
        let nothing_there = DataKeep::Pointers(vec!["/missing".into()]);
        assert_eq!(nothing_there.apply(ANSWER), None);
    }

    #[test]
    fn the_setting_reads_as_written() {
        let read = |toml: &str| -> DataKeep {
            #[derive(Deserialize)]
            struct Section {
                keep: DataKeep,
            }
            toml::from_str::<Section>(toml).unwrap().keep
        };
        assert_eq!(read(r#"keep = "none""#), DataKeep::Named(KeepNamed::None));
        assert_eq!(read(r#"keep = "all""#), DataKeep::Named(KeepNamed::All));
        let pointers = read(r#"keep = ["/result/status", "decision"]"#);
        assert_eq!(pointers.invalid_pointer(), Some("decision"));
    }
}
