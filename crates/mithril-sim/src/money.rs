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

/// Reads a price written loosely (`"$1,250.00"`, `"12.5"`, `"7"`) into cents: an optional `$`,
/// digits with optional thousands commas, at most two decimals. For prices other parties wrote.
pub fn read_price_leniently(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits: String = text
        .strip_prefix('$')
        .unwrap_or(text)
        .chars()
        .filter(|c| *c != ',')
        .collect();
    let (dollars, cents) = digits.split_once('.').unwrap_or((&digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if dollars.is_empty() || !all_digits(dollars) || cents.len() > 2 || !all_digits(cents) {
        return None;
    }
    let cents: u64 = format!("{cents:0<2}").parse().ok()?;
    dollars
        .parse::<u64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
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
    fn reads_loose_prices() {
        assert_eq!(read_price_leniently("$1,250.00"), Some(125_000));
        assert_eq!(read_price_leniently("12.5"), Some(1250));
        assert_eq!(read_price_leniently("7"), Some(700));
        assert_eq!(read_price_leniently(" $0.05 "), Some(5));
        for bad in ["", "$", "abc", "$1.005", "1.2.3", "-1", ".5"] {
            assert_eq!(read_price_leniently(bad), None, "{bad}");
        }
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
