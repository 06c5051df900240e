//! Glob-style matching as Redis's `stringmatchlen` (KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE).

/// Whether `text` matches `pattern`: `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.
///
/// In time proportional to the pattern's length times the text's, whatever the pattern: every
/// other token matches exactly one byte, so when the text stops matching after a `*` only the last
/// `*` needs to take one more byte (an earlier one could only cover what the last one can). Redis's
/// recursive matcher is exponential on patterns such as `a*a*a*a*...b` (CVE-2022-36021).
pub fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` resumes: the pattern after it, and the text it has covered up to.
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            resume = Some((p, t));
            continue;
        }
        if p == pattern.len() && t == text.len() {
            return true;
        }
        if let (Some(&c), true) = (text.get(t), p < pattern.len()) {
            if let Some(width) = token_matches(&pattern[p..], c, nocase) {
                p += width;
                t += 1;
                continue;
            }
        }
        match resume {
            Some((after_star, covered)) if covered < text.len() => {
                resume = Some((after_star, covered + 1));
                p = after_star;
                t = covered + 1;
            }
            _ => return false,
        }
    }
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Whether the token at the start of `pattern` (not a `*`) matches the byte `c`; if so, how many
/// pattern bytes the token takes.
fn token_matches(pattern: &[u8], c: u8, nocase: bool) -> Option<usize> {
    match pattern[0] {
        b'?' => Some(1),
        b'[' => {
            let mut i = 1;
            let negate = pattern.get(1) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            loop {
                match pattern.get(i) {
                    // An unclosed class ends at the pattern's end, as in Redis.
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
            (matched != negate).then_some(i.min(pattern.len() - 1) + 1)
        }
        b'\\' if pattern.len() >= 2 => eq(pattern[1], c, nocase).then_some(2),
        literal => eq(literal, c, nocase).then_some(1),
    }
}

#[cfg(test)]
mod tests {
    use super::{eq, matches};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The recursive matcher strata had (Redis's shape), as the reference.
    fn reference(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
        match_from(pattern, text, nocase, 0)
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

    #[test]
    fn agrees_with_the_recursive_matcher_on_random_patterns() {
        let mut rng = StdRng::seed_from_u64(7);
        let pattern_bytes = b"ab*?[]^-\\";
        let text_bytes = b"ab-]^\\*";
        for _ in 0..200_000 {
            let pattern: Vec<u8> = (0..rng.random_range(0..9)).map(|_| pattern_bytes[rng.random_range(0..pattern_bytes.len())]).collect();
            let text: Vec<u8> = (0..rng.random_range(0..7)).map(|_| text_bytes[rng.random_range(0..text_bytes.len())]).collect();
            let nocase = rng.random_bool(0.2);
            assert_eq!(
                matches(&pattern, &text, nocase),
                reference(&pattern, &text, nocase),
                "pattern {:?} text {:?}",
                String::from_utf8_lossy(&pattern),
                String::from_utf8_lossy(&text)
            );
        }
    }

    #[test]
    fn nested_stars_take_polynomial_time() {
        let text = vec![b'a'; 40];
        assert!(!matches(b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &text, false));
        let long = vec![b'a'; 100_000];
        assert!(!matches(&b"*a".repeat(1000).into_iter().chain(*b"b").collect::<Vec<u8>>(), &long, false));
    }

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
