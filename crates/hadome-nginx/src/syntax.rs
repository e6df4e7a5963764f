//! The nginx grammar as nginx's own reader (`ngx_conf_read_token`) has it: words, quoted strings
//! with backslash escapes, `#` comments at the start of a word, `;` ends a directive, `{` `}` a
//! block, and `${name}` inside a word is a variable, not a block.
//!
//! The parser keeps an explicit stack instead of recursing, and refuses nesting deeper than
//! [`MAX_DEPTH`], so no input can exhaust the stack; what it allocates is proportional to the
//! input, which [`crate::dump`] bounds.

use std::sync::Arc;

use crate::error::ReadError;
use crate::Place;

/// The deepest nesting of blocks (and includes) hadome reads. Real configurations nest
/// `http` → `server` → `location` → `location` → `if`: a handful.
pub const MAX_DEPTH: usize = 64;

/// One directive: its name, its arguments, where it is, and its block if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The directive's name (`proxy_pass`, `server`, …).
    pub name: String,
    /// Its arguments, unescaped.
    pub args: Vec<Arg>,
    /// The file and line of its name.
    pub place: Place,
    /// The directives in its block, for a block directive (`server { … }`).
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// The argument at `index`, as text.
    pub fn arg(&self, index: usize) -> Option<&str> {
        self.args.get(index).map(|arg| arg.text.as_str())
    }

    /// The directives of its block (none for a simple directive).
    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// The directive as written, roughly: its name and arguments (`proxy_pass http://app-1:3000`).
    pub fn display(&self) -> String {
        let mut text = self.name.clone();
        for arg in &self.args {
            text.push(' ');
            text.push_str(&arg.text);
        }
        text
    }
}

/// One argument of a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The argument's text, quotes removed and escapes resolved.
    pub text: String,
    /// Whether it was written in quotes.
    pub quoted: bool,
}

impl Arg {
    /// Whether the argument uses a variable (`$name` or `${name}`): nginx evaluates it per request.
    pub fn has_variable(&self) -> bool {
        has_variable(&self.text)
    }
}

/// Whether `text` uses an nginx variable (`$name`, `${name}`, `$1`).
pub fn has_variable(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(2).any(|pair| {
        pair[0] == b'$' && (pair[1].is_ascii_alphanumeric() || pair[1] == b'_' || pair[1] == b'{')
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word { text: String, quoted: bool },
    Semicolon,
    Open,
    Close,
}

struct Tokenizer<'a> {
    text: &'a [u8],
    position: usize,
    line: u32,
    file: Arc<str>,
}

impl<'a> Tokenizer<'a> {
    fn place(&self, line: u32) -> Place {
        Place {
            file: self.file.clone(),
            line,
        }
    }

    /// The next token and the line it starts on, or `None` at the end.
    fn next(&mut self) -> Result<Option<(Token, u32)>, ReadError> {
        loop {
            let Some(&byte) = self.text.get(self.position) else {
                return Ok(None);
            };
            match byte {
                b'\n' => {
                    self.line = self.line.saturating_add(1);
                    self.position += 1;
                }
                b' ' | b'\t' | b'\r' => self.position += 1,
                b'#' => {
                    while let Some(&byte) = self.text.get(self.position) {
                        if byte == b'\n' {
                            break;
                        }
                        self.position += 1;
                    }
                }
                b';' => {
                    self.position += 1;
                    return Ok(Some((Token::Semicolon, self.line)));
                }
                b'{' => {
                    self.position += 1;
                    return Ok(Some((Token::Open, self.line)));
                }
                b'}' => {
                    self.position += 1;
                    return Ok(Some((Token::Close, self.line)));
                }
                b'"' | b'\'' => return self.quoted(byte).map(Some),
                _ => return self.word().map(Some),
            }
        }
    }

    fn quoted(&mut self, quote: u8) -> Result<(Token, u32), ReadError> {
        let start_line = self.line;
        self.position += 1;
        let mut bytes = Vec::new();
        loop {
            let Some(&byte) = self.text.get(self.position) else {
                return Err(ReadError::syntax(
                    self.place(start_line),
                    format!("a string opened with `{}` is never closed", quote as char),
                    format!("close the string with `{}`", quote as char),
                ));
            };
            self.position += 1;
            match byte {
                b'\\' => {
                    let Some(&next) = self.text.get(self.position) else {
                        continue;
                    };
                    self.position += 1;
                    if next == b'\n' {
                        self.line = self.line.saturating_add(1);
                    }
                    push_escaped(&mut bytes, next);
                }
                b'\n' => {
                    self.line = self.line.saturating_add(1);
                    bytes.push(byte);
                }
                _ if byte == quote => break,
                _ => bytes.push(byte),
            }
        }
        // nginx wants a space, `;` or `{` right after a closing quote.
        match self.text.get(self.position) {
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{') => {}
            Some(&other) => {
                return Err(ReadError::syntax(
                    self.place(self.line),
                    format!(
                        "unexpected `{}` right after a quoted string",
                        String::from_utf8_lossy(&[other])
                    ),
                    "put a space, `;` or `{` after the closing quote",
                ))
            }
        }
        Ok((
            Token::Word {
                text: String::from_utf8_lossy(&bytes).into_owned(),
                quoted: true,
            },
            start_line,
        ))
    }

    fn word(&mut self) -> Result<(Token, u32), ReadError> {
        let start_line = self.line;
        let mut bytes = Vec::new();
        let mut in_variable_braces = false;
        while let Some(&byte) = self.text.get(self.position) {
            match byte {
                b'\\' => {
                    self.position += 1;
                    let Some(&next) = self.text.get(self.position) else {
                        bytes.push(b'\\');
                        break;
                    };
                    self.position += 1;
                    if next == b'\n' {
                        self.line = self.line.saturating_add(1);
                    }
                    push_escaped(&mut bytes, next);
                    continue;
                }
                b'{' if bytes.last() == Some(&b'$') => in_variable_braces = true,
                b'}' if in_variable_braces => in_variable_braces = false,
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b'}' => break,
                _ => {}
            }
            bytes.push(byte);
            self.position += 1;
        }
        if in_variable_braces {
            return Err(ReadError::syntax(
                self.place(start_line),
                format!(
                    "the variable in `{}` opens `${{` and never closes it",
                    String::from_utf8_lossy(&bytes)
                ),
                "close the variable name with `}`",
            ));
        }
        Ok((
            Token::Word {
                text: String::from_utf8_lossy(&bytes).into_owned(),
                quoted: false,
            },
            start_line,
        ))
    }
}

/// nginx resolves `\"`, `\'`, `\\`, `\t`, `\r` and `\n`; any other escaped byte keeps its backslash.
fn push_escaped(bytes: &mut Vec<u8>, next: u8) {
    match next {
        b'"' | b'\'' | b'\\' => bytes.push(next),
        b't' => bytes.push(b'\t'),
        b'r' => bytes.push(b'\r'),
        b'n' => bytes.push(b'\n'),
        _ => {
            bytes.push(b'\\');
            bytes.push(next);
        }
    }
}

struct Frame {
    /// The block directive being filled (`None` for the file's top level).
    directive: Option<Directive>,
    children: Vec<Directive>,
}

/// Parses one file's text into its directives. `first_depth` is how deep the file is included,
/// so that includes count towards [`MAX_DEPTH`].
pub fn parse_file(file: Arc<str>, text: &str) -> Result<Vec<Directive>, ReadError> {
    let mut tokenizer = Tokenizer {
        text: text.as_bytes(),
        position: 0,
        line: 1,
        file: file.clone(),
    };
    let mut stack = vec![Frame {
        directive: None,
        children: Vec::new(),
    }];
    // The directive being read: its name, place and arguments so far.
    let mut pending: Option<(String, Place, Vec<Arg>)> = None;
    while let Some((token, line)) = tokenizer.next()? {
        let place = tokenizer.place(line);
        match token {
            Token::Word { text, quoted } => match &mut pending {
                Some((_, _, args)) => args.push(Arg { text, quoted }),
                None => pending = Some((text, place, Vec::new())),
            },
            Token::Semicolon => {
                let Some((name, place, args)) = pending.take() else {
                    return Err(ReadError::syntax(
                        place,
                        "unexpected `;`: no directive before it",
                        "remove the stray `;`",
                    ));
                };
                let directive = Directive {
                    name,
                    args,
                    place,
                    block: None,
                };
                // The stack always holds the top-level frame.
                if let Some(frame) = stack.last_mut() {
                    frame.children.push(directive);
                }
            }
            Token::Open => {
                let Some((name, place, args)) = pending.take() else {
                    return Err(ReadError::syntax(
                        place,
                        "unexpected `{`: a block needs a directive name before it",
                        "name the block (`server {`, `location / {`) or remove the `{`",
                    ));
                };
                if name.ends_with("_by_lua_block") {
                    return Err(ReadError::syntax(
                        place,
                        format!("`{name}` holds Lua code, which hadome does not read"),
                        "move the Lua code to a file (`*_by_lua_file`) so the configuration is nginx syntax only",
                    ));
                }
                if stack.len() > MAX_DEPTH {
                    return Err(ReadError::syntax(
                        place,
                        format!("`{name}` opens a block nested more than {MAX_DEPTH} deep"),
                        "nginx configurations nest a handful of blocks; check for a missing `}`",
                    ));
                }
                stack.push(Frame {
                    directive: Some(Directive {
                        name,
                        args,
                        place,
                        block: None,
                    }),
                    children: Vec::new(),
                });
            }
            Token::Close => {
                if let Some((name, pending_place, _)) = pending.take() {
                    return Err(ReadError::syntax(
                        pending_place,
                        format!("`{name}` is not ended with `;` before `}}`"),
                        format!("end `{name}` with `;`"),
                    ));
                }
                if stack.len() == 1 {
                    return Err(ReadError::syntax(
                        place,
                        "unexpected `}`: no block is open",
                        "remove the stray `}` or add the block it closes",
                    ));
                }
                // Checked just above: more than the top-level frame is on the stack.
                let Some(frame) = stack.pop() else { break };
                if let (Some(mut directive), Some(parent)) = (frame.directive, stack.last_mut()) {
                    directive.block = Some(frame.children);
                    parent.children.push(directive);
                }
            }
        }
    }
    if let Some((name, place, _)) = pending {
        return Err(ReadError::syntax(
            place,
            format!("the file ends inside `{name}`, which has no `;`"),
            format!("end `{name}` with `;`"),
        ));
    }
    if stack.len() > 1 {
        let open = stack
            .last()
            .and_then(|frame| frame.directive.as_ref())
            .map(|directive| (directive.name.clone(), directive.place.clone()));
        if let Some((name, place)) = open {
            return Err(ReadError::syntax(
                place,
                format!("the block of `{name}` is never closed: the file ends first"),
                "close the block with `}`",
            ));
        }
    }
    let top = stack.pop().map(|frame| frame.children).unwrap_or_default();
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Directive>, ReadError> {
        parse_file(Arc::from("t.conf"), text)
    }

    #[test]
    fn quotes_escapes_comments_and_variable_braces() {
        let directives = parse(
            "# top\nset $a \"x \\\"y\\\" z\"; # trailing\nreturn 200 'it\\'s';\nset $b ${host}x#y;\n",
        );
        let directives = directives.unwrap_or_default();
        assert_eq!(directives.len(), 3, "{directives:?}");
        assert_eq!(directives[0].arg(1), Some("x \"y\" z"));
        assert_eq!(directives[0].place.line, 2);
        assert_eq!(directives[2].arg(1), Some("${host}x#y"));
        assert!(directives[2].args[1].has_variable());
        assert!(!directives[0].args[1].has_variable());
    }

    #[test]
    fn nested_blocks_keep_lines() {
        let directives =
            parse("http {\n server {\n  location / {\n   proxy_pass http://a;\n  }\n }\n}\n")
                .unwrap_or_default();
        let location = &directives[0].children()[0].children()[0];
        assert_eq!(location.name, "location");
        assert_eq!(location.children()[0].place.line, 4);
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let cases = [
            ("http {\n  listen 80\n}\n", 2, "is not ended with `;`"),
            ("http {\n", 1, "never closed"),
            ("}\n", 1, "no block is open"),
            ("a \"b\n", 1, "never closed"),
            ("a \"b\"c;\n", 1, "right after a quoted string"),
            ("\n\ncontent_by_lua_block { ngx.say(1) }\n", 3, "Lua"),
            ("a ${b;\n", 1, "never closes"),
            ("; \n", 1, "no directive before it"),
        ];
        for (text, line, words) in cases {
            match parse(text) {
                Err(ReadError::Syntax { place, message, .. }) => {
                    assert_eq!(place.line, line, "{text:?}: {message}");
                    assert!(message.contains(words), "{text:?}: {message}");
                }
                other => panic!("{text:?}: expected a syntax error, got {other:?}"),
            }
        }
    }

    #[test]
    fn depth_is_capped_not_recursed() {
        let deep = "a{".repeat(100_000);
        match parse(&deep) {
            Err(ReadError::Syntax { message, .. }) => assert!(message.contains("nested more than")),
            other => panic!("expected the depth refusal, got {other:?}"),
        }
    }
}
