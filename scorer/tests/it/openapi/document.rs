//! Reading an OpenAPI document as `serde_json::Value`: its operations, `$ref`s resolved, a JSON
//! Schema check of values (the keywords the document uses; any other keyword fails loudly), and
//! values built from schemas.

use serde_json::{json, Map, Value};

/// Methods an operation may have, as written in requests.
pub const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
/// Schema keywords that only annotate: they never make a value invalid.
const ANNOTATIONS: [&str; 7] = [
    "description",
    "example",
    "examples",
    "title",
    "default",
    "deprecated",
    "contentMediaType",
];

/// An OpenAPI 3 document.
pub struct Doc(pub Value);

/// One operation of the document.
pub struct Operation<'a> {
    pub method: &'static str,
    pub path: &'a str,
    pub spec: &'a Value,
}

impl Operation<'_> {
    /// `POST /v1/score`, for messages.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

impl Doc {
    /// Every operation, in path order.
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut operations = Vec::new();
        for (path, item) in self.0["paths"].as_object().unwrap() {
            for method in METHODS {
                if let Some(spec) = item.get(method.to_lowercase()) {
                    assert!(
                        spec.get("parameters").is_none(),
                        "{method} {path}: the walker does not fill in parameters"
                    );
                    operations.push(Operation { method, path, spec });
                }
            }
        }
        operations
    }

    /// Follows `$ref`s (JSON pointers into this document) to the value they name.
    pub fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            value = self.target(reference);
        }
        value
    }

    fn target(&self, reference: &str) -> &Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference}: only local $refs are expected"));
        self.0
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{reference} names nothing in the document"))
    }

    /// Whether `value` fits `schema`; `Err` says where (`at`) and why not.
    pub fn check(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let Some(schema) = schema.as_object() else {
            return match schema {
                Value::Bool(true) => Ok(()),
                _ => Err(format!("{at}: nothing fits {schema}")),
            };
        };
        for (keyword, rule) in schema {
            if !self.fits(schema, keyword, rule, value, at)? {
                return Err(format!("{at}: {value} breaks {keyword}: {rule}"));
            }
        }
        Ok(())
    }

    /// Whether `value` keeps one keyword of `schema`; `Err` comes from a nested check.
    fn fits(
        &self,
        schema: &Map<String, Value>,
        keyword: &str,
        rule: &Value,
        value: &Value,
        at: &str,
    ) -> Result<bool, String> {
        let number = |rule: &Value| rule.as_f64().unwrap();
        let count = |rule: &Value| rule.as_u64().unwrap() as usize;
        Ok(match keyword {
            "$ref" => {
                self.check(self.target(rule.as_str().unwrap()), value, at)?;
                true
            }
            "oneOf" => {
                list(rule)
                    .filter(|b| self.check(b, value, at).is_ok())
                    .count()
                    == 1
            }
            "anyOf" => list(rule).any(|b| self.check(b, value, at).is_ok()),
            "allOf" => {
                list(rule).try_for_each(|b| self.check(b, value, at))?;
                true
            }
            "type" => match rule {
                Value::String(one) => is_of_type(value, one),
                many => list(many).any(|t| is_of_type(value, t.as_str().unwrap())),
            },
            "enum" => list(rule).any(|v| v == value),
            "format" => match (rule.as_str().unwrap(), value.as_number()) {
                ("int32", Some(n)) => integral(n).is_some_and(|i| i32::try_from(i).is_ok()),
                ("int64", Some(n)) => integral(n).is_some(),
                _ => true,
            },
            "minimum" => value.as_f64().is_none_or(|v| v >= number(rule)),
            "maximum" => value.as_f64().is_none_or(|v| v <= number(rule)),
            "minLength" => value
                .as_str()
                .is_none_or(|s| s.chars().count() >= count(rule)),
            "maxItems" => value.as_array().is_none_or(|a| a.len() <= count(rule)),
            "minItems" => value.as_array().is_none_or(|a| a.len() >= count(rule)),
            "required" => value.as_object().is_none_or(|object| {
                list(rule).all(|name| object.contains_key(name.as_str().unwrap()))
            }),
            "properties" | "additionalProperties" => {
                let Some(object) = value.as_object() else {
                    return Ok(true);
                };
                let declared = schema.get("properties");
                for (name, property) in object {
                    let at = format!("{at}.{name}");
                    match declared.and_then(|p| p.get(name)) {
                        Some(spec) if keyword == "properties" => self.check(spec, property, &at)?,
                        None if keyword == "additionalProperties" => {
                            self.check(rule, property, &at)?
                        }
                        _ => {}
                    }
                }
                true
            }
            "items" => {
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    self.check(rule, item, &format!("{at}[{i}]"))?;
                }
                true
            }
            annotation if ANNOTATIONS.contains(&annotation) => true,
            unknown => panic!("{at}: the walker does not understand the keyword {unknown:?}"),
        })
    }

    /// A value that fits `schema`: for `variant` 0 an object's `example` where there is one, else
    /// built from the schema — the `variant`-th `enum` value, 0 clamped into the bounds, every
    /// property of an object. Checked against the schema before it is returned.
    pub fn instance(&self, schema: &Value, variant: usize) -> Value {
        let schema = self.resolve(schema);
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return values[variant % values.len()].clone();
        }
        if let Some(first) = ["oneOf", "anyOf"]
            .iter()
            .find_map(|k| schema.get(*k).and_then(|b| b.as_array()?.first()))
        {
            return self.instance(first, variant);
        }
        let built = match first_type(schema) {
            "object" => {
                let mut object = match schema.get("example") {
                    Some(Value::Object(example)) if variant == 0 => example.clone(),
                    _ => Map::new(),
                };
                for (name, property) in schema["properties"].as_object().unwrap() {
                    if !object.contains_key(name) {
                        object.insert(name.clone(), self.instance(property, variant));
                    }
                }
                Value::Object(object)
            }
            "array" => json!([self.instance(&schema["items"], variant)]),
            "string" => json!(format!("conformance-{variant}")),
            // Every other variant as a float with no fraction (`3.0`, as Python writes times): an
            // integer to JSON Schema all the same.
            "integer" if variant % 2 == 1 => json!(zero_within_bounds(schema).trunc()),
            "integer" => json!(zero_within_bounds(schema) as i64),
            "number" => json!(zero_within_bounds(schema)),
            "boolean" => json!(variant % 2 == 1),
            "null" => Value::Null,
            other => panic!("the walker cannot build a value of type {other}"),
        };
        if let Err(e) = self.check(schema, &built, "built") {
            panic!("the walker built a value its own schema refuses: {e}");
        }
        built
    }
}

/// The schema's type (the first that is not `null`); `object` when it only has properties.
pub fn first_type(schema: &Value) -> &str {
    match &schema["type"] {
        Value::String(one) => one,
        Value::Array(many) => many
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => panic!("no type in {schema}"),
    }
}

/// A number JSON Schema counts as an integer (`3` or `3.0`) within i64.
fn integral(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.2e18)
            .map(|x| x as i64)
    })
}

fn list(rule: &Value) -> impl Iterator<Item = &Value> {
    rule.as_array()
        .unwrap_or_else(|| panic!("{rule} is not a list"))
        .iter()
}

fn is_of_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.as_number().and_then(integral).is_some() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown JSON Schema type {other}"),
    }
}

fn zero_within_bounds(schema: &Value) -> f64 {
    let low = schema["minimum"].as_f64().unwrap_or(f64::MIN);
    let high = schema["maximum"].as_f64().unwrap_or(f64::MAX);
    0.0_f64.clamp(low, high)
}
