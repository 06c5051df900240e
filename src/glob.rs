//! Glob-style matching as Redis's `stringmatchlen` (KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE).

/// Whether `text` matches `pattern`: `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.
pub fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    match_from(pattern, text, nocase, 0)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn match_from(mut pattern: &[u8], mut text: &[u8], nocase: bool, depth: usize) -> bool {
    // Redis bounds recursion the same way: pathological patterns fail instead of exhausting the stack.
    if depth > 1000 {
        return false;
    }
    while let Some(&p) = pattern.first() {
        match p {
            b'*' => {
                while pattern.len() > 1 && pattern[1] == b'*' {
                    pattern = &pattern[1..];
                }
                if pattern.len() == 1 {
                    return true;
                }
                for start in 0..=text.len() {
                    if match_from(&pattern[1..], &text[start..], nocase, depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if text.is_empty() {
                    return false;
                }
                text = &text[1..];
            }
            b'[' => {
                let Some(&c) = text.first() else {
                    return false;
                };
                let mut i = 1;
                let negate = pattern.get(1) == Some(&b'^');
                if negate {
                    i += 1;
                }
                let mut matched = false;
                loop {
                    match pattern.get(i) {
                        None => {
                            i -= 1;
                            break;
                        }
                        Some(b']') => break,
                        Some(b'\\') if i + 1 < pattern.len() => {
                            i += 1;
                            matched |= eq(pattern[i], c, nocase);
                        }
                        Some(&low) if pattern.get(i + 1) == Some(&b'-') && i + 2 < pattern.len() => {
                            let high = pattern[i + 2];
                            let (mut low, mut high, mut c) = (low, high, c);
                            if low > high {
                                std::mem::swap(&mut low, &mut high);
                            }
                            if nocase {
                                low = low.to_ascii_lowercase();
                                high = high.to_ascii_lowercase();
                                c = c.to_ascii_lowercase();
                            }
                            matched |= (low..=high).contains(&c);
                            i += 2;
                        }
                        Some(&other) => matched |= eq(other, c, nocase),
                    }
                    i += 1;
                }
                if matched == negate {
                    return false;
                }
                pattern = &pattern[i.min(pattern.len() - 1)..];
                text = &text[1..];
            }
            b'\\' if pattern.len() >= 2 => {
                pattern = &pattern[1..];
                match text.first() {
                    Some(&c) if eq(pattern[0], c, nocase) => text = &text[1..],
                    _ => return false,
                }
            }
            _ => match text.first() {
                Some(&c) if eq(p, c, nocase) => text = &text[1..],
                _ => return false,
            },
        }
        pattern = &pattern[1..];
    }
    text.is_empty()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns_like_redis() {
        assert!(matches(b"*", b"anything", false));
        assert!(matches(b"h?llo", b"hello", false));
        assert!(matches(b"h*llo", b"heeeello", false));
        assert!(matches(b"h[ae]llo", b"hallo", false));
        assert!(!matches(b"h[^e]llo", b"hello", false));
        assert!(matches(b"h[a-b]llo", b"hbllo", false));
        assert!(matches(b"h\\*llo", b"h*llo", false));
        assert!(!matches(b"h\\*llo", b"hallo", false));
        assert!(matches(b"MAX*", b"maxclients", true));
        assert!(!matches(b"a", b"ab", false));
        assert!(matches(b"[abc", b"a", false));
    }
}
