//! Request parameters (query plus form body), decoded once and read through typed getters whose
//! errors name the parameter.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    pub fn from_pairs(pairs: &[(String, String)]) -> Params {
        Params::collect(pairs.iter())
    }

    /// Later pairs win, as in a map built from query then form body.
    pub fn collect<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> Params {
        Params {
            map: pairs.cloned().collect(),
        }
    }

    /// A present, non-empty value.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// A present value, empty or not (for values that may be cleared).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    pub fn req(&self, name: &str) -> Result<&str, ApiError> {
        self.opt(name).ok_or_else(|| ApiError::missing(name))
    }

    pub fn opt_u32(&self, name: &str) -> Result<Option<u32>, ApiError> {
        self.opt(name).map(|v| parse_u32(name, v)).transpose()
    }

    /// Booleans arrive as `true`/`false` or Python's `True`/`False`.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.opt(name).map(|v| parse_bool(name, v)).transpose()
    }

    /// A comma-separated list (`ZoneIds=a,b`); absent gives an empty list.
    pub fn csv(&self, name: &str) -> Vec<String> {
        self.opt(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `PageNumber` (default 1) and `PageSize` (1 to 100, default `default_size`).
    pub fn paging(&self, default_size: u32) -> Result<(u32, u32), ApiError> {
        let page_number = self.opt_u32("PageNumber")?.unwrap_or(1).max(1);
        let page_size = self.opt_u32("PageSize")?.unwrap_or(default_size);
        if !(1..=100).contains(&page_size) {
            return Err(ApiError::invalid(
                "PageSize",
                format!("{page_size}: must be 1 to 100"),
            ));
        }
        Ok((page_number, page_size))
    }

    /// Base64 (standard alphabet) decoded; the error names the parameter.
    pub fn base64(&self, name: &str) -> Result<Vec<u8>, ApiError> {
        use base64::Engine;
        let v = self.req(name)?;
        base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .map_err(|_| ApiError::invalid(name, "not base64"))
    }

    /// A JSON object of strings, e.g. `EncryptionContext={"a":"1"}`; absent gives an empty map.
    pub fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let Some(raw) = self.opt(name) else {
            return Ok(BTreeMap::new());
        };
        let bad = || ApiError::invalid(name, "must be a JSON object of string values");
        let obj: serde_json::Map<String, Value> = serde_json::from_str(raw).map_err(|_| bad())?;
        obj.into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(bad()),
            })
            .collect()
    }

    /// A JSON list of strings, e.g. `VersionStages=["ACSCurrent"]`.
    pub fn string_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        let Some(raw) = self.opt(name) else {
            return Ok(None);
        };
        serde_json::from_str::<Vec<String>>(raw)
            .map(Some)
            .map_err(|_| ApiError::invalid(name, "must be a JSON list of strings"))
    }

    /// `Filters=[{"Key":"KeyState","Values":["Enabled"]}]` with keys from `allowed`; absent
    /// means no filter. Different keys combine with AND, the values of one key with OR.
    pub fn filters(
        &self,
        allowed: &[&'static str],
    ) -> Result<Vec<(&'static str, Vec<String>)>, ApiError> {
        let Some(raw) = self.opt("Filters") else {
            return Ok(Vec::new());
        };
        let bad = |reason: String| ApiError::invalid("Filters", reason);
        let list: Vec<Value> = serde_json::from_str(raw).map_err(|e| {
            bad(format!(
                "not a JSON list of {{\"Key\", \"Values\"}} objects: {e}"
            ))
        })?;
        let mut out = Vec::with_capacity(list.len());
        for (i, f) in list.iter().enumerate() {
            let key = f
                .get("Key")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("Filters[{i}] has no string Key")))?;
            let key = allowed.iter().copied().find(|k| *k == key).ok_or_else(|| {
                bad(format!(
                    "Filters[{i}].Key {key:?} is not one of {}",
                    allowed.join(", ")
                ))
            })?;
            let values = f
                .get("Values")
                .and_then(Value::as_array)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad(format!("Filters[{i}].Values must be a non-empty list")))?
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| bad(format!("Filters[{i}].Values must be strings")))?;
            out.push((key, values));
        }
        Ok(out)
    }

    /// BSS-style repeated structures: `Parameter.1.Code`, `Parameter.1.Value`, … in index order.
    pub fn indexed(&self, prefix: &str, field: &str) -> Vec<(u32, String)> {
        let mut out: Vec<(u32, String)> = self
            .map
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
                let (n, f) = rest.split_once('.')?;
                (f == field).then(|| n.parse().ok().map(|n| (n, v.clone())))?
            })
            .collect();
        out.sort();
        out
    }
}

pub fn parse_u32(name: &str, v: &str) -> Result<u32, ApiError> {
    let t = v.trim();
    t.parse().map_err(|_| {
        let digits = !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
        let reason = if digits {
            format!("{t} is too large (at most {})", u32::MAX)
        } else {
            format!("{v:?} is not a whole number")
        };
        ApiError::invalid(name, reason)
    })
}

pub fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::invalid(
            name,
            format!("{v:?} is not true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getters_name_the_parameter_in_errors() {
        let p = Params::from_pairs(&[("A".into(), "x".into()), ("B".into(), "True".into())]);
        assert_eq!(p.opt_bool("B").unwrap(), Some(true));
        assert!(p.opt_u32("A").unwrap_err().message().contains("\"A\""));
        assert_eq!(p.req("C").unwrap_err().code(), "MissingParameter");
    }

    #[test]
    fn json_parameters_decode_or_name_the_parameter() {
        let p = Params::from_pairs(&[
            ("C".into(), r#"{"b":"2","a":"1"}"#.into()),
            ("N".into(), r#"{"a":1}"#.into()),
            ("L".into(), r#"["ACSCurrent"]"#.into()),
            ("B".into(), "aGk=".into()),
            ("PageSize".into(), "101".into()),
        ]);
        let m = p.string_map("C").unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(p.string_map("Absent").unwrap().is_empty());
        assert!(p.string_map("N").unwrap_err().message().contains("\"N\""));
        assert_eq!(p.string_list("L").unwrap().unwrap(), ["ACSCurrent"]);
        assert_eq!(p.base64("B").unwrap(), b"hi");
        assert!(p.base64("C").unwrap_err().message().contains("\"C\""));
        assert!(p.paging(10).unwrap_err().message().contains("PageSize"));
    }

    #[test]
    fn indexed_parameters_come_in_index_order() {
        let p = Params::from_pairs(&[
            ("Parameter.10.Code".into(), "B".into()),
            ("Parameter.2.Code".into(), "A".into()),
            ("Parameter.2.Value".into(), "1".into()),
        ]);
        assert_eq!(
            p.indexed("Parameter", "Code"),
            vec![(2, "A".into()), (10, "B".into())]
        );
        assert_eq!(p.indexed("Parameter", "Value"), vec![(2, "1".into())]);
    }
}
