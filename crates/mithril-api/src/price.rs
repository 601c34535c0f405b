//! Exact money for Mithril prices.
//!
//! Mithril writes prices as dollar strings with exactly two decimals (`"$25.60"`) and pricing
//! history as integer cents. Both become a [`Price`]: a count of cents in a `u64`, so comparisons
//! and arithmetic are exact (no floating point ever touches money).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative amount of US dollars, held as exact cents.
///
/// Canonical form: `$` then whole dollars then `.` then exactly two digits of cents (`"$0.00"`,
/// `"$25.60"`). `Display`, `Serialize` and `FromStr` (what users write) use only that form.
/// `Deserialize` (what Mithril answers) also reads what the spec's plain "string" allows in
/// practice: no `$`, thousands commas, fewer or more decimals (`"12.5"`, `"$1,250.00"`), rounding
/// sub-cent amounts up: another party's odd price must not make a whole list unreadable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price {
    cents: u64,
}

/// Why a price string was rejected. The message names the input and the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid price {input:?}: {problem}; expected a dollar amount like \"$25.60\"")]
pub struct PriceParseError {
    input: String,
    problem: PriceProblem,
}

impl PriceParseError {
    /// The rejected text.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What was wrong with it.
    pub fn problem(&self) -> &PriceProblem {
        &self.problem
    }
}

/// The specific defect in a rejected price string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceProblem {
    #[error("it is empty")]
    Empty,
    #[error("it is negative")]
    Negative,
    #[error("it does not start with '$'")]
    MissingDollarSign,
    #[error("it has no whole-dollar digits")]
    MissingDollars,
    #[error("it has no '.' followed by two digits of cents")]
    MissingCents,
    #[error("it must have exactly two digits of cents, found {0}")]
    WrongCentDigits(usize),
    #[error("it contains {0:?}, which is not a digit")]
    NotADigit(char),
    #[error("it is too large to represent")]
    Overflow,
}

impl Price {
    /// Zero dollars.
    pub const ZERO: Price = Price { cents: 0 };

    /// A price of exactly `cents` cents.
    pub const fn from_cents(cents: u64) -> Self {
        Price { cents }
    }

    /// `dollars` whole dollars and `cents` (0..=99) cents; `None` if cents is out of range or
    /// the total overflows.
    pub fn from_dollars_cents(dollars: u64, cents: u8) -> Option<Self> {
        if cents > 99 {
            return None;
        }
        dollars
            .checked_mul(100)
            .and_then(|c| c.checked_add(u64::from(cents)))
            .map(Price::from_cents)
    }

    /// The exact amount in cents.
    pub const fn cents(self) -> u64 {
        self.cents
    }

    /// Sum, or `None` on overflow.
    pub fn checked_add(self, other: Price) -> Option<Price> {
        self.cents.checked_add(other.cents).map(Price::from_cents)
    }

    /// Difference, or `None` if `other` is larger.
    pub fn checked_sub(self, other: Price) -> Option<Price> {
        self.cents.checked_sub(other.cents).map(Price::from_cents)
    }

    /// Product with a quantity (e.g. price per instance × instances), or `None` on overflow.
    pub fn checked_mul(self, quantity: u64) -> Option<Price> {
        self.cents.checked_mul(quantity).map(Price::from_cents)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:02}", self.cents / 100, self.cents % 100)
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Price({self})")
    }
}

impl FromStr for Price {
    type Err = PriceParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse_cents(input)
            .map(Price::from_cents)
            .map_err(|problem| PriceParseError {
                input: input.to_owned(),
                problem,
            })
    }
}

fn parse_cents(input: &str) -> Result<u64, PriceProblem> {
    if input.is_empty() {
        return Err(PriceProblem::Empty);
    }
    if input.starts_with('-') || input.starts_with("$-") {
        return Err(PriceProblem::Negative);
    }
    let amount = input
        .strip_prefix('$')
        .ok_or(PriceProblem::MissingDollarSign)?;
    let (dollars, cents) = amount.split_once('.').ok_or(PriceProblem::MissingCents)?;
    if dollars.is_empty() {
        return Err(PriceProblem::MissingDollars);
    }
    if cents.is_empty() {
        return Err(PriceProblem::MissingCents);
    }
    let dollars = parse_digits(dollars)?;
    let cent_digits = cents.chars().count();
    let cents = parse_digits(cents)?;
    if cent_digits != 2 {
        return Err(PriceProblem::WrongCentDigits(cent_digits));
    }
    dollars
        .checked_mul(100)
        .and_then(|c| c.checked_add(cents))
        .ok_or(PriceProblem::Overflow)
}

fn parse_digits(text: &str) -> Result<u64, PriceProblem> {
    text.chars().try_fold(0u64, |acc, ch| {
        let digit = ch.to_digit(10).ok_or(PriceProblem::NotADigit(ch))?;
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(PriceProblem::Overflow)
    })
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .or_else(|error| Price::read_lenient(&text).ok_or(error))
            .map_err(serde::de::Error::custom)
    }
}

impl Price {
    /// A dollar amount in a looser form than the canonical one (see [`Price`]); `None` when it
    /// is no amount at all.
    pub fn read_lenient(text: &str) -> Option<Price> {
        let amount = text.trim();
        let amount = amount.strip_prefix('$').unwrap_or(amount);
        let (dollars, decimals) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        // Thousands separators only between groups of three digits.
        let mut groups = dollars.split(',');
        let first = groups.next()?;
        if !digits(first) || !groups.all(|group| group.len() == 3 && digits(group)) {
            return None;
        }
        if !decimals.is_empty() && !digits(decimals) {
            return None;
        }
        let whole: u64 = dollars.replace(',', "").parse().ok()?;
        let cents_text = format!("{decimals:0<2}");
        let (cents, rest) = cents_text.split_at(2);
        let round_up = u64::from(rest.bytes().any(|b| b != b'0'));
        whole
            .checked_mul(100)?
            .checked_add(cents.parse().ok()?)?
            .checked_add(round_up)
            .map(Price::from_cents)
    }
}

/// Serde `with` module for prices carried as integer cents (pricing history's `price_cents`).
pub mod cents {
    use super::Price;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(price: &Price, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(price.cents())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Price, D::Error> {
        let cents = i64::deserialize(deserializer)?;
        u64::try_from(cents).map(Price::from_cents).map_err(|_| {
            serde::de::Error::custom(format!(
                "invalid price_cents {cents}: expected a non-negative integer"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(input: &str) -> PriceProblem {
        input.parse::<Price>().unwrap_err().problem().clone()
    }

    #[test]
    fn parses_valid_prices() {
        assert_eq!("$25.60".parse::<Price>().unwrap().cents(), 2560);
        assert_eq!("$0.00".parse::<Price>().unwrap(), Price::ZERO);
        assert_eq!("$0.01".parse::<Price>().unwrap().cents(), 1);
        assert_eq!("$0.99".parse::<Price>().unwrap().cents(), 99);
        assert_eq!("$1.00".parse::<Price>().unwrap().cents(), 100);
        assert_eq!("$1000000.00".parse::<Price>().unwrap().cents(), 100_000_000);
    }

    #[test]
    fn formats_with_two_cent_digits() {
        assert_eq!(Price::from_cents(2560).to_string(), "$25.60");
        assert_eq!(Price::ZERO.to_string(), "$0.00");
        assert_eq!(Price::from_cents(5).to_string(), "$0.05");
        assert_eq!(Price::from_cents(100).to_string(), "$1.00");
        assert_eq!(format!("{:?}", Price::from_cents(1999)), "Price($19.99)");
    }

    #[test]
    fn round_trips_boundaries() {
        for cents in [0, 1, 9, 10, 99, 100, 101, 999_999, u64::MAX - 1, u64::MAX] {
            let price = Price::from_cents(cents);
            assert_eq!(
                price.to_string().parse::<Price>().unwrap(),
                price,
                "{cents}"
            );
        }
    }

    #[test]
    fn largest_value_and_overflow() {
        let max = Price::from_cents(u64::MAX);
        assert_eq!(max.to_string(), "$184467440737095516.15");
        assert_eq!(problem("$184467440737095516.16"), PriceProblem::Overflow);
        assert_eq!(problem("$999999999999999999999.00"), PriceProblem::Overflow);
    }

    #[test]
    fn rejects_malformed_prices() {
        assert_eq!(problem(""), PriceProblem::Empty);
        assert_eq!(problem("12.50"), PriceProblem::MissingDollarSign);
        assert_eq!(problem("$1.5"), PriceProblem::WrongCentDigits(1));
        assert_eq!(problem("$1.500"), PriceProblem::WrongCentDigits(3));
        assert_eq!(problem("$1"), PriceProblem::MissingCents);
        assert_eq!(problem("$1."), PriceProblem::MissingCents);
        assert_eq!(problem("$.50"), PriceProblem::MissingDollars);
        assert_eq!(problem("-$1.00"), PriceProblem::Negative);
        assert_eq!(problem("$-1.00"), PriceProblem::Negative);
        assert_eq!(problem("$1,000.00"), PriceProblem::NotADigit(','));
        assert_eq!(problem(" $1.00"), PriceProblem::MissingDollarSign);
        assert_eq!(problem("$1.00 "), PriceProblem::NotADigit(' '));
        assert_eq!(problem("$1.0a"), PriceProblem::NotADigit('a'));
        assert_eq!(problem("$+1.00"), PriceProblem::NotADigit('+'));
    }

    #[test]
    fn error_message_names_input_and_expectation() {
        let message = "$1.5".parse::<Price>().unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid price \"$1.5\": it must have exactly two digits of cents, found 1; expected a dollar amount like \"$25.60\""
        );
    }

    #[test]
    fn serde_uses_the_wire_string() {
        let price: Price = serde_json::from_str("\"$15.60\"").unwrap();
        assert_eq!(price.cents(), 1560);
        assert_eq!(serde_json::to_string(&price).unwrap(), "\"$15.60\"");
        let err = serde_json::from_str::<Price>("\"about 15\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"about 15\""), "{err}");
        assert!(serde_json::from_str::<Price>("15.6").is_err());
    }

    #[test]
    fn mithril_answers_are_read_leniently_user_input_is_not() {
        let read = |text: &str| serde_json::from_value::<Price>(serde_json::json!(text)).ok();
        assert_eq!(read("12.5"), Some(Price::from_cents(1250)));
        assert_eq!(read("$1,250.00"), Some(Price::from_cents(125_000)));
        assert_eq!(read("7"), Some(Price::from_cents(700)));
        assert_eq!(
            read("$0.125"),
            Some(Price::from_cents(13)),
            "sub-cent rounds up"
        );
        assert_eq!(read("$2.500"), Some(Price::from_cents(250)));
        for unreadable in ["", "$", "1,25.00", "-1.00", "$1.2x", "twelve", "$.50"] {
            assert_eq!(read(unreadable), None, "{unreadable:?}");
        }
        assert!(
            "12.5".parse::<Price>().is_err(),
            "specs keep the canonical form"
        );
    }

    #[test]
    fn cents_module_reads_integer_cents() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct Event {
            #[serde(with = "super::cents")]
            price_cents: Price,
        }
        let event: Event = serde_json::from_str(r#"{"price_cents":1234}"#).unwrap();
        assert_eq!(event.price_cents, Price::from_cents(1234));
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"price_cents":1234}"#
        );
        let err = serde_json::from_str::<Event>(r#"{"price_cents":-5}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("-5"), "{err}");
    }

    #[test]
    fn arithmetic_is_exact_and_checked() {
        let a = Price::from_cents(10);
        let b = Price::from_cents(20);
        assert_eq!(a.checked_add(b), Some(Price::from_cents(30)));
        assert_eq!(a.checked_sub(b), None);
        assert_eq!(b.checked_mul(4), Some(Price::from_cents(80)));
        assert_eq!(Price::from_cents(u64::MAX).checked_add(a), None);
        assert_eq!(
            Price::from_dollars_cents(25, 60),
            Some(Price::from_cents(2560))
        );
        assert_eq!(Price::from_dollars_cents(1, 100), None);
        assert!(a < b);
    }
}
