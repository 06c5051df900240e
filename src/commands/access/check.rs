//! Whether a user may run a request: the command (or the allowed first argument), every key with
//! the access its key spec needs, every channel. A request passes if one selector passes it whole;
//! otherwise the denial reported is Redis's pick (`ACLCheckAllUserCommandPerm`): a channel over a
//! key over the command, and the last argument among equals.

use smallvec::SmallVec;

use super::super::table::{registry, Channels, Command};
use crate::resp::Args;
use crate::state::acl::{Selector, User};

pub use crate::state::acl::user::{READ, WRITE};
/// A key spec that needs neither read nor write permission (EXISTS, TYPE, TTL...): any pattern
/// that matches the key will do.
pub const NONE: u8 = 0;
pub const READ_WRITE: u8 = READ | WRITE;

/// Why a request was denied, with the argument position of the key or channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denial {
    /// Redis's ranking of denials: the most specific wins.
    fn rank(self) -> (u8, usize) {
        match self {
            Denial::Command => (1, 0),
            Denial::Key(at) => (2, at),
            Denial::Channel(at) => (4, at),
        }
    }
}

/// Checks a request against every selector of `user`.
pub fn check(user: &User, index: usize, command: &Command, args: Args) -> Result<(), Denial> {
    let mut keys: Option<KeysWithAccess> = None;
    let mut relevant = Denial::Command;
    for selector in &user.selectors {
        match check_selector(selector, index, command, args, &mut keys) {
            Ok(()) => return Ok(()),
            Err(denial) if denial.rank() > relevant.rank() => relevant = denial,
            Err(_) => {}
        }
    }
    Err(relevant)
}

fn check_selector(
    selector: &Selector,
    index: usize,
    command: &Command,
    args: Args,
    keys: &mut Option<KeysWithAccess>,
) -> Result<(), Denial> {
    if !command_allowed(selector, index, command, args) {
        return Err(Denial::Command);
    }
    if !selector.all_keys {
        // Found once, for all selectors.
        let keys = keys.get_or_insert_with(|| keys_with_access(index, command, args));
        if let Some(&(at, _)) = keys.iter().find(|&&(at, needed)| !selector.allows_key(args.get(at), needed)) {
            return Err(Denial::Key(at));
        }
    }
    if !selector.all_channels {
        let (positions, is_pattern) = match command.channels {
            Channels::None => (1..1, false),
            Channels::Publish => (1..2.min(args.len()), false),
            Channels::Subscribe => (1..args.len(), false),
            Channels::SubscribePatterns => (1..args.len(), true),
        };
        if let Some(at) = positions.into_iter().find(|&at| !selector.allows_channel(args.get(at), is_pattern)) {
            return Err(Denial::Channel(at));
        }
    }
    Ok(())
}

fn command_allowed(selector: &Selector, index: usize, command: &Command, args: Args) -> bool {
    if selector.allows_command(index) || command.has(super::super::flags::NO_AUTH) {
        return true;
    }
    let first = if registry().parent(index).is_some() { 2 } else { 1 };
    first < args.len() && selector.allows_first_arg(index, args.get(first))
}

/// Key argument positions with the access each needs; requests naming a few keys don't allocate.
type KeysWithAccess = SmallVec<[(usize, u8); 4]>;

/// The key arguments of a request and the access each needs: the first key takes its command's
/// first key spec, the others the last.
fn keys_with_access(index: usize, command: &Command, args: Args) -> KeysWithAccess {
    let mut keys = KeysWithAccess::new();
    let specs = registry().key_access(index);
    if specs.is_some_and(<[u8]>::is_empty) {
        return keys;
    }
    command.for_each_key(args, |at| {
        let needed = match specs {
            _ if command.name == "set" => set_access(args),
            _ if command.name == "bitfield" => bitfield_access(args),
            Some(specs) if keys.is_empty() => specs[0],
            Some(specs) => specs[specs.len() - 1],
            None if command.has(super::super::flags::WRITE) => READ_WRITE,
            None => READ,
        };
        keys.push((at, needed));
    });
    keys
}

/// SET reads its key only with GET (Redis's `setGetKeys`).
fn set_access(args: Args) -> u8 {
    if args.iter().skip(3).any(|arg| arg.eq_ignore_ascii_case(b"get")) {
        READ_WRITE
    } else {
        WRITE
    }
}

/// BITFIELD with only GET operations only reads (Redis's `bitfieldGetKeys`).
fn bitfield_access(args: Args) -> u8 {
    let mut at = 2;
    while at < args.len() {
        let remaining = args.len() - at - 1;
        let op = args.get(at);
        if op.eq_ignore_ascii_case(b"get") && remaining >= 2 {
            at += 3;
        } else if op.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
            at += 2;
        } else {
            return READ_WRITE;
        }
    }
    READ
}
