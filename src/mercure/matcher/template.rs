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

use super::url_pattern::bounded_regex;

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
        let regex = bounded_regex(&regex_text).map_err(|err| match err {
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
mod tests {
    use super::*;

    fn template(source: &str) -> CompiledTemplate {
        CompiledTemplate::compile(source).unwrap()
    }

    /// Every expansion example of RFC 6570 section 3.2 (levels 1 to 4), with the variables of
    /// section 3.2.1, must match its template.
    #[test]
    fn rfc6570_section_3_2_expansions_match() {
        let cases = [
            // 3.2.2 Simple String Expansion
            ("{var}", "value"),
            ("{hello}", "Hello%20World%21"),
            ("{half}", "50%25"),
            ("O{empty}X", "OX"),
            ("O{undef}X", "OX"),
            ("{x,y}", "1024,768"),
            ("{x,hello,y}", "1024,Hello%20World%21,768"),
            ("?{x,empty}", "?1024,"),
            ("?{x,undef}", "?1024"),
            ("?{undef,y}", "?768"),
            ("{var:3}", "val"),
            ("{var:30}", "value"),
            ("{list}", "red,green,blue"),
            ("{list*}", "red,green,blue"),
            ("{keys}", "semi,%3B,dot,.,comma,%2C"),
            ("{keys*}", "semi=%3B,dot=.,comma=%2C"),
            // 3.2.3 Reserved Expansion
            ("{+var}", "value"),
            ("{+hello}", "Hello%20World!"),
            ("{+half}", "50%25"),
            ("{base}index", "http%3A%2F%2Fexample.com%2Fhome%2Findex"),
            ("{+base}index", "http://example.com/home/index"),
            ("O{+empty}X", "OX"),
            ("O{+undef}X", "OX"),
            ("{+path}/here", "/foo/bar/here"),
            ("here?ref={+path}", "here?ref=/foo/bar"),
            ("up{+path}{var}/here", "up/foo/barvalue/here"),
            ("{+x,hello,y}", "1024,Hello%20World!,768"),
            ("{+path,x}/here", "/foo/bar,1024/here"),
            ("{+path:6}/here", "/foo/b/here"),
            ("{+list}", "red,green,blue"),
            ("{+list*}", "red,green,blue"),
            ("{+keys}", "semi,;,dot,.,comma,,"),
            ("{+keys*}", "semi=;,dot=.,comma=,"),
            // 3.2.4 Fragment Expansion
            ("{#var}", "#value"),
            ("{#hello}", "#Hello%20World!"),
            ("{#half}", "#50%25"),
            ("foo{#empty}", "foo#"),
            ("foo{#undef}", "foo"),
            ("{#x,hello,y}", "#1024,Hello%20World!,768"),
            ("{#path,x}/here", "#/foo/bar,1024/here"),
            ("{#path:6}/here", "#/foo/b/here"),
            ("{#list}", "#red,green,blue"),
            ("{#list*}", "#red,green,blue"),
            ("{#keys}", "#semi,;,dot,.,comma,,"),
            ("{#keys*}", "#semi=;,dot=.,comma=,"),
            // 3.2.5 Label Expansion with Dot-Prefix
            ("{.who}", ".fred"),
            ("{.who,who}", ".fred.fred"),
            ("{.half,who}", ".50%25.fred"),
            ("www{.dom*}", "www.example.com"),
            ("X{.var}", "X.value"),
            ("X{.empty}", "X."),
            ("X{.undef}", "X"),
            ("X{.var:3}", "X.val"),
            ("X{.list}", "X.red,green,blue"),
            ("X{.list*}", "X.red.green.blue"),
            ("X{.keys}", "X.semi,%3B,dot,.,comma,%2C"),
            ("X{.keys*}", "X.semi=%3B.dot=..comma=%2C"),
            ("X{.empty_keys}", "X"),
            ("X{.empty_keys*}", "X"),
            // 3.2.6 Path Segment Expansion
            ("{/who}", "/fred"),
            ("{/who,who}", "/fred/fred"),
            ("{/half,who}", "/50%25/fred"),
            ("{/who,dub}", "/fred/me%2Ftoo"),
            ("{/var}", "/value"),
            ("{/var,empty}", "/value/"),
            ("{/var,undef}", "/value"),
            ("{/var,x}/here", "/value/1024/here"),
            ("{/var:1,var}", "/v/value"),
            ("{/list}", "/red,green,blue"),
            ("{/list*}", "/red/green/blue"),
            ("{/list*,path:4}", "/red/green/blue/%2Ffoo"),
            ("{/keys}", "/semi,%3B,dot,.,comma,%2C"),
            ("{/keys*}", "/semi=%3B/dot=./comma=%2C"),
            // 3.2.7 Path-Style Parameter Expansion
            ("{;who}", ";who=fred"),
            ("{;half}", ";half=50%25"),
            ("{;empty}", ";empty"),
            ("{;v,empty,who}", ";v=6;empty;who=fred"),
            ("{;v,bar,who}", ";v=6;who=fred"),
            ("{;x,y}", ";x=1024;y=768"),
            ("{;x,y,empty}", ";x=1024;y=768;empty"),
            ("{;x,y,undef}", ";x=1024;y=768"),
            ("{;hello:5}", ";hello=Hello"),
            ("{;list}", ";list=red,green,blue"),
            ("{;list*}", ";list=red;list=green;list=blue"),
            ("{;keys}", ";keys=semi,%3B,dot,.,comma,%2C"),
            ("{;keys*}", ";semi=%3B;dot=.;comma=%2C"),
            // 3.2.8 Form-Style Query Expansion
            ("{?who}", "?who=fred"),
            ("{?half}", "?half=50%25"),
            ("{?x,y}", "?x=1024&y=768"),
            ("{?x,y,empty}", "?x=1024&y=768&empty="),
            ("{?x,y,undef}", "?x=1024&y=768"),
            ("{?var:3}", "?var=val"),
            ("{?list}", "?list=red,green,blue"),
            ("{?list*}", "?list=red&list=green&list=blue"),
            ("{?keys}", "?keys=semi,%3B,dot,.,comma,%2C"),
            ("{?keys*}", "?semi=%3B&dot=.&comma=%2C"),
            // 3.2.9 Form-Style Query Continuation
            ("{&who}", "&who=fred"),
            ("{&half}", "&half=50%25"),
            ("?fixed=yes{&x}", "?fixed=yes&x=1024"),
            ("{&x,y,empty}", "&x=1024&y=768&empty="),
            ("{&var:3}", "&var=val"),
            ("{&list}", "&list=red,green,blue"),
            ("{&list*}", "&list=red&list=green&list=blue"),
            ("{&keys}", "&keys=semi,%3B,dot,.,comma,%2C"),
            ("{&keys*}", "&semi=%3B&dot=.&comma=%2C"),
        ];
        for (source, expansion) in cases {
            assert!(
                template(source).matches(expansion),
                "{source} should match {expansion}"
            );
        }
    }

    #[test]
    fn strings_no_expansion_produces_do_not_match() {
        let cases = [
            ("{var}", "a/b"),            // `/` would be encoded
            ("{var}", "Hello World"),    // so would a space
            ("{var:3}", "value"),        // longer than the prefix
            ("{/who}", "fred"),          // the operator's first character is missing
            ("{?x,y}", "?y=768&x=1024"), // variables keep their order
            ("{?x}", "?y=1"),            // another name
            ("{;who}", ";whom=fred"),
            ("X{.var}", "Xvalue"),
            ("{+path}/here", "/foo/bar/there"),
            ("{var}", "café"), // an expansion percent-encodes non-ASCII
        ];
        for (source, topic) in cases {
            assert!(
                !template(source).matches(topic),
                "{source} should not match {topic}"
            );
        }
    }

    #[test]
    fn pre_1_0_examples_match() {
        let books = template("https://example.com/books/{id}");
        assert!(books.matches("https://example.com/books/1"));
        assert!(!books.matches("https://example.com/books/1/reviews"));
        assert!(!books.matches("https://example.com/users/1"));

        let own = template("https://example.com/users/foo/{?topic}");
        assert!(own
            .matches("https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1"));
        assert!(own.matches("https://example.com/users/foo/"));
        assert!(!own.matches("https://example.com/users/bar/?topic=x"));
    }

    #[test]
    fn a_template_matches_itself_as_a_selector() {
        let t = template("https://example.com/{selector}");
        assert!(t.matches("https://example.com/{selector}"));
        assert!(t.matches("https://example.com/x"));
    }

    /// Found by the property `templates_match_their_expansions`: a prefix counts characters
    /// before encoding, so `{var:1}` of `¡` is two triplets and `{+var:2}` of `é☃` five.
    #[test]
    fn a_prefix_counts_characters_not_encoded_triplets() {
        assert!(template("/{;a:1}").matches("/;a=%C2%A1"));
        assert!(template("/{var:1}").matches("/%F0%9F%A6%80"));
        assert!(template("/{+var:2}").matches("/%C3%A9%E2%98%83"));
        assert!(!template("/{var:1}").matches("/%C3%A9%C3%A9"));
        assert!(!template("/{var:1}").matches("/a%C3%A9"));
    }

    #[test]
    fn literal_text_is_not_a_regex() {
        let t = template("https://example.com/a.b/{id}");
        assert!(t.matches("https://example.com/a.b/1"));
        assert!(!t.matches("https://example.com/aXb/1"));
        let t = template("(x+)+y/{id}");
        assert!(t.matches("(x+)+y/1"));
        assert!(!t.matches("xxy/1"));
    }

    #[test]
    fn malformed_templates_are_rejected() {
        for bad in [
            "{unclosed",
            "closes}",
            "{a{b}}",
            "{}",
            "{=x}",
            "{|x}",
            "{x:0}",
            "{x:10000}",
            "{x:abc}",
            "{x-y}",
            "{.x.}",
            "{x,}",
        ] {
            assert!(
                CompiledTemplate::compile(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn template_compile_cost_is_bounded() {
        let many = format!(
            "{{{}}}",
            (0..=MAX_VARIABLES_PER_EXPRESSION)
                .map(|i| format!("v{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(CompiledTemplate::compile(&many).is_err());
        let huge = "{a:9999}".repeat(40);
        assert!(CompiledTemplate::compile(&huge).is_err());
    }
}
