//! ACL rules applied to a user or a selector, as ACL SETUSER, `user` config lines and the ACL file
//! give them (Redis's `ACLSetUser` and `ACLSetSelector`): one rule at a time, each either understood
//! or refused with Redis's reason.

use std::fmt;

use super::super::acl;
use super::super::table::registry;
use crate::resp::split_inline_args;
use crate::state::acl::user::{hash_password, is_password_hash, Sanitize, READ, WRITE};
use crate::state::acl::{KeyPattern, Selector, User};

/// Why a rule was refused; `Display` is Redis's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    KeyPatternAfterAllKeys,
    ChannelAfterAllChannels,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleError::Syntax => "Syntax error",
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::KeyPatternAfterAllKeys => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAllChannels => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSubcommand => "Allowing first-arg of a subcommand is not supported",
        })
    }
}

/// Applies one user rule; `all_channels` is `acl-pubsub-default` (for `reset` and new selectors).
pub fn apply_user_rule(user: &mut User, rule: &[u8], all_channels: bool) -> Result<(), RuleError> {
    let is = |word: &str| rule.eq_ignore_ascii_case(word.as_bytes());
    match rule {
        [] => {}
        _ if is("on") => user.enabled = true,
        _ if is("off") => user.enabled = false,
        _ if is("skip-sanitize-payload") => user.sanitize = Some(Sanitize::Skip),
        _ if is("sanitize-payload") => user.sanitize = Some(Sanitize::Always),
        _ if is("nopass") => {
            user.nopass = true;
            user.passwords.clear();
        }
        _ if is("resetpass") => {
            user.nopass = false;
            user.passwords.clear();
        }
        [b'>', password @ ..] => add_password(user, hash_password(password)),
        [b'#', hash @ ..] => add_password(user, checked_hash(hash)?),
        [b'<', password @ ..] => remove_password(user, &hash_password(password))?,
        [b'!', hash @ ..] => remove_password(user, &checked_hash(hash)?)?,
        [b'(', inner @ .., b')'] => {
            let mut selector = Selector::new(all_channels);
            for rule in split_rules(inner)? {
                apply_selector_rule(&mut selector, &rule)?;
            }
            user.selectors.push(selector);
        }
        _ if is("clearselectors") => user.selectors.truncate(1),
        _ if is("reset") => {
            user.nopass = false;
            user.passwords.clear();
            let root = user.root();
            root.all_keys = false;
            root.keys.clear();
            root.all_channels = all_channels;
            root.channels.clear();
            user.enabled = false;
            user.sanitize = Some(Sanitize::Always);
            user.selectors.truncate(1);
            user.root().set_all_commands(registry().all.len(), false);
        }
        _ => apply_selector_rule(user.root(), rule)?,
    }
    Ok(())
}

fn add_password(user: &mut User, hash: String) {
    if !user.passwords.contains(&hash) {
        user.passwords.push(hash);
    }
    user.nopass = false;
}

fn remove_password(user: &mut User, hash: &str) -> Result<(), RuleError> {
    let at = user.passwords.iter().position(|known| known == hash).ok_or(RuleError::NoSuchPassword)?;
    user.passwords.remove(at);
    Ok(())
}

fn checked_hash(hash: &[u8]) -> Result<String, RuleError> {
    if is_password_hash(hash) {
        Ok(String::from_utf8_lossy(hash).into_owned())
    } else {
        Err(RuleError::BadHash)
    }
}

/// The rules inside a selector's parentheses, split as Redis's `sdssplitargs` splits them.
fn split_rules(text: &[u8]) -> Result<Vec<Vec<u8>>, RuleError> {
    let mut scratch = Vec::new();
    let mut spans = Vec::new();
    split_inline_args(text, &mut scratch, &mut spans).map_err(|_| RuleError::Syntax)?;
    Ok(spans.into_iter().map(|span| scratch[span].to_vec()).collect())
}

/// Applies one selector rule: commands, categories, key and channel patterns.
pub fn apply_selector_rule(selector: &mut Selector, rule: &[u8]) -> Result<(), RuleError> {
    let is = |word: &str| rule.eq_ignore_ascii_case(word.as_bytes());
    let count = registry().all.len();
    if is("allkeys") || rule == b"~*" {
        selector.all_keys = true;
        selector.keys.clear();
    } else if is("resetkeys") {
        selector.all_keys = false;
        selector.keys.clear();
    } else if is("allchannels") || rule == b"&*" {
        selector.all_channels = true;
        selector.channels.clear();
    } else if is("resetchannels") {
        selector.all_channels = false;
        selector.channels.clear();
    } else if is("allcommands") || is("+@all") {
        selector.set_all_commands(count, true);
    } else if is("nocommands") || is("-@all") {
        selector.set_all_commands(count, false);
    } else if let [b'~' | b'%', ..] = rule {
        add_key_pattern(selector, rule)?;
    } else if let [b'&', channel @ ..] = rule {
        if selector.all_channels {
            return Err(RuleError::ChannelAfterAllChannels);
        }
        if has_spaces(channel) {
            return Err(RuleError::Syntax);
        }
        if !selector.channels.iter().any(|known| known == channel) {
            selector.channels.push(channel.to_vec());
        }
    } else if let [sign @ (b'+' | b'-'), b'@', category @ ..] = rule {
        let bit = acl::by_name(category).ok_or(RuleError::UnknownCommand)?;
        set_category(selector, bit, *sign == b'+');
    } else if let [b'+', command @ ..] = rule {
        allow_command(selector, command)?;
    } else if let [b'-', command @ ..] = rule {
        let (index, _) = registry().find(command).ok_or(RuleError::UnknownCommand)?;
        change_permission(selector, index, false);
    } else {
        return Err(RuleError::Syntax);
    }
    Ok(())
}

/// `~pattern`, or `%R~`, `%W~`, `%RW~` with the permissions given.
fn add_key_pattern(selector: &mut Selector, rule: &[u8]) -> Result<(), RuleError> {
    if selector.all_keys {
        return Err(RuleError::KeyPatternAfterAllKeys);
    }
    let (permissions, pattern) = match rule {
        [b'%', rest @ ..] => {
            let mut permissions = 0;
            let mut at = 0;
            while let Some(&c) = rest.get(at) {
                at += 1;
                match c.to_ascii_uppercase() {
                    b'R' if permissions & READ == 0 => permissions |= READ,
                    b'W' if permissions & WRITE == 0 => permissions |= WRITE,
                    b'~' => break,
                    _ => return Err(RuleError::Syntax),
                }
            }
            (permissions, &rest[at..])
        }
        _ => (READ | WRITE, &rule[1..]),
    };
    if has_spaces(pattern) {
        return Err(RuleError::Syntax);
    }
    match selector.keys.iter_mut().find(|known| known.pattern == pattern) {
        Some(known) => known.permissions |= permissions,
        None => selector.keys.push(KeyPattern::new(pattern, permissions)),
    }
    selector.all_keys = false;
    Ok(())
}

/// `+command`, `+container|sub`, or `+command|first-arg` for a command without subcommands.
fn allow_command(selector: &mut Selector, name: &[u8]) -> Result<(), RuleError> {
    let registry = registry();
    let Some(bar) = name.iter().rposition(|&c| c == b'|') else {
        let (index, _) = registry.find(name).ok_or(RuleError::UnknownCommand)?;
        change_permission(selector, index, true);
        return Ok(());
    };
    let (command, first_arg) = (&name[..bar], &name[bar + 1..]);
    let (index, found) = registry.find(command).ok_or(RuleError::UnknownCommand)?;
    if registry.parent(index).is_some() {
        return Err(RuleError::FirstArgOfSubcommand);
    }
    if first_arg.is_empty() {
        return Err(RuleError::Syntax);
    }
    if found.subcommands.is_empty() {
        let allowed = selector.first_args.entry(index).or_default();
        if !allowed.iter().any(|known| known.eq_ignore_ascii_case(first_arg)) {
            allowed.push(first_arg.to_vec());
        }
    } else {
        let (sub, _) = registry.find(name).ok_or(RuleError::UnknownCommand)?;
        change_permission(selector, sub, true);
    }
    Ok(())
}

/// Allows or denies one command, and all its subcommands with it (Redis's `ACLChangeSelectorPerm`).
pub fn change_permission(selector: &mut Selector, index: usize, allowed: bool) {
    selector.set_command(index, allowed);
    selector.first_args.remove(&index);
    for sub in registry().subcommands_of(index) {
        selector.set_command(sub, allowed);
    }
}

/// `+@category` or `-@category`: every command and subcommand in it (a container in it takes its
/// subcommands along).
pub fn set_category(selector: &mut Selector, category: u32, allowed: bool) {
    for (index, command) in registry().all.iter().enumerate() {
        if command.acl_categories() & category != 0 {
            change_permission(selector, index, allowed);
        }
    }
}

/// Whether a name or pattern holds spaces or NULs, which ACL refuses (Redis's `ACLStringHasSpaces`).
pub fn has_spaces(text: &[u8]) -> bool {
    text.iter().any(|&c| c.is_ascii_whitespace() || c == 0 || c == 0x0b)
}

/// Joins rules split across arguments into whole selectors: `(~a* +get)` given as `(~a*` and
/// `+get)` becomes one rule, as Redis is lenient. `Err` carries the index of an unclosed `(`.
pub fn merge_selector_args<'a>(rules: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<Vec<u8>>, usize> {
    let mut merged = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (at, rule) in rules.into_iter().enumerate() {
        match open.as_mut() {
            Some((_, selector)) => {
                selector.push(b' ');
                selector.extend_from_slice(rule);
                if rule.last() == Some(&b')') {
                    merged.extend(open.take().map(|(_, selector)| selector));
                }
            }
            None if rule.first() == Some(&b'(') && rule.last() != Some(&b')') => open = Some((at, rule.to_vec())),
            None => merged.push(rule.to_vec()),
        }
    }
    match open {
        Some((at, _)) => Err(at),
        None => Ok(merged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_with(rules: &[&str]) -> Result<User, RuleError> {
        let mut user = User::new(b"u", false);
        for rule in rules {
            apply_user_rule(&mut user, rule.as_bytes(), false)?;
        }
        Ok(user)
    }

    fn allows(user: &User, name: &str) -> bool {
        user.selectors[0].allows_command(registry().find(name.as_bytes()).unwrap().0)
    }

    #[test]
    fn commands_categories_and_subcommands() {
        let user = user_with(&["+@hash", "-hdel", "+get", "+config|get"]).unwrap();
        assert!(allows(&user, "hset") && !allows(&user, "hdel") && allows(&user, "get"));
        assert!(allows(&user, "config|get") && !allows(&user, "config|set"));
        let user = user_with(&["+config", "-config|set"]).unwrap();
        assert!(allows(&user, "config|get") && !allows(&user, "config|set"), "a container takes its subcommands along");
        let user = user_with(&["+select|0"]).unwrap();
        let (select, _) = registry().find(b"select").unwrap();
        assert!(!allows(&user, "select") && user.selectors[0].allows_first_arg(select, b"0"));
    }

    #[test]
    fn refused_rules_name_redis_reasons() {
        assert_eq!(user_with(&["foo"]).unwrap_err(), RuleError::Syntax);
        assert_eq!(user_with(&["+nosuch"]).unwrap_err(), RuleError::UnknownCommand);
        assert_eq!(user_with(&["+@nosuch"]).unwrap_err(), RuleError::UnknownCommand);
        assert_eq!(user_with(&["-select|0"]).unwrap_err(), RuleError::UnknownCommand);
        assert_eq!(user_with(&["allkeys", "~a"]).unwrap_err(), RuleError::KeyPatternAfterAllKeys);
        assert!(user_with(&["~a", "~*"]).is_ok());
        assert_eq!(user_with(&["&*", "&b"]).unwrap_err(), RuleError::ChannelAfterAllChannels);
        assert_eq!(user_with(&["<nopw"]).unwrap_err(), RuleError::NoSuchPassword);
        assert_eq!(user_with(&["#abc"]).unwrap_err(), RuleError::BadHash);
        assert_eq!(user_with(&["+config|get|x"]).unwrap_err(), RuleError::FirstArgOfSubcommand);
        assert_eq!(user_with(&["%X~a"]).unwrap_err(), RuleError::Syntax);
        assert_eq!(user_with(&["(+get ~a"]).unwrap_err(), RuleError::Syntax, "a bare '(' rule is not a selector");
    }

    #[test]
    fn key_patterns_merge_permissions() {
        let user = user_with(&["%R~a*", "%W~a*", "%RW~b"]).unwrap();
        let keys = &user.selectors[0].keys;
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|k| k.permissions == READ | WRITE));
    }

    #[test]
    fn selectors_may_be_split_across_arguments() {
        let merged = merge_selector_args([&b"on"[..], b"(~a*", b"+get)", b"(+set)"]).unwrap();
        assert_eq!(merged, [b"on".to_vec(), b"(~a* +get)".to_vec(), b"(+set)".to_vec()]);
        assert_eq!(merge_selector_args([&b"on"[..], b"(~a*"]), Err(1));
        let user = user_with(&["(~x* +set)"]).unwrap();
        assert_eq!(user.selectors.len(), 2);
        assert!(user.selectors[1].allows_key(b"x1", READ | WRITE));
    }

    #[test]
    fn default_user_is_unrestricted_and_reset_takes_everything_away() {
        let mut user = User::initial_default(registry().all.len(), b"");
        assert!(user.unrestricted() && user.enabled && user.nopass);
        apply_user_rule(&mut user, b"reset", false).unwrap();
        assert!(!user.enabled && !user.nopass && !user.unrestricted());
        assert!(!user.selectors[0].allows_command(0));
    }
}
