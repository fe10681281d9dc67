//! Pre-1.0 topic selectors that are RFC 6570 URI templates: a topic matches a template when
//! some assignment of its variables expands to exactly that topic.
//!
//! The template is compiled once into an anchored regular expression (the `regex` crate,
//! linear-time, under [`super::REGEX_SIZE_LIMIT`]). Supported: all of level 4, that is every
//! operator (none, `+`, `#`, `.`, `/`, `;`, `?`, `&`), several variables per expression, the
//! prefix modifier `:N` and the explode modifier `*`, with variables free to be undefined,
//! empty, strings, lists or maps. The match follows the expansion rules strictly for what a
//! variable may produce: unreserved characters and percent-encoded triplets, plus the reserved
//! set for `+` and `#`; a raw non-ASCII character (an IRI) therefore matches only in literal
//! text, as in the Go reference hub. Two simplifications can only widen a match, and only for
//! shapes no expansion distinguishes in practice: a named (`;`) variable accepts `name=` where
//! the expansion writes `name`, and an exploded map's keys are any non-empty encoded string.

use std::fmt;

use regex::Regex;

use super::url_pattern::{bounded_regex, REGEX_SIZE_LIMIT};

/// The largest compiled form of a template, in bytes: the budget of a whole URL pattern
/// (eight components of [`REGEX_SIZE_LIMIT`]), since a template is one regular expression
/// where a pattern is eight, so one connection's matchers stay within the same bound. A
/// template's expression compiles one alternative per choice of its first defined variable,
/// and a prefix one copy per character: three expressions of three `:5` prefixes need
/// about 115 KiB (measured), past one component's 64 KiB.
const TEMPLATE_SIZE_LIMIT: usize = 8 * REGEX_SIZE_LIMIT;

/// The most variables one `{...}` expression may list. Encoding the ordered choice of defined
/// variables takes regex text quadratic in their number, so it is bounded before building it.
const MAX_VARIABLES_PER_EXPRESSION: usize = 32;

/// The character a variable's value may expand to, percent-encoded triplets included:
/// unreserved only (RFC 6570 "U").
const UNRESERVED: &str = r"(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})";

/// The same with the reserved set (RFC 6570 "U+R"), for the `+` and `#` operators.
const UNRESERVED_OR_RESERVED: &str = r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})";

/// What one character of a value expands to, for the prefix modifier, which counts
/// characters before encoding: a character outside the allowed set is its UTF-8 bytes, one
/// to four triplets (a lead, then continuation bytes `%80` to `%BF`). Unreserved only.
const UNRESERVED_CHAR: &str = r"(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2}(?:%[89ABab][0-9A-Fa-f]){0,3})";

/// [`UNRESERVED_CHAR`] with the reserved set, for the `+` and `#` operators.
const UNRESERVED_OR_RESERVED_CHAR: &str =
    r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2}(?:%[89ABab][0-9A-Fa-f]){0,3})";

/// A compiled RFC 6570 URI template used as a pre-1.0 topic selector.
#[derive(Clone)]
pub struct CompiledTemplate {
    source: String,
    regex: Regex,
}

impl CompiledTemplate {
    /// Compiles `source`; the error says what is malformed (an unclosed brace, a reserved
    /// operator, a bad variable name or modifier, or a template too large to compile).
    pub(crate) fn compile(source: &str) -> Result<Self, String> {
        let regex_text = template_regex(source)?;
        let regex = bounded_regex(&regex_text, TEMPLATE_SIZE_LIMIT).map_err(|err| match err {
            regex::Error::CompiledTooBig(_) => "the template is too large to compile".to_owned(),
            other => other.to_string(),
        })?;
        Ok(Self {
            source: source.to_owned(),
            regex,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `topic` matches: identical to the template itself (the pre-1.0 text lets a
    /// selector match another selector that way), or a possible expansion of it.
    pub fn matches(&self, topic: &str) -> bool {
        topic == self.source || self.regex.is_match(topic)
    }
}

impl fmt::Debug for CompiledTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CompiledTemplate")
            .field(&self.source)
            .finish()
    }
}

impl PartialEq for CompiledTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for CompiledTemplate {}

/// The expansion rules of one operator (RFC 6570, appendix A).
struct Operator {
    first: &'static str,
    separator: &'static str,
    named: bool,
    /// `=` follows the name of an empty value (`?` and `&`), rather than nothing (`;`).
    equals_if_empty: bool,
    allowed: &'static str,
    /// What one character of a value may expand to (for prefixes).
    allowed_char: &'static str,
}

impl Operator {
    fn new(op: Option<char>) -> Self {
        let (first, separator, named, equals_if_empty, reserved) = match op {
            None => ("", ",", false, false, false),
            Some('+') => ("", ",", false, false, true),
            Some('#') => ("#", ",", false, false, true),
            Some('.') => (".", ".", false, false, false),
            Some('/') => ("/", "/", false, false, false),
            Some(';') => (";", ";", true, false, false),
            Some('?') => ("?", "&", true, true, false),
            // Only `&` is left: the caller maps every other character to `None` or an error.
            _ => ("&", "&", true, true, false),
        };
        Self {
            first,
            separator,
            named,
            equals_if_empty,
            allowed: if reserved {
                UNRESERVED_OR_RESERVED
            } else {
                UNRESERVED
            },
            allowed_char: if reserved {
                UNRESERVED_OR_RESERVED_CHAR
            } else {
                UNRESERVED_CHAR
            },
        }
    }
}

/// One variable of an expression: its name and modifier.
struct VarSpec<'a> {
    name: &'a str,
    prefix: Option<u16>,
    explode: bool,
}

/// The anchored regular expression matching every expansion of `template`.
fn template_regex(template: &str) -> Result<String, String> {
    let mut out = String::from(r"\A");
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        let (literal, tail) = rest.split_at(at);
        out.push_str(&regex::escape(literal));
        if tail.starts_with('}') {
            return Err("a `}` closes no expression".to_owned());
        }
        let close = tail
            .find('}')
            .ok_or_else(|| "an expression is not closed by `}`".to_owned())?;
        let expression = &tail[1..close];
        if expression.contains('{') {
            return Err("expressions cannot nest".to_owned());
        }
        push_expression(&mut out, expression)?;
        rest = &tail[close + 1..];
    }
    out.push_str(&regex::escape(rest));
    out.push_str(r"\z");
    Ok(out)
}

/// Appends the regex for one `{...}` expression: nothing when every variable is undefined,
/// otherwise the operator's first character and the defined variables, in order, joined by its
/// separator.
fn push_expression(out: &mut String, expression: &str) -> Result<(), String> {
    let (op, list) = match expression.chars().next() {
        Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), &expression[1..]),
        Some(c @ ('=' | ',' | '!' | '@' | '|')) => {
            return Err(format!("the operator `{c}` is reserved"));
        }
        _ => (None, expression),
    };
    let operator = Operator::new(op);
    let vars = list
        .split(',')
        .map(parse_varspec)
        .collect::<Result<Vec<_>, _>>()?;
    if vars.len() > MAX_VARIABLES_PER_EXPRESSION {
        return Err(format!(
            "an expression lists more than {MAX_VARIABLES_PER_EXPRESSION} variables"
        ));
    }
    let values: Vec<String> = vars
        .iter()
        .map(|var| variable_regex(&operator, var))
        .collect();
    let separator = regex::escape(operator.separator);
    // One alternative per choice of the first defined variable; each later one may be there.
    let alternatives: Vec<String> = (0..values.len())
        .map(|first| {
            let mut alternative = values[first].clone();
            for later in &values[first + 1..] {
                alternative.push_str(&format!("(?:{separator}{later})?"));
            }
            alternative
        })
        .collect();
    out.push_str(&format!(
        "(?:{}(?:{}))?",
        regex::escape(operator.first),
        alternatives.join("|")
    ));
    Ok(())
}

/// Parses `varname [":" max-length | "*"]`.
fn parse_varspec(spec: &str) -> Result<VarSpec<'_>, String> {
    let (name, prefix, explode) = if let Some(name) = spec.strip_suffix('*') {
        (name, None, true)
    } else if let Some((name, length)) = spec.split_once(':') {
        let valid = (1..=4).contains(&length.len())
            && !length.starts_with('0')
            && length.bytes().all(|b| b.is_ascii_digit());
        let prefix = length
            .parse::<u16>()
            .ok()
            .filter(|_| valid)
            .ok_or_else(|| format!("`{spec}` has a prefix length other than 1 to 9999"))?;
        (name, Some(prefix), false)
    } else {
        (spec, None, false)
    };
    if !is_varname(name) {
        return Err(format!("`{name}` is not a valid variable name"));
    }
    Ok(VarSpec {
        name,
        prefix,
        explode,
    })
}

/// `varname = varchar *( ["."] varchar )`, `varchar = ALPHA / DIGIT / "_" / pct-encoded`.
fn is_varname(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut i = 0;
    let mut after_varchar = false;
    while i < bytes.len() {
        match bytes[i] {
            b if b.is_ascii_alphanumeric() || b == b'_' => i += 1,
            b'%' if bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                i += 3;
            }
            b'.' if after_varchar && i + 1 < bytes.len() => {
                i += 1;
                after_varchar = false;
                continue;
            }
            _ => return false,
        }
        after_varchar = true;
    }
    after_varchar
}

/// The regex for one defined variable, without the separator before it.
fn variable_regex(operator: &Operator, var: &VarSpec<'_>) -> String {
    let c = operator.allowed;
    if var.explode {
        // A list's items or a map's `key=value` pairs, each joined by the separator; named
        // operators repeat the name (lists) or write each key (maps) before every item.
        let item = if !operator.named {
            format!("{c}*(?:={c}*)?")
        } else if operator.equals_if_empty {
            format!("{c}+={c}*")
        } else {
            format!("{c}+(?:={c}*)?")
        };
        let separator = regex::escape(operator.separator);
        return format!("(?:{item}(?:{separator}{item})*)");
    }
    let value = match var.prefix {
        // A prefix applies to strings only, and keeps at most that many characters, counted
        // before encoding: `{var:1}` of `é` is `%C3%A9`.
        Some(length) => format!("{}{{0,{length}}}", operator.allowed_char),
        // A string, or a list or map joined by commas.
        None => format!("{c}*(?:,{c}*)*"),
    };
    if !operator.named {
        return format!("(?:{value})");
    }
    let name = regex::escape(var.name);
    if operator.equals_if_empty {
        format!("(?:{name}={value})")
    } else {
        format!("(?:{name}(?:={value})?)")
    }
}

#[cfg(test)]
mod tests;
