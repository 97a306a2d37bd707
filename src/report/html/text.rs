//! Words on the page: text escaped for HTML, and counts in words.

use std::fmt::{self, Display, Write};

/// Text escaped for HTML element content and double-quoted attribute values. Control
/// characters other than newline and tab (a replay's stderr can hold anything) are written
/// as `\xNN`, since HTML does not allow them raw and most fonts have no glyph for them.
pub(super) struct Esc<'a>(pub(super) &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                '\n' | '\t' => f.write_char(c)?,
                '\u{0}'..='\u{1f}' | '\u{7f}' => write!(f, "\\x{:02x}", c as u32)?,
                _ => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `n` and the noun, singular or plural.
pub(super) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
