//! Exact money: Mithril writes prices as `"$D.CC"` strings; the simulator computes in integer cents.

/// The pattern a limit price must match, as Mithril's validation reports it.
pub const PRICE_PATTERN: &str = r"^\$\d+\.\d{2}$";

/// Parses `"$D.CC"` into cents; `None` when the text does not have exactly that form or overflows.
pub fn parse_price(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('$')?;
    let (dollars, cents) = digits.split_once('.')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(dollars) || cents.len() != 2 || !all_digits(cents) {
        return None;
    }
    let dollars: u64 = dollars.parse().ok()?;
    let cents: u64 = cents.parse().ok()?;
    dollars.checked_mul(100)?.checked_add(cents)
}

/// Formats cents as `"$D.CC"`.
pub fn format_price(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_prices() {
        assert_eq!(parse_price("$25.60"), Some(2560));
        assert_eq!(parse_price("$0.05"), Some(5));
        assert_eq!(format_price(2560), "$25.60");
        assert_eq!(format_price(5), "$0.05");
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "25.60",
            "$25.6",
            "$25",
            "$-1.00",
            "$1.000",
            "$.50",
            "$1,000.00",
            "",
            "$1.0a",
        ] {
            assert_eq!(parse_price(bad), None, "{bad}");
        }
    }
}
