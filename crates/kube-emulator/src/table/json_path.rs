//! The JSONPath subset of `additionalPrinterColumns[].jsonPath`: `.a.b`, `.a[0].b`, `.a[-1]`,
//! `.a[*].b`, `.a['dotted.key']`, and filters `.a[?(@.type=="Ready")].status` (`==`, `!=`,
//! against a string, number or boolean).

use serde_json::Value;

/// Why a printer column's JSONPath cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    #[error("unexpected {found:?} at position {position} in JSONPath {path:?}")]
    Unexpected {
        path: String,
        position: usize,
        found: String,
    },
    #[error("unterminated {what} in JSONPath {path:?}")]
    Unterminated { path: String, what: &'static str },
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter {
        field: Vec<String>,
        equal: bool,
        literal: Value,
    },
}

/// A parsed printer-column JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses `.spec.x`, also with the braces of a template (`{.spec.x}`).
    pub fn parse(text: &str) -> Result<Self, JsonPathError> {
        let trimmed = text.trim();
        let inner = trimmed
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
            .unwrap_or(trimmed);
        let mut parser = Parser {
            path: text,
            chars: inner.char_indices().collect(),
            position: 0,
        };
        let mut steps = Vec::new();
        while let Some(c) = parser.peek() {
            match c {
                '.' => {
                    parser.position += 1;
                    if parser.peek() == Some('[') || parser.peek().is_none() {
                        continue;
                    }
                    steps.push(Step::Field(parser.identifier()?));
                }
                '[' => steps.push(parser.bracket()?),
                '$' | '@' if steps.is_empty() => parser.position += 1,
                _ if steps.is_empty() && parser.position == 0 => {
                    steps.push(Step::Field(parser.identifier()?))
                }
                other => return Err(parser.unexpected(other)),
            }
        }
        Ok(Self { steps })
    }

    /// Every value the path selects in `root`, in document order.
    pub fn find<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for value in current {
                match (step, value) {
                    (Step::Field(name), Value::Object(fields)) => next.extend(fields.get(name)),
                    (Step::Index(index), Value::Array(items)) => {
                        let resolved = if *index < 0 {
                            items.len() as i64 + index
                        } else {
                            *index
                        };
                        next.extend(usize::try_from(resolved).ok().and_then(|i| items.get(i)));
                    }
                    (Step::Wildcard, Value::Array(items)) => next.extend(items.iter()),
                    (Step::Wildcard, Value::Object(fields)) => next.extend(fields.values()),
                    (
                        Step::Filter {
                            field,
                            equal,
                            literal,
                        },
                        Value::Array(items),
                    ) => {
                        next.extend(items.iter().filter(|item| {
                            let found = field.iter().try_fold(*item, |value, name| value.get(name));
                            (found == Some(literal)) == *equal
                        }));
                    }
                    _ => {}
                }
            }
            current = next;
        }
        current
    }
}

struct Parser<'t> {
    path: &'t str,
    chars: Vec<(usize, char)>,
    position: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).map(|(_, c)| *c)
    }

    fn unexpected(&self, found: char) -> JsonPathError {
        JsonPathError::Unexpected {
            path: self.path.to_owned(),
            position: self.position,
            found: found.to_string(),
        }
    }

    fn unterminated(&self, what: &'static str) -> JsonPathError {
        JsonPathError::Unterminated {
            path: self.path.to_owned(),
            what,
        }
    }

    fn expect(&mut self, expected: char) -> Result<(), JsonPathError> {
        match self.peek() {
            Some(c) if c == expected => {
                self.position += 1;
                Ok(())
            }
            Some(other) => Err(self.unexpected(other)),
            None => Err(self.unterminated("expression")),
        }
    }

    fn identifier(&mut self) -> Result<String, JsonPathError> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '/') {
                name.push(c);
                self.position += 1;
            } else if c == '\\' {
                // `\.` escapes a dot inside a key.
                self.position += 1;
                let escaped = self.peek().ok_or_else(|| self.unterminated("escape"))?;
                name.push(escaped);
                self.position += 1;
            } else {
                break;
            }
        }
        match (name.is_empty(), self.peek()) {
            (true, Some(other)) => Err(self.unexpected(other)),
            (true, None) => Err(self.unterminated("field name")),
            _ => Ok(name),
        }
    }

    fn quoted(&mut self) -> Result<String, JsonPathError> {
        let quote = self.peek().ok_or_else(|| self.unterminated("string"))?;
        self.position += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(self.unterminated("string")),
                Some('\\') => {
                    self.position += 1;
                    text.push(self.peek().ok_or_else(|| self.unterminated("string"))?);
                }
                Some(c) if c == quote => {
                    self.position += 1;
                    return Ok(text);
                }
                Some(c) => text.push(c),
            }
            self.position += 1;
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.position += 1;
        }
    }

    fn bracket(&mut self) -> Result<Step, JsonPathError> {
        self.expect('[')?;
        let step = match self.peek() {
            Some('*') => {
                self.position += 1;
                Step::Wildcard
            }
            Some('\'' | '"') => Step::Field(self.quoted()?),
            Some('?') => self.filter()?,
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let mut digits = String::new();
                while let Some(c) = self.peek().filter(|c| *c == '-' || c.is_ascii_digit()) {
                    digits.push(c);
                    self.position += 1;
                }
                Step::Index(digits.parse().map_err(|_| self.unexpected('-'))?)
            }
            Some(other) => return Err(self.unexpected(other)),
            None => return Err(self.unterminated("bracket")),
        };
        self.expect(']')?;
        Ok(step)
    }

    /// `?(@.a.b == "x")`
    fn filter(&mut self) -> Result<Step, JsonPathError> {
        self.expect('?')?;
        self.expect('(')?;
        self.skip_spaces();
        self.expect('@')?;
        let mut field = Vec::new();
        while self.peek() == Some('.') {
            self.position += 1;
            field.push(self.identifier()?);
        }
        self.skip_spaces();
        let equal = match (
            self.peek(),
            self.chars.get(self.position + 1).map(|(_, c)| *c),
        ) {
            (Some('='), Some('=')) => true,
            (Some('!'), Some('=')) => false,
            (Some(other), _) => return Err(self.unexpected(other)),
            (None, _) => return Err(self.unterminated("filter")),
        };
        self.position += 2;
        self.skip_spaces();
        let literal = match self.peek() {
            Some('\'' | '"') => Value::String(self.quoted()?),
            Some(_) => {
                let mut word = String::new();
                while let Some(c) = self.peek().filter(|c| !c.is_whitespace() && *c != ')') {
                    word.push(c);
                    self.position += 1;
                }
                serde_json::from_str(&word).map_err(|_| JsonPathError::Unexpected {
                    path: self.path.to_owned(),
                    position: self.position,
                    found: word.clone(),
                })?
            }
            None => return Err(self.unterminated("filter")),
        };
        self.skip_spaces();
        self.expect(')')?;
        Ok(Step::Filter {
            field,
            equal,
            literal,
        })
    }
}
