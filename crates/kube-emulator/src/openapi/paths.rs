//! The `paths` of a CRD group-version document: collection and item URLs with the operations
//! kube-apiserver serves on them. kubectl reads the query parameters of the PATCH operation
//! tagged with the kind's `x-kubernetes-group-version-kind` to decide whether the server
//! validates fields itself (`fieldValidation`).

use super::ResourceDoc;
use super::meta_schemas::{DELETE_OPTIONS, PATCH, STATUS};
use serde_json::{Map, Value, json};

const DRY_RUN: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
const FIELD_MANAGER: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
const FIELD_MANAGER_PATCH: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).";
const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";
const FORCE: &str = "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.";
const PRETTY: &str = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).";
const RESOURCE_VERSION: &str = "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset";

fn query(name: &str, description: &str, type_: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": type_, "uniqueItems": true}})
}

fn list_parameters() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.",
            "boolean",
        ),
        query(
            "continue",
            "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize.",
            "string",
        ),
        query(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
            "string",
        ),
        query(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
            "string",
        ),
        query(
            "limit",
            "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.",
            "integer",
        ),
        query("resourceVersion", RESOURCE_VERSION, "string"),
        query(
            "resourceVersionMatch",
            "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
            "string",
        ),
        query(
            "sendInitialEvents",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event  will be sent. The bookmark will report the ResourceVersion (RV) corresponding to the set of objects, and be marked with `\"k8s.io/initial-events-end\": \"true\"` annotation.",
            "boolean",
        ),
        query(
            "timeoutSeconds",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
            "integer",
        ),
        query(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
            "boolean",
        ),
    ]
}

fn write_parameters(patch: bool) -> Vec<Value> {
    let mut parameters = vec![
        query("dryRun", DRY_RUN, "string"),
        query(
            "fieldManager",
            if patch {
                FIELD_MANAGER_PATCH
            } else {
                FIELD_MANAGER
            },
            "string",
        ),
        query("fieldValidation", FIELD_VALIDATION, "string"),
    ];
    if patch {
        parameters.push(query("force", FORCE, "boolean"));
    }
    parameters
}

fn delete_parameters() -> Vec<Value> {
    vec![
        query("dryRun", DRY_RUN, "string"),
        query(
            "gracePeriodSeconds",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.",
            "integer",
        ),
        query(
            "orphanDependents",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.",
            "boolean",
        ),
        query(
            "propagationPolicy",
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
            "string",
        ),
    ]
}

fn content(schema_name: &str, media_types: &[&str]) -> Value {
    let schema = json!({"$ref": format!("#/components/schemas/{schema_name}")});
    Value::Object(
        media_types
            .iter()
            .map(|media| ((*media).to_owned(), json!({"schema": schema})))
            .collect(),
    )
}

fn responses(codes: &[(&str, &str)], schema_name: &str, media_types: &[&str]) -> Value {
    let mut responses = Map::new();
    for (code, description) in codes {
        responses.insert(
            (*code).to_owned(),
            json!({"description": description, "content": content(schema_name, media_types)}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(responses)
}

/// Names that go into operation ids and tags: `mithril.ai` → `MithrilAi`.
fn camel(group: &str) -> String {
    group
        .split(['.', '-'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

struct Operations<'r> {
    resource: &'r ResourceDoc<'r>,
    kind_schema: String,
    list_schema: String,
    tag: String,
    id_stem: String,
}

impl Operations<'_> {
    fn operation(
        &self,
        action: &str,
        verb: &str,
        description: String,
        parameters: Vec<Value>,
        kind: &str,
    ) -> Value {
        let scope = if self.resource.namespaced {
            "Namespaced"
        } else {
            ""
        };
        json!({
            "tags": [self.tag],
            "description": description,
            "operationId": format!("{verb}{}{scope}{kind}", self.id_stem),
            "parameters": parameters,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {
                "group": self.resource.group,
                "version": self.resource.version,
                "kind": self.resource.kind
            }
        })
    }

    fn body(&self, operation: &mut Value, schema_name: &str, media_types: &[&str]) {
        operation["requestBody"] =
            json!({"content": content(schema_name, media_types), "required": true});
    }

    fn collection(&self) -> Value {
        let kind = self.resource.kind;
        let objects = ["application/json", "application/yaml"];
        let mut list = self.operation(
            "list",
            "list",
            format!("list objects of kind {kind}"),
            list_parameters(),
            kind,
        );
        list["responses"] = responses(
            &[("200", "OK")],
            &self.list_schema,
            &[
                "application/json",
                "application/yaml",
                "application/json;stream=watch",
            ],
        );
        let mut create = self.operation(
            "post",
            "create",
            format!("create a {kind}"),
            write_parameters(false),
            kind,
        );
        self.body(&mut create, &self.kind_schema, &["*/*"]);
        create["responses"] = responses(
            &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
            &self.kind_schema,
            &objects,
        );
        let mut delete_parameters_with_list = delete_parameters();
        delete_parameters_with_list.extend(list_parameters().into_iter().filter(|parameter| {
            parameter["name"] != "watch" && parameter["name"] != "allowWatchBookmarks"
        }));
        let mut delete = self.operation(
            "deletecollection",
            "delete",
            format!("delete collection of {kind}"),
            delete_parameters_with_list,
            kind,
        );
        let scope = if self.resource.namespaced {
            "Namespaced"
        } else {
            ""
        };
        delete["operationId"] = json!(format!("delete{}Collection{scope}{kind}", self.id_stem));
        self.body(&mut delete, DELETE_OPTIONS, &["*/*"]);
        delete["responses"] = responses(&[("200", "OK")], STATUS, &objects);
        let mut item = Map::new();
        item.insert("get".into(), list);
        item.insert("post".into(), create);
        item.insert("delete".into(), delete);
        item.insert(
            "parameters".into(),
            Value::Array(self.path_parameters(false)),
        );
        Value::Object(item)
    }

    fn item(&self) -> Value {
        let kind = self.resource.kind;
        let objects = ["application/json", "application/yaml"];
        let mut read = self.operation(
            "get",
            "read",
            format!("read the specified {kind}"),
            vec![query("resourceVersion", RESOURCE_VERSION, "string")],
            kind,
        );
        read["responses"] = responses(&[("200", "OK")], &self.kind_schema, &objects);
        let mut replace = self.operation(
            "put",
            "replace",
            format!("replace the specified {kind}"),
            write_parameters(false),
            kind,
        );
        self.body(&mut replace, &self.kind_schema, &["*/*"]);
        replace["responses"] = responses(
            &[("200", "OK"), ("201", "Created")],
            &self.kind_schema,
            &objects,
        );
        let mut delete = self.operation(
            "delete",
            "delete",
            format!("delete a {kind}"),
            delete_parameters(),
            kind,
        );
        self.body(&mut delete, DELETE_OPTIONS, &["*/*"]);
        delete["responses"] = responses(&[("200", "OK"), ("202", "Accepted")], STATUS, &objects);
        let mut patch = self.operation(
            "patch",
            "patch",
            format!("partially update the specified {kind}"),
            write_parameters(true),
            kind,
        );
        self.body(
            &mut patch,
            PATCH,
            &[
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
            ],
        );
        patch["responses"] = responses(
            &[("200", "OK"), ("201", "Created")],
            &self.kind_schema,
            &objects,
        );
        let mut item = Map::new();
        item.insert("get".into(), read);
        item.insert("put".into(), replace);
        item.insert("delete".into(), delete);
        item.insert("patch".into(), patch);
        item.insert(
            "parameters".into(),
            Value::Array(self.path_parameters(true)),
        );
        Value::Object(item)
    }

    fn all_namespaces(&self) -> Value {
        let kind = self.resource.kind;
        let mut list = self.operation(
            "list",
            "list",
            format!("list objects of kind {kind}"),
            list_parameters(),
            kind,
        );
        list["operationId"] = json!(format!("list{}{kind}ForAllNamespaces", self.id_stem));
        list["responses"] = responses(
            &[("200", "OK")],
            &self.list_schema,
            &[
                "application/json",
                "application/yaml",
                "application/json;stream=watch",
            ],
        );
        json!({"get": list, "parameters": [query("pretty", PRETTY, "string")]})
    }

    fn path_parameters(&self, with_name: bool) -> Vec<Value> {
        let mut parameters = Vec::new();
        if with_name {
            parameters.push(json!({"name": "name", "in": "path", "description": format!("name of the {}", self.resource.kind), "required": true, "schema": {"type": "string", "uniqueItems": true}}));
        }
        if self.resource.namespaced {
            parameters.push(json!({"name": "namespace", "in": "path", "description": "object name and auth scope, such as for teams and projects", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
        }
        parameters.push(query("pretty", PRETTY, "string"));
        parameters
    }
}

/// The paths of one resource, added to `paths`.
pub(crate) fn add_resource_paths(
    paths: &mut Map<String, Value>,
    resource: &ResourceDoc<'_>,
    kind_schema: String,
    list_schema: String,
) {
    let group_version = format!("{}{}", camel(resource.group), camel(resource.version));
    let operations = Operations {
        resource,
        kind_schema,
        list_schema,
        tag: format!(
            "{}_{}",
            lower_first(&camel(resource.group)),
            resource.version
        ),
        id_stem: group_version,
    };
    let base = format!("/apis/{}/{}", resource.group, resource.version);
    if resource.namespaced {
        let collection = format!("{base}/namespaces/{{namespace}}/{}", resource.plural);
        paths.insert(collection.clone(), operations.collection());
        paths.insert(format!("{collection}/{{name}}"), operations.item());
        paths.insert(
            format!("{base}/{}", resource.plural),
            operations.all_namespaces(),
        );
    } else {
        let collection = format!("{base}/{}", resource.plural);
        paths.insert(collection.clone(), operations.collection());
        paths.insert(format!("{collection}/{{name}}"), operations.item());
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}
