//! The GBG GO OpenAPI documents, and a check of JSON values against their schemas: the subset of
//! OpenAPI 3.0 they use (`$ref`, `type`, `properties`, `required`, `additionalProperties`,
//! `items`, `enum`; `format` is an annotation, as in JSON Schema).
//!
//! The documents are copies, in `tests/spec/`, of the team's shared specification (v1: the
//! vendor's reference; v2: written from the vendor's documentation), so that the tests run
//! wherever the repository is cloned. Copy them again when the shared ones change.

use std::path::Path;

use serde_json::Value;

/// An OpenAPI document, loaded from its YAML.
pub struct Spec {
    pub document: Value,
}

impl Spec {
    /// `tests/spec/<file>`.
    pub fn load(file: &str) -> Self {
        Self::read(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/spec")
                .join(file),
        )
    }

    /// The document at `path` (YAML, or JSON, which is YAML too), from the project root.
    pub fn read(path: &Path) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        let document = serde_norway::from_str(&text)
            .unwrap_or_else(|err| panic!("{} is not YAML: {err}", path.display()));
        Self { document }
    }

    /// The schema named `name` in `components.schemas`.
    pub fn schema(&self, name: &str) -> &Value {
        let schema = &self.document["components"]["schemas"][name];
        assert!(!schema.is_null(), "no schema {name}");
        schema
    }

    /// `POST /journey/state/fetch`'s operation.
    fn fetch_state(&self) -> &Value {
        &self.document["paths"]["/journey/state/fetch"]["post"]
    }

    /// The schema of the request body.
    pub fn request_schema(&self) -> &Value {
        &self.fetch_state()["requestBody"]["content"]["application/json"]["schema"]
    }

    /// The response documented for `status`, `$ref`s followed; `None` if there is none.
    pub fn response(&self, status: u16) -> Option<&Value> {
        let response = &self.fetch_state()["responses"][status.to_string()];
        (!response.is_null()).then(|| self.resolve(response))
    }

    /// The schema of the JSON body of the response for `status`.
    pub fn response_schema(&self, status: u16) -> Option<&Value> {
        let schema = &self.response(status)?["content"]["application/json"]["schema"];
        (!schema.is_null()).then_some(schema)
    }

    /// The named examples of the response for `status`.
    pub fn response_examples(&self, status: u16) -> Vec<(&str, &Value)> {
        let Some(response) = self.response(status) else {
            return Vec::new();
        };
        let content = &response["content"]["application/json"];
        let mut examples: Vec<(&str, &Value)> = content["examples"]
            .as_object()
            .map(|named| {
                named
                    .iter()
                    .map(|(name, example)| (name.as_str(), &example["value"]))
                    .collect()
            })
            .unwrap_or_default();
        if !content["example"].is_null() {
            examples.push(("example", &content["example"]));
        }
        examples
    }

    /// Follows `$ref` (local references only) until a value without one.
    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value["$ref"].as_str() {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local references: {reference}"));
            value = self
                .document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling reference {reference}"));
        }
        value
    }

    /// Every way `value` breaks `schema`, each with the path to it; empty when it conforms.
    pub fn violations(&self, value: &Value, schema: &Value) -> Vec<String> {
        let mut found = Vec::new();
        self.check(value, schema, "$", &mut found);
        found
    }

    fn check(&self, value: &Value, schema: &Value, path: &str, found: &mut Vec<String>) {
        let schema = self.resolve(schema);
        // OpenAPI 3.1 (JSON Schema) also allows a list of types: `["string", "null"]`.
        let kinds: Vec<&str> = match &schema["type"] {
            Value::String(kind) => vec![kind.as_str()],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let fits = |kind: &str| match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("type {other} is not used by the specs"),
        };
        if !kinds.is_empty() && !kinds.iter().any(|kind| fits(kind)) {
            found.push(format!(
                "{path}: not of type {}: {value}",
                kinds.join(" or ")
            ));
            return;
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            found.push(format!("{path}: {value} is not one of {allowed:?}"));
        }
        if let Some(fields) = value.as_object() {
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().expect("required names are strings");
                if !fields.contains_key(name) {
                    found.push(format!("{path}: `{name}` is missing"));
                }
            }
            let properties = schema["properties"].as_object();
            for (name, field) in fields {
                let inner = format!("{path}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => self.check(field, property, &inner, found),
                    None => match &schema["additionalProperties"] {
                        Value::Bool(false) => found.push(format!("{inner}: not allowed")),
                        extra @ Value::Object(_) => self.check(field, extra, &inner, found),
                        _ => {}
                    },
                }
            }
        }
        if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
            for (index, item) in items.iter().enumerate() {
                self.check(item, schema, &format!("{path}[{index}]"), found);
            }
        }
    }
}
