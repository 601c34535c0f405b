//! Pieces shared by several API areas.

use super::super::wire_enum::wire_enum;

wire_enum! {
    /// Sort order of list endpoints.
    pub enum SortDirection {
        Asc => "asc",
        Desc => "desc",
    }
}

/// The largest page size Mithril accepts.
pub const MAX_PAGE_LIMIT: u32 = 100;

/// Query string pairs of a request, in a stable order.
pub(crate) type QueryPairs = Vec<(&'static str, String)>;

/// Checks a `limit` against the API's `1..=100`.
pub(crate) fn check_limit(limit: Option<u32>) -> Result<(), String> {
    match limit {
        Some(limit) if !(1..=MAX_PAGE_LIMIT).contains(&limit) => Err(format!(
            "limit must be between 1 and {MAX_PAGE_LIMIT}, got {limit}"
        )),
        _ => Ok(()),
    }
}

/// Appends `key=value` when the value is present.
pub(crate) fn push_opt(pairs: &mut QueryPairs, key: &'static str, value: Option<impl ToString>) {
    if let Some(value) = value {
        pairs.push((key, value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert!(check_limit(None).is_ok());
        assert!(check_limit(Some(1)).is_ok());
        assert!(check_limit(Some(100)).is_ok());
        assert!(check_limit(Some(0)).is_err());
        assert!(check_limit(Some(101)).unwrap_err().contains("101"));
    }

    #[test]
    fn sort_direction_wire_strings() {
        assert_eq!(
            serde_json::to_string(&SortDirection::Desc).unwrap(),
            "\"desc\""
        );
        assert_eq!(
            SortDirection::from("sideways"),
            SortDirection::Unknown("sideways".into())
        );
    }
}
