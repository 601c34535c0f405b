//! Label values of metrics.

/// A reason as a label value: snake_case (`BidEndedByMithril` -> `bid_ended_by_mithril`,
/// `object updated` -> `object_updated`), whatever form the condition, event or library used.
pub fn snake_case(reason: &str) -> String {
    let chars: Vec<char> = reason.chars().collect();
    let mut out = String::with_capacity(reason.len() + 4);
    for (index, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let previous = index.checked_sub(1).map(|i| chars[i]);
            let next = chars.get(index + 1);
            // A word starts after a lower-case letter or digit, or at the last capital of an
            // acronym followed by a lower-case letter (`HTTPError` -> `http_error`).
            let starts_word = previous
                .is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (previous.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(char::is_ascii_lowercase));
            if starts_word && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_become_snake_case() {
        for (reason, label) in [
            ("BidEndedByMithril", "bid_ended_by_mithril"),
            ("MithrilUnavailable", "mithril_unavailable"),
            ("InvalidApiKey", "invalid_api_key"),
            ("HTTPError", "http_error"),
            ("Retry429", "retry429"),
            ("object updated", "object_updated"),
            ("reconciler requested retry", "reconciler_requested_retry"),
            ("already_snake", "already_snake"),
            ("", ""),
        ] {
            assert_eq!(snake_case(reason), label, "{reason:?}");
        }
    }
}
