//! Request parameters (query plus form body), decoded once and read through typed getters whose
//! errors name the parameter.

use std::collections::BTreeMap;

use crate::error::ApiError;

#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    pub fn from_pairs(pairs: &[(String, String)]) -> Params {
        Params {
            map: pairs.iter().cloned().collect(),
        }
    }

    /// A present, non-empty value.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
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
    v.trim()
        .parse()
        .map_err(|_| ApiError::invalid(name, format!("{v:?} is not a whole number")))
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
