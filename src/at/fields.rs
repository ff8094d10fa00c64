//! Splitting information lines (`+NAME: a,"b",c`) into their parts.

/// One comma-separated parameter of an information line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// The text, without its quotes when it was quoted.
    pub text: &'a str,
    /// Whether the modem wrote it between double quotes.
    pub quoted: bool,
}

impl<'a> Field<'a> {
    /// `None` for an omitted parameter (`,,`), otherwise the text.
    pub fn non_empty(self) -> Option<&'a str> {
        (self.quoted || !self.text.is_empty()).then_some(self.text)
    }
}

/// Splits `+NAME: args` into the name (`+NAME`, also `^NAME`) and the
/// trimmed arguments. `None` when the line has no such prefix.
pub(crate) fn name_and_args(line: &str) -> Option<(&str, &str)> {
    let colon = line.find(':')?;
    let name = &line[..colon];
    let mut chars = name.chars();
    let first = chars.next()?;
    if !matches!(first, '+' | '^' | '$' | '%' | '*' | '#') {
        return None;
    }
    if name.len() < 2 || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((name, line[colon + 1..].trim()))
}

/// Splits arguments at commas that are outside double quotes. An
/// unterminated quote gives `Err` with the offset of the opening quote.
pub(crate) fn split(args: &str) -> Result<Vec<Field<'_>>, usize> {
    let mut fields = Vec::new();
    let bytes = args.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        // Skip leading spaces of the field.
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'"' {
            let open = i;
            let close = args[open + 1..].find('"').ok_or(open)? + open + 1;
            fields.push(Field {
                text: &args[open + 1..close],
                quoted: true,
            });
            i = close + 1;
            while i < bytes.len() && bytes[i] != b',' {
                i += 1;
            }
        } else {
            start = start.max(i);
            while i < bytes.len() && bytes[i] != b',' {
                i += 1;
            }
            fields.push(Field {
                text: args[start..i].trim(),
                quoted: false,
            });
        }
        if i >= bytes.len() {
            return Ok(fields);
        }
        i += 1; // the comma
        start = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_commas_stay_inside() {
        let f = split(r#""+44,78",145, x ,"#).unwrap();
        let texts: Vec<_> = f.iter().map(|f| f.text).collect();
        assert_eq!(texts, ["+44,78", "145", "x", ""]);
        assert!(f[0].quoted && !f[1].quoted);
        assert_eq!(f[3].non_empty(), None);
    }

    #[test]
    fn empty_quoted_is_present() {
        let f = split(r#""",5"#).unwrap();
        assert_eq!(f[0].non_empty(), Some(""));
    }

    #[test]
    fn unterminated_quote() {
        assert_eq!(split(r#"1,"abc"#), Err(2));
    }

    #[test]
    fn names() {
        assert_eq!(name_and_args("+CMGS: 12"), Some(("+CMGS", "12")));
        assert_eq!(name_and_args("^RSSI:14"), Some(("^RSSI", "14")));
        assert_eq!(name_and_args("OK"), None);
        assert_eq!(name_and_args("12:30"), None);
    }
}
