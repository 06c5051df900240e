//! An ACL user and its selectors, as Redis 7.0 keeps them (`acl.c`): the data and the checks that
//! need no command table. Rules are applied and described by `commands::access`, which knows the
//! table the command bitmaps index.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::glob;

/// Read permission on a key (`%R~`), or what a key spec flagged `access` needs.
pub const READ: u8 = 1;
/// Write permission on a key (`%W~`), or what a key spec flagged `insert`, `delete` or `update` needs.
pub const WRITE: u8 = 2;

/// A key pattern and the permissions it grants (`~` is both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub permissions: u8,
    /// The pattern is `prefix*` with nothing else special: matched by comparing the prefix, the
    /// common shape of ACL key patterns (`~app:*`), without the glob matcher.
    literal_prefix: bool,
}

impl KeyPattern {
    pub fn new(pattern: &[u8], permissions: u8) -> KeyPattern {
        let literal_prefix =
            pattern.split_last().is_some_and(|(&last, prefix)| last == b'*' && !prefix.iter().any(|c| b"*?[]\\".contains(c)));
        KeyPattern { pattern: pattern.to_vec(), permissions, literal_prefix }
    }

    pub fn matches(&self, key: &[u8]) -> bool {
        if self.literal_prefix {
            key.starts_with(&self.pattern[..self.pattern.len() - 1])
        } else {
            glob::matches(&self.pattern, key, false)
        }
    }
}

/// What a user may run and touch: the root selector, or one in parentheses. A command passes if any
/// of the user's selectors passes it whole (command, keys and channels).
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// One bit per command-table index (subcommands included).
    pub commands: Vec<u64>,
    /// Set by `+@all`/`allcommands` and cleared only by `-@all`/`nocommands`: the rules are described
    /// as `+@all` minus exceptions (Redis's reserved command bit).
    pub future_commands: bool,
    /// Every command is allowed: set by `+@all`, cleared by removing any command.
    pub all_commands: bool,
    /// First arguments allowed for a command whose bit is clear (`+select|0`), by command index, in
    /// the order given.
    pub first_args: BTreeMap<usize, Vec<Vec<u8>>>,
    pub keys: Vec<KeyPattern>,
    pub all_keys: bool,
    pub channels: Vec<Vec<u8>>,
    pub all_channels: bool,
}

impl Selector {
    /// An empty selector; `all_channels` per `acl-pubsub-default`.
    pub fn new(all_channels: bool) -> Selector {
        Selector { all_channels, ..Selector::default() }
    }

    pub fn allows_command(&self, index: usize) -> bool {
        self.all_commands || self.commands.get(index / 64).is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    /// Sets or clears one command's bit; clearing one ends `all_commands`.
    pub fn set_command(&mut self, index: usize, allowed: bool) {
        if self.commands.len() <= index / 64 {
            self.commands.resize(index / 64 + 1, 0);
        }
        if allowed {
            self.commands[index / 64] |= 1 << (index % 64);
        } else {
            self.commands[index / 64] &= !(1 << (index % 64));
            self.all_commands = false;
        }
    }

    /// Sets every bit (`+@all`) or none (`-@all`), for a table of `count` commands.
    pub fn set_all_commands(&mut self, count: usize, allowed: bool) {
        self.commands = vec![if allowed { u64::MAX } else { 0 }; count.div_ceil(64)];
        self.all_commands = allowed;
        self.future_commands = allowed;
        self.first_args.clear();
    }

    /// Whether `first` is an allowed first argument of the command at `index` (compared ignoring case).
    pub fn allows_first_arg(&self, index: usize, first: &[u8]) -> bool {
        self.first_args.get(&index).is_some_and(|allowed| allowed.iter().any(|arg| arg.eq_ignore_ascii_case(first)))
    }

    /// Whether `key` may be used with the `needed` permissions.
    pub fn allows_key(&self, key: &[u8], needed: u8) -> bool {
        self.all_keys || self.keys.iter().any(|pattern| pattern.permissions & needed == needed && pattern.matches(key))
    }

    /// Whether a channel (or, when `is_pattern`, a PSUBSCRIBE pattern, compared literally) is allowed.
    pub fn allows_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|allowed| if is_pattern { allowed == channel } else { glob::matches(allowed, channel, false) })
    }

    /// Whether nothing is ever denied by this selector.
    fn unrestricted(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }
}

/// `skip-sanitize-payload` or `sanitize-payload`, when either was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sanitize {
    Skip,
    Always,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    pub sanitize: Option<Sanitize>,
    /// SHA-256 hashes, 64 lower-case hex digits each, in the order added.
    pub passwords: Vec<String>,
    /// The root selector first, then the ones in parentheses.
    pub selectors: Vec<Selector>,
}

impl User {
    /// A new user: off, no passwords, no permissions (Redis's `ACLCreateUser`).
    pub fn new(name: &[u8], all_channels: bool) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(all_channels)],
        }
    }

    /// The `default` user a server starts with: on, every command, key and channel, and
    /// `requirepass` as its password (none: `nopass`).
    pub fn initial_default(command_count: usize, requirepass: &[u8]) -> User {
        let mut user = User::new(super::DEFAULT_USER, true);
        user.enabled = true;
        user.root().set_all_commands(command_count, true);
        user.root().all_keys = true;
        user.set_requirepass(requirepass);
        user
    }

    /// Makes `password` the user's only password, or gives it `nopass` when empty, as `requirepass`
    /// does to the default user.
    pub fn set_requirepass(&mut self, password: &[u8]) {
        self.passwords.clear();
        self.nopass = password.is_empty();
        if !password.is_empty() {
            self.passwords.push(hash_password(password));
        }
    }

    pub fn root(&mut self) -> &mut Selector {
        &mut self.selectors[0]
    }

    /// Whether `password` authenticates this user: it is on, and it has `nopass` or the password's
    /// hash is one of its own (compared in constant time).
    pub fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hashed = hash_password(password);
        self.passwords.iter().fold(false, |found, known| found | constant_time_eq(known.as_bytes(), hashed.as_bytes()))
    }

    /// Whether any selector lets everything through, so requests need no checking.
    pub fn unrestricted(&self) -> bool {
        self.selectors.iter().any(Selector::unrestricted)
    }
}

/// A password's SHA-256 as 64 lower-case hex digits, as ACL stores and shows it.
pub fn hash_password(password: &[u8]) -> String {
    Sha256::digest(password).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `text` is a stored password hash: exactly 64 lower-case hex digits.
pub fn is_password_hash(text: &[u8]) -> bool {
    text.len() == 64 && text.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_sha256_hex() {
        assert_eq!(hash_password(b"p1"), "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a", "as redis 7.0 shows it");
        assert!(is_password_hash(hash_password(b"x").as_bytes()));
        assert!(!is_password_hash(b"abc"));
        assert!(!is_password_hash(hash_password(b"x").to_uppercase().as_bytes()));
    }

    #[test]
    fn a_user_authenticates_only_when_on() {
        let mut user = User::new(b"alice", false);
        user.passwords.push(hash_password(b"secret"));
        assert!(!user.accepts(b"secret"), "new users are off");
        user.enabled = true;
        assert!(user.accepts(b"secret"));
        assert!(!user.accepts(b"other"));
        user.nopass = true;
        assert!(user.accepts(b"anything"));
    }

    #[test]
    fn key_patterns_need_every_permission_asked() {
        let mut selector = Selector::new(false);
        selector.keys.push(KeyPattern::new(b"ro:*", READ));
        selector.keys.push(KeyPattern::new(b"rw:*", READ | WRITE));
        selector.keys.push(KeyPattern::new(b"g[ab]?:*", READ));
        assert!(selector.allows_key(b"ro:1", READ));
        assert!(!selector.allows_key(b"ro:1", WRITE));
        assert!(selector.allows_key(b"ro:1", 0), "a key spec with no access flags needs nothing");
        assert!(selector.allows_key(b"rw:1", READ | WRITE));
        assert!(!selector.allows_key(b"other", 0), "but the key must still match a pattern");
        assert!(selector.allows_key(b"gbx:1", READ) && !selector.allows_key(b"gcx:1", READ), "other patterns are globs");
        assert!(
            KeyPattern::new(b"a\\*", READ).matches(b"a*") && !KeyPattern::new(b"a\\*", READ).matches(b"ab"),
            "an escaped star is no prefix"
        );
    }

    #[test]
    fn psubscribe_patterns_match_channel_rules_literally() {
        let mut selector = Selector::new(false);
        selector.channels.push(b"news.*".to_vec());
        assert!(selector.allows_channel(b"news.sport", false));
        assert!(selector.allows_channel(b"news.*", true));
        assert!(!selector.allows_channel(b"news.s*", true));
    }
}
