//! Plan helpers. tf-provider has no plan modifiers, so "requires replace", "use state for
//! unknown" and defaults live here, in one place.

use tf_provider::value::Value;
use tf_provider::AttributePath;

/// Adds `name` to the replace triggers when the planned value differs from the prior one, or is
/// unknown while the prior is known (the value might change).
pub fn replace_if_changed<T: PartialEq>(
    name: &'static str,
    prior: &Value<T>,
    planned: &Value<T>,
    out: &mut Vec<AttributePath>,
) {
    let changed = match (prior, planned) {
        (Value::Value(a), Value::Value(b)) => a != b,
        (Value::Value(_), Value::Unknown) => true,
        (Value::Null, Value::Value(_)) | (Value::Value(_), Value::Null) => true,
        _ => false,
    };
    if changed {
        out.push(AttributePath::new(name));
    }
}

/// A null optional attribute takes its default (so the plan shows the value that will be used).
pub fn default<T>(v: &mut Value<T>, d: T) {
    if v.is_null() {
        *v = Value::Value(d);
    }
}

/// A null computed attribute becomes unknown: the apply will fill it.
pub fn unknown_if_null<T>(v: &mut Value<T>) {
    if v.is_null() {
        *v = Value::Unknown;
    }
}

/// An unknown value becomes null: state saved after a failed apply may hold no unknowns.
pub fn null_if_unknown<T>(v: &mut Value<T>) {
    if v.is_unknown() {
        *v = Value::Null;
    }
}

/// The known text of a string attribute, if any.
pub fn s<'a>(v: &'a tf_provider::value::ValueString) -> Option<&'a str> {
    v.as_ref_option().map(|c| c.as_ref())
}

/// The known value, if any.
pub fn known<T: Clone>(v: &Value<T>) -> Option<T> {
    v.as_ref_option().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_is_triggered_by_change_or_unknown_but_not_by_same_value() {
        let mut out = Vec::new();
        replace_if_changed("a", &Value::Value(1), &Value::Value(1), &mut out);
        assert!(out.is_empty());
        replace_if_changed("b", &Value::Value(1), &Value::Value(2), &mut out);
        replace_if_changed("c", &Value::Value(1), &Value::Unknown, &mut out);
        assert_eq!(out.len(), 2);
    }
}
