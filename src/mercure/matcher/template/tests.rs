//! The URI template matcher against RFC 6570's examples and the cases that broke it.

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
    assert!(
        own.matches("https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1")
    );
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

/// Found by the property `templates_match_their_expansions` once prefixes counted
/// characters: nine prefixed variables were refused as too large to compile.
#[test]
fn three_expressions_of_prefixed_variables_compile() {
    for operator in ["", "+", "#", ".", "/", ";", "?", "&"] {
        let expression = format!("{{{operator}a:5,b:5,c:5}}");
        let source = format!("https://example.com/{}", expression.repeat(3));
        let compiled = CompiledTemplate::compile(&source);
        assert!(compiled.is_ok(), "{source}: {:?}", compiled.err());
    }
    let found = template("https://example.com/{a,a:4,a:5}{a,a,a:4}{a:5,a:3,a}");
    assert!(found.matches("https://example.com/"));
    assert!(found.matches("https://example.com/%C3%A9,x"));
}
