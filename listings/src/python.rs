//! Printing bytes as Python does.

use std::fmt;

/// Shows bytes the way Python's `repr()` shows a `bytes` object.
///
/// The book prints every message in this form, so that a line printed by a
/// Rust step reads exactly like the line `tcp.py` prints for the same bytes:
///
/// ```
/// use listings::py_bytes;
///
/// assert_eq!(py_bytes(b"Hi there, server").to_string(), "b'Hi there, server'");
/// assert_eq!(py_bytes(b"Hi\0\n").to_string(), r"b'Hi\x00\n'");
/// ```
pub fn py_bytes(bytes: &[u8]) -> PyBytes<'_> {
    PyBytes(bytes)
}

/// The [`fmt::Display`] wrapper that [`py_bytes`] returns.
#[derive(Clone, Copy, Debug)]
pub struct PyBytes<'a>(pub &'a [u8]);

impl fmt::Display for PyBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python quotes with ' unless the bytes hold a ' and no ", and then
        // only the chosen quote needs a backslash. (`<[u8]>::escape_ascii`
        // always escapes both quotes, so it differs from Python here.)
        let quote = if self.0.contains(&b'\'') && !self.0.contains(&b'"') {
            b'"'
        } else {
            b'\''
        };
        write!(f, "b{}", char::from(quote))?;
        for &byte in self.0 {
            match byte {
                b'\\' => f.write_str(r"\\")?,
                b'\t' => f.write_str(r"\t")?,
                b'\n' => f.write_str(r"\n")?,
                b'\r' => f.write_str(r"\r")?,
                _ if byte == quote => write!(f, "\\{}", char::from(byte))?,
                b' '..=b'~' => write!(f, "{}", char::from(byte))?,
                _ => write!(f, "\\x{byte:02x}")?,
            }
        }
        write!(f, "{}", char::from(quote))
    }
}

#[cfg(test)]
mod tests {
    use super::py_bytes;

    fn shown(bytes: &[u8]) -> String {
        py_bytes(bytes).to_string()
    }

    #[test]
    fn plain_ascii_is_quoted_as_is() {
        assert_eq!(shown(b"Goodbye, client!"), "b'Goodbye, client!'");
        assert_eq!(shown(b""), "b''");
    }

    #[test]
    fn control_and_high_bytes_are_escaped_in_lowercase_hex() {
        assert_eq!(shown(b"\0\x7f\x80\xff\x1b"), r"b'\x00\x7f\x80\xff\x1b'");
        assert_eq!(shown(b"a\tb\nc\rd\\"), r"b'a\tb\nc\rd\\'");
    }

    #[test]
    fn quotes_follow_pythons_choice() {
        assert_eq!(shown(b"it's"), r#"b"it's""#);
        assert_eq!(shown(b"say \"hi\""), r#"b'say "hi"'"#);
        assert_eq!(shown(b"'\""), r#"b'\'"'"#);
    }
}
