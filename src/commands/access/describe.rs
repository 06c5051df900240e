//! Users written back as rules: ACL LIST, ACL GETUSER and the ACL file. A selector's command bitmap is
//! described as Redis 7.0 describes it (`ACLDescribeSelectorCommandRules`): `+@all` or `-@all`, then
//! the categories that best fit the bitmap, one at a time, then the single commands that still
//! differ, in table order (Redis walks its command dict in hash order, so only the set of rules, not
//! their order, is comparable between servers).

use super::super::acl;
use super::rules::{change_permission, set_category};
use crate::resp::Reply;
use crate::state::acl::user::{Sanitize, READ, WRITE};
use crate::state::acl::{Selector, User};

use super::super::table::registry;

/// A user's rules after its name, as ACL LIST and the ACL file print them.
pub fn describe_user(user: &User) -> String {
    let mut out = String::new();
    for flag in flags(user) {
        out.push_str(flag);
        out.push(' ');
    }
    for hash in &user.passwords {
        out.push('#');
        out.push_str(hash);
        out.push(' ');
    }
    for (at, selector) in user.selectors.iter().enumerate() {
        if at == 0 {
            out.push_str(&describe_selector(selector));
        } else {
            out.push_str(&format!(" ({})", describe_selector(selector)));
        }
    }
    out
}

/// The user's flags in Redis's order.
pub fn flags(user: &User) -> Vec<&'static str> {
    let mut flags = vec![if user.enabled { "on" } else { "off" }];
    if user.nopass {
        flags.push("nopass");
    }
    match user.sanitize {
        Some(Sanitize::Skip) => flags.push("skip-sanitize-payload"),
        Some(Sanitize::Always) => flags.push("sanitize-payload"),
        None => {}
    }
    flags
}

fn describe_selector(selector: &Selector) -> String {
    let mut out = String::new();
    if selector.all_keys {
        out.push_str("~* ");
    } else {
        for pattern in key_patterns(selector) {
            out.push_str(&pattern);
            out.push(' ');
        }
    }
    if selector.all_channels {
        out.push_str("&* ");
    } else {
        out.push_str("resetchannels ");
        for channel in &selector.channels {
            out.push('&');
            out.push_str(&String::from_utf8_lossy(channel));
            out.push(' ');
        }
    }
    out.push_str(&command_rules(selector));
    out
}

fn key_patterns(selector: &Selector) -> impl Iterator<Item = String> + '_ {
    selector.keys.iter().map(|key| {
        let prefix = match key.permissions {
            p if p == READ | WRITE => "~",
            READ => "%R~",
            WRITE => "%W~",
            _ => "%~",
        };
        format!("{prefix}{}", String::from_utf8_lossy(&key.pattern))
    })
}

/// The fields ACL GETUSER shows of a selector: commands, keys, channels.
pub fn selector_fields(selector: &Selector) -> Vec<(Reply, Reply)> {
    let keys = if selector.all_keys { "~*".to_owned() } else { key_patterns(selector).collect::<Vec<_>>().join(" ") };
    let channels = if selector.all_channels {
        "&*".to_owned()
    } else {
        selector.channels.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))).collect::<Vec<_>>().join(" ")
    };
    vec![
        (Reply::bulk(b"commands"), Reply::bulk(command_rules(selector).as_bytes())),
        (Reply::bulk(b"keys"), Reply::bulk(keys.as_bytes())),
        (Reply::bulk(b"channels"), Reply::bulk(channels.as_bytes())),
    ]
}

/// The rules that rebuild a selector's command bitmap.
pub fn command_rules(selector: &Selector) -> String {
    let registry = registry();
    let count = registry.all.len();
    let additive = !selector.future_commands;
    let mut rules = vec![if additive { "-@all".to_owned() } else { "+@all".to_owned() }];
    let mut fake = Selector::default();
    fake.set_all_commands(count, !additive);
    // The categories still to account for are looked up in a copy with the applied ones inverted.
    let mut remaining = selector.clone();
    let mut applied = vec![false; acl::NAMES.len()];
    loop {
        let mut best: Option<usize> = None;
        let (mut fewest_different, mut most_same) = (usize::MAX, 0);
        for (at, (bit, _)) in acl::NAMES.iter().enumerate() {
            if applied[at] {
                continue;
            }
            let (on, off) = count_in_category(&remaining, *bit);
            let (different, same) = if additive { (off, on) } else { (on, off) };
            if same > different && (different < fewest_different || (different == fewest_different && same > most_same)) {
                best = Some(at);
                fewest_different = different;
                most_same = same;
            }
        }
        let Some(at) = best else { break };
        let (bit, name) = acl::NAMES[at];
        set_category(&mut fake, bit, additive);
        set_category(&mut remaining, bit, !additive);
        rules.push(format!("{}{name}", if additive { '+' } else { '-' }));
        applied[at] = true;
    }
    for (index, command) in registry.all.iter().enumerate() {
        let wanted = selector.allows_command(index);
        if wanted != fake.allows_command(index) {
            rules.push(format!("{}{}", if wanted { '+' } else { '-' }, command.name));
            change_permission(&mut fake, index, wanted);
        }
        if !wanted {
            for first_arg in selector.first_args.get(&index).into_iter().flatten() {
                rules.push(format!("+{}|{}", command.name, String::from_utf8_lossy(first_arg)));
            }
        }
    }
    rules.join(" ")
}

/// How many commands of a category the selector allows and denies.
fn count_in_category(selector: &Selector, category: u32) -> (usize, usize) {
    registry().all.iter().enumerate().filter(|(_, command)| command.acl_categories() & category != 0).fold(
        (0, 0),
        |(on, off), (index, _)| {
            if selector.allows_command(index) {
                (on + 1, off)
            } else {
                (on, off + 1)
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::rules::apply_user_rule;
    use super::*;

    fn described(rules: &[&str]) -> String {
        let mut user = User::new(b"u", false);
        for rule in rules {
            apply_user_rule(&mut user, rule.as_bytes(), false).unwrap();
        }
        describe_user(&user)
    }

    #[test]
    fn users_are_described_as_redis_describes_them() {
        assert_eq!(described(&[]), "off resetchannels -@all");
        assert_eq!(described(&["on", ">p1", "~cache:*", "%R~ro:*", "&chan*", "+@hash", "-hdel", "+get", "(+set ~x*)"]),
            "on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~cache:* %R~ro:* resetchannels &chan* -@all +@hash +get -hdel (~x* resetchannels -@all +set)");
        assert_eq!(described(&["+@all", "-set"]), "off resetchannels +@all -set");
        assert_eq!(described(&["allkeys", "allchannels", "nopass", "allcommands"]), "off nopass ~* &* +@all");
        assert_eq!(described(&["+select|0", "+select|1"]), "off resetchannels -@all +select|0 +select|1");
    }

    #[test]
    fn every_description_rebuilds_the_same_bitmap() {
        for rules in
            [&["+@all", "-@dangerous", "+flushdb", "-get"][..], &["+@read", "+@write", "-@list"], &["+config", "-config|set", "+@admin"]]
        {
            let mut user = User::new(b"u", false);
            for rule in rules {
                apply_user_rule(&mut user, rule.as_bytes(), false).unwrap();
            }
            let description = command_rules(&user.selectors[0]);
            let mut rebuilt = User::new(b"u", false);
            for rule in description.split(' ') {
                apply_user_rule(&mut rebuilt, rule.as_bytes(), false).unwrap();
            }
            let count = registry().all.len();
            for index in 0..count {
                assert_eq!(rebuilt.selectors[0].allows_command(index), user.selectors[0].allows_command(index), "{description}");
            }
        }
    }
}
