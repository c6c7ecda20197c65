//! `ValidatingAdmissionPolicy` enforcement (admissionregistration.k8s.io/v1), for DELETE.
//!
//! Stored policies and bindings are matched against a DELETE request like kube-apiserver does:
//! the policy's `matchConstraints` (`resourceRules` with `apiGroups`, `apiVersions`,
//! `resources`, `operations` and `resourceNames`; `excludeResourceRules`; `namespaceSelector`;
//! `objectSelector`), then the binding's optional `matchResources` (the same fields), then the
//! policy's `matchConditions`. Bindings without `Deny` in `validationActions` only warn or
//! audit in kube-apiserver and are ignored here. The `validations` are evaluated with kube-cel
//! (the Kubernetes CEL libraries) with `object` = null, `oldObject` = the stored object,
//! `request` and `namespaceObject`; the
//! first failing one of the first denying binding (by binding name) refuses the request with
//! the same `Status` kube-apiserver answers:
//!
//! ```text
//! code 422, reason Invalid (or the validation's reason: Forbidden 403, Unauthorized 401,
//! RequestEntityTooLarge 413), message
//! <resource>.<group> "<name>" is forbidden: ValidatingAdmissionPolicy '<policy>' with binding
//! '<binding>' denied request: <message>
//! details {name, group, kind: <resource>, causes: [{message: "ValidatingAdmissionPolicy …"}]}
//! ```
//!
//! An expression that fails to compile or evaluate denies under `failurePolicy: Fail` (the
//! default) and is skipped under `Ignore`. Not supported: `paramKind`/`paramRef` (such policies
//! are skipped), `variables`, `auditAnnotations`, the `authorizer` variable, and enforcement on
//! CREATE/UPDATE/CONNECT.

use std::collections::HashMap;
use std::sync::Arc;

use kube_cel::KubeCelExt;
use kube_cel::cel::objects::{Key, Map};
use kube_cel::cel::{Context, Program, Value as Cel};
use serde_json::{Value, json};

use crate::error::{ApiError, group_resource};
use crate::selector::LabelSelector;
use crate::store::{ResourceType, Store};

const GROUP: &str = "admissionregistration.k8s.io";

fn strings<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn listed(list: &[&str], value: &str) -> bool {
    list.iter().any(|x| *x == "*" || *x == value)
}

/// Whether one `NamedRuleWithOperations` covers a DELETE of `rt`/`version`/`name`.
fn rule_matches(rule: &Value, rt: &ResourceType, version: &str, name: &str) -> bool {
    let names = strings(rule, "resourceNames");
    listed(&strings(rule, "operations"), "DELETE")
        && listed(&strings(rule, "apiGroups"), &rt.group)
        && listed(&strings(rule, "apiVersions"), version)
        && strings(rule, "resources")
            .iter()
            .any(|r| *r == "*" || *r == "*/*" || *r == rt.plural)
        && (names.is_empty() || names.contains(&name))
        && match rule.get("scope").and_then(Value::as_str) {
            Some("Namespaced") => rt.namespaced,
            Some("Cluster") => !rt.namespaced,
            _ => true,
        }
}

/// The request facts a `MatchResources` is checked against.
struct Target<'a> {
    rt: &'a ResourceType,
    version: &'a str,
    name: &'a str,
    old: &'a Value,
    namespace: Option<&'a Value>,
}

/// Whether a `MatchResources` (policy `matchConstraints` or binding `matchResources`) selects
/// the request. `require_rules`: the policy's constraints must list resource rules; a binding
/// without rules inherits the policy's.
fn match_resources(m: &Value, t: &Target<'_>, require_rules: bool) -> Result<bool, ApiError> {
    let rules = m.get("resourceRules").and_then(Value::as_array);
    let included = match rules {
        Some(rules) => rules
            .iter()
            .any(|r| rule_matches(r, t.rt, t.version, t.name)),
        None => !require_rules,
    };
    if !included {
        return Ok(false);
    }
    if m.get("excludeResourceRules")
        .and_then(Value::as_array)
        .is_some_and(|rules| {
            rules
                .iter()
                .any(|r| rule_matches(r, t.rt, t.version, t.name))
        })
    {
        return Ok(false);
    }
    if let Some(sel) = m.get("objectSelector")
        && !LabelSelector::from_object(sel)?.matches(t.old)
    {
        return Ok(false);
    }
    if let Some(sel) = m.get("namespaceSelector") {
        // Cluster-scoped objects are not filtered by a namespace selector.
        if let Some(ns) = t.namespace
            && !LabelSelector::from_object(sel)?.matches(ns)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn reason_of(reason: Option<&str>) -> (&'static str, u16) {
    match reason {
        Some("Forbidden") => ("Forbidden", 403),
        Some("Unauthorized") => ("Unauthorized", 401),
        Some("RequestEntityTooLarge") => ("RequestEntityTooLarge", 413),
        _ => ("Invalid", 422),
    }
}

/// The denial kube-apiserver answers for a policy/binding/message.
fn denial(
    rt: &ResourceType,
    name: &str,
    policy: &str,
    binding: &str,
    message: &str,
    reason: Option<&str>,
) -> ApiError {
    let inner = format!(
        "ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {message}"
    );
    let (reason, code) = reason_of(reason);
    ApiError::new(
        code,
        reason,
        format!(
            "{} \"{name}\" is forbidden: {inner}",
            group_resource(&rt.group, &rt.plural)
        ),
    )
    .with_details(json!({
        "name": name,
        "group": rt.group,
        "kind": rt.plural,
        "causes": [{"message": inner}],
    }))
}

/// CEL names of declared fields are escaped like kube-apiserver does (`__dot__`, `__dash__`,
/// `__slash__`, `__underscores__`, reserved words); map keys (`additionalProperties`,
/// `metadata.labels`/`annotations`) are not.
fn escape(name: &str) -> String {
    const RESERVED: &[&str] = &[
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ];
    if RESERVED.contains(&name) {
        return format!("__{name}__");
    }
    name.replace("__", "__underscores__")
        .replace('.', "__dot__")
        .replace('-', "__dash__")
        .replace('/', "__slash__")
}

fn cel_map(map: HashMap<Key, Cel>) -> Cel {
    Cel::Map(Map { map: Arc::new(map) })
}

fn key(s: &str) -> Key {
    Key::String(Arc::new(s.to_string()))
}

/// Converts JSON to CEL following `schema` (an `openAPIV3Schema` node, `Null` when unknown).
/// `raw_keys`: the object is a map whose keys are data.
fn to_cel(v: &Value, schema: &Value, raw_keys: bool) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cel::Int(i),
            (None, Some(u)) => Cel::UInt(u),
            _ => Cel::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            Cel::List(Arc::new(
                a.iter().map(|x| to_cel(x, items, false)).collect(),
            ))
        }
        Value::Object(o) => {
            let props = schema.get("properties");
            let additional = schema.get("additionalProperties");
            let is_map =
                raw_keys || matches!(additional, Some(Value::Object(_)) | Some(Value::Bool(true)));
            let mut map = HashMap::with_capacity(o.len());
            for (k, x) in o {
                let child = match props.and_then(|p| p.get(k)) {
                    Some(s) => s,
                    None => match additional {
                        Some(a @ Value::Object(_)) => a,
                        _ => &Value::Null,
                    },
                };
                let name = if is_map { k.clone() } else { escape(k) };
                map.insert(key(&name), to_cel(x, child, false));
            }
            cel_map(map)
        }
    }
}

/// An object as CEL: `metadata` with raw label/annotation keys, the rest following `schema`.
fn object_to_cel(obj: &Value, schema: &Value) -> Cel {
    let Some(o) = obj.as_object() else {
        return to_cel(obj, schema, false);
    };
    let mut map = HashMap::with_capacity(o.len());
    for (k, x) in o {
        let v = if k == "metadata" {
            let mut meta = HashMap::new();
            for (mk, mv) in x.as_object().into_iter().flatten() {
                let raw = matches!(mk.as_str(), "labels" | "annotations");
                meta.insert(key(mk), to_cel(mv, &Value::Null, raw));
            }
            cel_map(meta)
        } else {
            let child = schema
                .get("properties")
                .and_then(|p| p.get(k))
                .unwrap_or(&Value::Null);
            to_cel(x, child, false)
        };
        map.insert(key(&escape(k)), v);
    }
    cel_map(map)
}

/// A DELETE request, as the policy's CEL sees it.
#[derive(Debug, Clone)]
pub struct DeleteRequest<'a> {
    /// API group (`""` for core).
    pub group: &'a str,
    /// Version the request addressed.
    pub version: &'a str,
    /// Plural resource name.
    pub resource: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Namespace (`None` for cluster-scoped objects).
    pub namespace: Option<&'a str>,
    /// Object name.
    pub name: &'a str,
    /// `dryRun`.
    pub dry_run: bool,
    /// The object being deleted (`oldObject`).
    pub old_object: &'a Value,
    /// Its namespace (`namespaceObject`).
    pub namespace_object: Option<&'a Value>,
    /// The `openAPIV3Schema` of the version, when known (custom resources).
    pub schema: Option<&'a Value>,
}

/// What one policy decides about a DELETE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyDecision {
    /// Every validation holds.
    Allow,
    /// A `matchCondition` is false: the policy does not apply.
    NotApplicable,
    /// Denied, with the message kube-apiserver puts after "denied request: " and the
    /// validation's `reason`, if any.
    Deny {
        /// The denial message.
        message: String,
        /// `Invalid` (default), `Forbidden`, `Unauthorized` or `RequestEntityTooLarge`.
        reason: Option<String>,
    },
}

fn context(req: &DeleteRequest<'_>) -> Context<'static> {
    let mut ctx = Context::default();
    ctx.register_all();
    let schema = req.schema.unwrap_or(&Value::Null);
    let _ = ctx.add_variable("object", Cel::Null);
    let _ = ctx.add_variable("oldObject", object_to_cel(req.old_object, schema));
    let request = json!({
        "operation": "DELETE",
        "name": req.name,
        "namespace": req.namespace.unwrap_or_default(),
        "dryRun": req.dry_run,
        "kind": {"group": req.group, "version": req.version, "kind": req.kind},
        "resource": {"group": req.group, "version": req.version, "resource": req.resource},
        "subResource": "",
        "userInfo": {"username": "kube-sandbox", "uid": "", "groups": ["system:masters", "system:authenticated"]},
    });
    let _ = ctx.add_variable("request", to_cel(&request, &Value::Null, true));
    if let Some(ns) = req.namespace_object {
        let _ = ctx.add_variable("namespaceObject", object_to_cel(ns, &Value::Null));
    }
    ctx
}

/// Runs `expr`: `Ok(bool)`, or the error text (compile, evaluation or non-boolean result).
fn run(ctx: &Context<'_>, expr: &str) -> Result<bool, String> {
    let program = Program::compile(expr).map_err(|e| format!("compilation failed: {e}"))?;
    match program.execute(ctx) {
        Ok(Cel::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("expression returned non-boolean {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Evaluates one policy's `matchConditions` and `validations` for a DELETE (the resource
/// matching is done by the caller). Honours `failurePolicy` (`Fail` by default).
pub fn evaluate_delete(policy_spec: &Value, req: &DeleteRequest<'_>) -> PolicyDecision {
    let ctx = context(req);
    let fail_closed = policy_spec.get("failurePolicy").and_then(Value::as_str) != Some("Ignore");
    let error = |expr: &str, e: String| PolicyDecision::Deny {
        message: format!("expression '{expr}' resulted in error: {e}"),
        reason: None,
    };
    for c in policy_spec
        .get("matchConditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let expr = c
            .get("expression")
            .and_then(Value::as_str)
            .unwrap_or("false");
        match run(&ctx, expr) {
            Ok(true) => {}
            Ok(false) => return PolicyDecision::NotApplicable,
            Err(e) if fail_closed => return error(expr, e),
            Err(_) => return PolicyDecision::NotApplicable,
        }
    }
    for v in policy_spec
        .get("validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let expr = v
            .get("expression")
            .and_then(Value::as_str)
            .unwrap_or("false");
        match run(&ctx, expr) {
            Ok(true) => {}
            Ok(false) => {
                // messageExpression wins when it yields a non-empty single-line string.
                let from_expr = v
                    .get("messageExpression")
                    .and_then(Value::as_str)
                    .and_then(|me| Program::compile(me).ok())
                    .and_then(|p| match p.execute(&ctx) {
                        Ok(Cel::String(s)) if !s.trim().is_empty() && !s.contains('\n') => {
                            Some(s.to_string())
                        }
                        _ => None,
                    });
                let message = from_expr
                    .or_else(|| v.get("message").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_else(|| format!("failed expression: {expr}"));
                return PolicyDecision::Deny {
                    message,
                    reason: v.get("reason").and_then(Value::as_str).map(str::to_string),
                };
            }
            Err(e) if fail_closed => return error(expr, e),
            Err(_) => {}
        }
    }
    PolicyDecision::Allow
}

/// Evaluates the stored policies for a DELETE of `rt` `ns`/`name` served at `version`.
/// `Ok(())` when no binding denies it (or the object does not exist: the delete answers 404).
pub fn check_delete(
    store: &Store,
    rt: &ResourceType,
    version: &str,
    ns: Option<&str>,
    name: &str,
    dry_run: bool,
) -> Result<(), ApiError> {
    if !store.cel_enabled() {
        return Ok(());
    }
    let Ok(old) = store.get(rt, ns, name) else {
        return Ok(());
    };
    let old = Store::serve(rt, version, old);
    let namespace = match (rt.namespaced, ns) {
        (true, Some(ns)) => store
            .type_of("", "namespaces")
            .and_then(|nt| store.get(&nt, None, ns).ok()),
        _ => None,
    };
    let target = Target {
        rt,
        version,
        name,
        old: &old,
        namespace: namespace.as_ref(),
    };
    let schema = rt.version(version).and_then(|v| v.schema.as_ref());
    let req = DeleteRequest {
        group: &rt.group,
        version,
        resource: &rt.plural,
        kind: &rt.kind,
        namespace: ns.filter(|_| rt.namespaced),
        name,
        dry_run,
        old_object: &old,
        namespace_object: namespace.as_ref(),
        schema,
    };
    let policies = store.objects_of(GROUP, "validatingadmissionpolicies");
    for binding in store.objects_of(GROUP, "validatingadmissionpolicybindings") {
        if let Some(denied) = binding_denial(&binding, &policies, &target, &req)? {
            return Err(denied);
        }
    }
    Ok(())
}

/// What one binding says about the request: `Some(denial)` when it is a
/// `Deny` binding of a policy (without `paramKind`) whose constraints and
/// the binding's `matchResources` select the request and whose validations
/// fail; `None` otherwise.
fn binding_denial(
    binding: &Value,
    policies: &[Value],
    target: &Target<'_>,
    req: &DeleteRequest<'_>,
) -> Result<Option<ApiError>, ApiError> {
    let bspec = binding.get("spec").cloned().unwrap_or(Value::Null);
    if !strings(&bspec, "validationActions").contains(&"Deny") {
        return Ok(None);
    }
    let Some(policy_name) = bspec.get("policyName").and_then(Value::as_str) else {
        return Ok(None);
    };
    let Some(policy) = policies
        .iter()
        .find(|p| p.pointer("/metadata/name").and_then(Value::as_str) == Some(policy_name))
    else {
        return Ok(None);
    };
    let pspec = policy.get("spec").cloned().unwrap_or(Value::Null);
    if pspec.get("paramKind").is_some() {
        return Ok(None);
    }
    let constraints = pspec
        .get("matchConstraints")
        .cloned()
        .unwrap_or(Value::Null);
    if !match_resources(&constraints, target, true)? {
        return Ok(None);
    }
    if let Some(m) = bspec.get("matchResources")
        && !match_resources(m, target, false)?
    {
        return Ok(None);
    }
    let PolicyDecision::Deny { message, reason } = evaluate_delete(&pspec, req) else {
        return Ok(None);
    };
    let binding_name = binding
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(Some(denial(
        target.rt,
        target.name,
        policy_name,
        binding_name,
        &message,
        reason.as_deref(),
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn decide(spec: Value, old: &Value, schema: Option<&Value>) -> PolicyDecision {
        evaluate_delete(
            &spec,
            &DeleteRequest {
                group: "g",
                version: "v1",
                resource: "widgets",
                kind: "Widget",
                namespace: Some("ns"),
                name: "w",
                dry_run: false,
                old_object: old,
                namespace_object: None,
                schema,
            },
        )
    }

    #[test]
    fn map_keys_are_raw_and_declared_fields_escaped() {
        let schema = json!({"properties": {"spec": {"properties": {"x-y": {"type": "string"},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}}}}}});
        let old = json!({"metadata": {"name": "w", "annotations": {"a.b/c-d": "1"}, "labels": {"k.io/x": "y"}},
            "spec": {"x-y": "v", "tags": {"t.io/a-b": "z"}}});
        for expr in [
            "oldObject.metadata.annotations['a.b/c-d'] == '1'",
            "'k.io/x' in oldObject.metadata.labels",
            "oldObject.spec.x__dash__y == 'v'",
            "oldObject.spec.tags['t.io/a-b'] == 'z'",
            "object == null && request.operation == 'DELETE' && request.resource.resource == 'widgets'",
        ] {
            let spec = json!({"validations": [{"expression": expr}]});
            assert_eq!(
                decide(spec, &old, Some(&schema)),
                PolicyDecision::Allow,
                "{expr}"
            );
        }
    }

    #[test]
    fn messages_conditions_and_failure_policy() {
        let old = json!({"metadata": {"name": "w"}});
        let d = decide(
            json!({"validations": [{"expression": "false"}]}),
            &old,
            None,
        );
        assert_eq!(
            d,
            PolicyDecision::Deny {
                message: "failed expression: false".into(),
                reason: None
            }
        );
        let d = decide(
            json!({"validations": [{"expression": "false", "message": "static", "messageExpression": "'dyn ' + oldObject.metadata.name", "reason": "Forbidden"}]}),
            &old,
            None,
        );
        assert_eq!(
            d,
            PolicyDecision::Deny {
                message: "dyn w".into(),
                reason: Some("Forbidden".into())
            }
        );
        // a messageExpression that fails falls back to message
        let d = decide(
            json!({"validations": [{"expression": "false", "message": "static", "messageExpression": "oldObject.nope"}]}),
            &old,
            None,
        );
        assert_eq!(
            d,
            PolicyDecision::Deny {
                message: "static".into(),
                reason: None
            }
        );
        let d = decide(
            json!({"matchConditions": [{"name": "c", "expression": "oldObject.metadata.name == 'other'"}], "validations": [{"expression": "false"}]}),
            &old,
            None,
        );
        assert_eq!(d, PolicyDecision::NotApplicable);
        let broken = json!({"validations": [{"expression": "oldObject.spec.x == 1"}]});
        assert!(
            matches!(decide(broken.clone(), &old, None), PolicyDecision::Deny { message, .. } if message.contains("resulted in error"))
        );
        let mut ignore = broken;
        ignore["failurePolicy"] = json!("Ignore");
        assert_eq!(decide(ignore, &old, None), PolicyDecision::Allow);
    }
}
