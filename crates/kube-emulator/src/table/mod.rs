//! The `meta.k8s.io/v1` Table format (`kubectl get`), with a CRD's printer columns, as
//! kube-apiserver's custom-resource table convertor builds it: a Name column, then the printer
//! columns (or `Age` when the CRD declares none); each cell from the first value its JSONPath
//! selects, typed by the column (`integer`, `number`, `boolean`, `string`, `date` as an age
//! such as `5m`), null when the path selects nothing (kubectl shows `<none>`).

mod age;
mod builtin;
mod json_path;

pub use builtin::BuiltInTable;
pub use json_path::{JsonPath, JsonPathError};

use serde_json::{Map, Value, json};

/// ObjectMeta's description of `name`, which kube-apiserver gives the Name column.
const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// ObjectMeta's description of `creationTimestamp`, which kube-apiserver gives the default Age column.
const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One `additionalPrinterColumns` entry of a CRD version.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrinterColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: i32,
    pub json_path: String,
}

impl PrinterColumn {
    /// The column kube-apiserver shows for a CRD without printer columns.
    pub fn default_age() -> Self {
        Self {
            name: "Age".into(),
            type_: "date".into(),
            format: None,
            description: Some(CREATION_TIMESTAMP_DESCRIPTION.into()),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }
    }
}

/// How much of each object a row carries (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// A Table of these objects: a Name column, then `columns` (none given: Name and Age, as kube-apiserver does).
/// `list_metadata` is the ListMeta (resourceVersion, continue) to carry. Ages are counted to now.
pub fn table(
    columns: &[PrinterColumn],
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
) -> Value {
    table_at(
        columns,
        objects,
        include,
        list_metadata,
        jiff::Timestamp::now(),
    )
}

/// [`table`] with ages counted up to `now`.
pub fn table_at(
    columns: &[PrinterColumn],
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
    now: jiff::Timestamp,
) -> Value {
    let default_columns = [PrinterColumn::default_age()];
    let columns = if columns.is_empty() {
        &default_columns[..]
    } else {
        columns
    };
    // A path that does not parse selects nothing (kube-apiserver refuses such CRDs up front).
    let paths: Vec<Option<JsonPath>> = columns
        .iter()
        .map(|column| JsonPath::parse(&column.json_path).ok())
        .collect();

    let mut definitions = vec![json!({
        "name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0
    })];
    definitions.extend(columns.iter().map(|column| {
        let description = column.description.clone().unwrap_or_else(|| {
            format!(
                "Custom resource definition column (in JSONPath format): {}",
                column.json_path
            )
        });
        json!({
            "name": column.name,
            "type": column.type_,
            "format": column.format.clone().unwrap_or_default(),
            "description": description,
            "priority": column.priority,
        })
    }));

    let rows = objects
        .iter()
        .map(|object| {
            let mut cells = vec![
                object
                    .pointer("/metadata/name")
                    .cloned()
                    .unwrap_or(Value::Null),
            ];
            cells.extend(columns.iter().zip(&paths).map(|(column, path)| {
                let selected = path
                    .as_ref()
                    .and_then(|path| path.find(object).into_iter().next());
                selected.map_or(Value::Null, |value| cell(&column.type_, value, now))
            }));
            cells
        })
        .collect();
    assemble(definitions, rows, objects, include, list_metadata)
}

/// The Table kube-apiserver's printer for a built-in kind makes of these objects.
pub fn builtin_table(
    printer: BuiltInTable,
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
) -> Value {
    builtin_table_at(
        printer,
        objects,
        include,
        list_metadata,
        jiff::Timestamp::now(),
    )
}

/// [`builtin_table`] with ages counted up to `now`.
pub fn builtin_table_at(
    printer: BuiltInTable,
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
    now: jiff::Timestamp,
) -> Value {
    let rows = objects
        .iter()
        .map(|object| printer.cells(object, now))
        .collect();
    assemble(printer.columns(), rows, objects, include, list_metadata)
}

/// A Table of these column definitions and each object's cells.
fn assemble(
    definitions: Vec<Value>,
    cells: Vec<Vec<Value>>,
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
) -> Value {
    let rows: Vec<Value> = cells
        .into_iter()
        .zip(objects)
        .map(|(cells, object)| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row.insert("object".into(), partial_object_metadata(object));
                }
                IncludeObject::Object => {
                    row.insert("object".into(), object.clone());
                }
            }
            Value::Object(row)
        })
        .collect();

    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// The `meta.k8s.io/v1` PartialObjectMetadata of an object.
pub fn partial_object_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A cell of a column of this type holding `value` (null when the value does not fit the type).
fn cell(type_: &str, value: &Value, now: jiff::Timestamp) -> Value {
    match (type_, value) {
        (_, Value::Null) => Value::Null,
        ("string", Value::String(text)) => Value::String(text.clone()),
        // A string column prints any value, as JSON when it is not a string.
        ("string", other) => Value::String(other.to_string()),
        ("integer", Value::Number(number)) => match number.as_i64() {
            Some(integer) => json!(integer),
            // Go converts float64 to int64 by truncation.
            None => number
                .as_f64()
                .map_or(Value::Null, |float| json!(float.trunc() as i64)),
        },
        ("number", Value::Number(number)) => {
            number.as_f64().map_or(Value::Null, |float| json!(float))
        }
        ("boolean", Value::Bool(flag)) => Value::Bool(*flag),
        ("date", Value::String(text)) => match text.parse::<jiff::Timestamp>() {
            Ok(time) => Value::String(age::human_duration(now.as_second() - time.as_second())),
            Err(_) => Value::String("<invalid>".into()),
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests;
