//! ACL users and permissions, as Redis 7.0 has them: the ACL command, the users of the config file and
//! the ACL file, authentication, and the denial of requests a user may not make (`check`), logged in
//! ACL LOG. The users themselves are state (`state::acl`); the rules that build them name commands
//! and categories of the table, so they are applied and described here.

pub mod check;
mod describe;
pub mod key_access;
pub mod rules;

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use super::args::parse_int;
use super::flags::{ADMIN, LOADING, NOSCRIPT, STALE};
use super::table::{registry, Command};
use super::{acl, CmdError, Ctx};
use crate::resp::{Args, Reply};
use crate::state::acl::log::{Context, Entry, Reason};
use crate::state::acl::{User, DEFAULT_USER};
use crate::state::shared::Shared;
use check::Denial;
use describe::{describe_user, selector_fields};
use rules::{apply_user_rule, merge_selector_args, RuleError};

/// Whether new users and `reset` start with every channel (`acl-pubsub-default allchannels`).
fn all_channels_by_default(shared: &Shared) -> bool {
    shared.config.get("acl-pubsub-default") == "allchannels"
}

/// Builds a user from rules, on top of `base` (a copy of the existing user, or a new one).
fn apply_rules(mut user: User, rules: &[Vec<u8>], all_channels: bool) -> Result<User, (usize, RuleError)> {
    for (at, rule) in rules.iter().enumerate() {
        apply_user_rule(&mut user, rule, all_channels).map_err(|error| (at, error))?;
    }
    Ok(user)
}

fn has_spaces(name: &[u8]) -> bool {
    name.iter().any(|&c| c.is_ascii_whitespace() || c == 0 || c == 0x0b)
}

/// Loads the users of the `user` config lines, then of `aclfile`, at start. Redis refuses to start
/// with both, and with any rule it does not understand.
pub fn load_configured_users(shared: &Shared) -> Result<(), String> {
    let lines = shared.config.users();
    let file = shared.config.get("aclfile");
    if !file.is_empty() && !lines.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".to_owned());
    }
    let all_channels = all_channels_by_default(shared);
    for words in lines {
        let Some((name, rules)) = words.split_first() else {
            return Err("'user' needs a user name".to_owned());
        };
        if has_spaces(name.as_bytes()) {
            return Err("Spaces not allowed in ACL usernames".to_owned());
        }
        let rules = merge_selector_args(rules.iter().map(|rule| rule.as_bytes()))
            .map_err(|_| format!("Unmatched parenthesis in acl selector of user '{name}'"))?;
        let base = match shared.acl.get(name.as_bytes()) {
            // Only `default` may be defined twice: its line starts from a reset user.
            Some(_) if name.as_bytes() == DEFAULT_USER => reset_user(name.as_bytes(), all_channels),
            Some(_) => return Err(format!("Duplicate user '{name}' found in the configuration")),
            None => User::new(name.as_bytes(), all_channels),
        };
        let user = apply_rules(base, &rules, all_channels).map_err(|(at, error)| {
            format!("Error loading ACL rule '{}' for the user named '{name}': {error}", String::from_utf8_lossy(&rules[at]))
        })?;
        if !user.enabled {
            tracing::info!(
                user = name,
                "The user is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error."
            );
        }
        shared.acl.put(user);
    }
    if !file.is_empty() {
        let users = read_acl_file(shared, Path::new(&file))?;
        shared.acl.replace_all(users);
    }
    Ok(())
}

fn reset_user(name: &[u8], all_channels: bool) -> User {
    let mut user = User::new(name, all_channels);
    let _ = apply_user_rule(&mut user, b"reset", all_channels);
    user
}

/// Reads an ACL file: every line `user <name> <rules...>` or blank. Any error refuses the whole file
/// (the message lists them, as Redis's does); a file without `default` keeps the default one.
fn read_acl_file(shared: &Shared, path: &Path) -> Result<Vec<User>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("Error loading ACLs, opening file '{shown}': {e}"))?;
    let all_channels = all_channels_by_default(shared);
    let mut users: Vec<User> = Vec::new();
    let mut errors = String::new();
    for (number, line) in text.split('\n').enumerate() {
        let number = number + 1;
        let words: Vec<&str> = line.trim().split(' ').filter(|word| !word.is_empty()).collect();
        let Some((&keyword, rest)) = words.split_first() else { continue };
        let Some((&name, rules)) = rest.split_first().filter(|_| keyword == "user") else {
            errors.push_str(&format!("{shown}:{number} should start with user keyword followed by the username. "));
            continue;
        };
        if users.iter().any(|user| user.name == name.as_bytes()) {
            errors.push_str(&format!("WARNING: Duplicate user '{name}' found on line {number}. "));
            continue;
        }
        let Ok(rules) = merge_selector_args(rules.iter().map(|rule| rule.as_bytes())) else {
            errors.push_str(&format!("{shown}:{number}: Unmatched parenthesis in selector definition."));
            continue;
        };
        match apply_rules(User::new(name.as_bytes(), all_channels), &rules, all_channels) {
            Ok(user) => users.push(user),
            Err((at, error @ RuleError::UnknownCommand)) => errors
                .push_str(&format!("{shown}:{number}: Error in applying operation '{}': {error}. ", String::from_utf8_lossy(&rules[at]))),
            Err((_, error)) => errors.push_str(&format!("{shown}:{number}: {error}. ")),
        }
    }
    if !errors.is_empty() {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        return Err(errors);
    }
    if !users.iter().any(|user| user.name == DEFAULT_USER) {
        users.push(User::initial_default(registry().all.len(), b""));
    }
    Ok(users)
}

/// Disconnects the clients authenticated as `name` (its own connection after the reply).
fn disconnect_users_clients(ctx: &mut Ctx, name: &[u8]) {
    for client in ctx.shared.clients.all() {
        if client.user() == name {
            if client.id == ctx.session.id() {
                ctx.session.close_after_reply = true;
            } else {
                client.kill();
                ctx.shared.blocked.cancel(client.id);
            }
        }
    }
}

/// Adds an ACL LOG entry for the session's client.
pub fn log_denial(ctx: &Ctx, reason: Reason, context: Context, object: &[u8], username: &[u8]) {
    let entry = Entry {
        count: 1,
        reason,
        context,
        object: object.to_vec(),
        username: username.to_vec(),
        at_ms: ctx.now_ms,
        client_info: super::client::describe(&ctx.session.info, ctx.now_ms),
    };
    let max_len = usize::try_from(ctx.shared.config.get_i64("acllog-max-len")).unwrap_or(usize::MAX);
    ctx.shared.acl_log.add(entry, max_len);
}

/// Logs a denied request and returns the error Redis answers at the top level or in MULTI.
pub fn refuse(ctx: &Ctx, command: &Command, args: Args, denial: Denial) -> CmdError {
    let context = if ctx.session.multi.is_some() { Context::Multi } else { Context::Toplevel };
    log(ctx, command, args, denial, context);
    match denial {
        Denial::Command => {
            CmdError::Other(Cow::Owned(format!("NOPERM this user has no permissions to run the '{}' command", command.name)))
        }
        Denial::Key(_) => CmdError::line("NOPERM this user has no permissions to access one of the keys used as arguments"),
        Denial::Channel(_) => CmdError::line("NOPERM this user has no permissions to access one of the channels used as arguments"),
    }
}

/// Logs a request a script may not make and returns the error `redis.call` raises.
pub fn refuse_in_script(ctx: &Ctx, command: &Command, args: Args, denial: Denial) -> &'static str {
    log(ctx, command, args, denial, Context::Lua);
    match denial {
        Denial::Command => "ERR The user executing the script can't run this command or subcommand",
        Denial::Key(_) => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
        Denial::Channel(_) => "ERR The user executing the script can't publish to the channel mentioned in the command",
    }
}

fn log(ctx: &Ctx, command: &Command, args: Args, denial: Denial, context: Context) {
    let (reason, object) = match denial {
        Denial::Command => (Reason::Command, command.name.as_bytes()),
        Denial::Key(at) => (Reason::Key, args.get(at)),
        Denial::Channel(at) => (Reason::Channel, args.get(at)),
    };
    log_denial(ctx, reason, context, object, &ctx.session.user.name);
}

/// Authenticates the session as `name` with `password` (AUTH, HELLO ... AUTH); a failure is logged
/// with the command as typed.
pub fn authenticate(ctx: &mut Ctx, command_as_typed: &[u8], name: &[u8], password: &[u8]) -> Result<(), CmdError> {
    match ctx.shared.acl.get(name).filter(|user| user.accepts(password)) {
        Some(user) => {
            ctx.session.log_in(user, &ctx.shared.acl);
            Ok(())
        }
        None => {
            let context = if ctx.session.multi.is_some() { Context::Multi } else { Context::Toplevel };
            log_denial(ctx, Reason::Auth, context, command_as_typed, name);
            Err(CmdError::line("WRONGPASS invalid username-password pair or user is disabled."))
        }
    }
}

/// CONFIG SET requirepass: the default user's password follows it.
pub fn set_requirepass(shared: &Shared, password: &str) {
    if let Some(default) = shared.acl.get(DEFAULT_USER) {
        let mut user = User::clone(&default);
        user.set_requirepass(password.as_bytes());
        shared.acl.put(user);
    }
}

/// ACL SETUSER username [rule ...]
pub fn acl_setuser(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let name = args.get(2);
    if has_spaces(name) {
        return Err(CmdError::err("Usernames can't contain spaces or null characters"));
    }
    let rules = merge_selector_args(args.iter().skip(3)).map_err(|at| {
        CmdError::err(format!("Unmatched parenthesis in acl selector starting at '{}'.", String::from_utf8_lossy(args.get(at + 3))))
    })?;
    let all_channels = all_channels_by_default(ctx.shared);
    let base = ctx.shared.acl.get(name).map_or_else(|| User::new(name, all_channels), |user| User::clone(&user));
    let user = apply_rules(base, &rules, all_channels).map_err(|(at, error)| {
        CmdError::err(format!("Error in ACL SETUSER modifier '{}': {error}", String::from_utf8_lossy(&rules[at])))
    })?;
    if let Some(old) = ctx.shared.acl.get(name) {
        disconnect_revoked_subscribers(ctx, &old, &user);
    }
    ctx.shared.acl.put(user);
    Ok(Reply::Ok)
}

/// Disconnects the user's subscribed clients that hold a channel or pattern its new rules no longer
/// allow (Redis's `ACLKillPubsubClientsIfNeeded`): only when some selector lost channels.
fn disconnect_revoked_subscribers(ctx: &mut Ctx, old: &User, new: &User) {
    if new.selectors.iter().any(|selector| selector.all_channels) {
        return;
    }
    let allowed: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|selector| &selector.channels).collect();
    let kept = old.selectors.iter().flat_map(|selector| &selector.channels).all(|channel| allowed.contains(&channel));
    if kept {
        return;
    }
    let permits = |name: &[u8], is_pattern: bool| {
        allowed.iter().any(|rule| if is_pattern { rule.as_slice() == name } else { crate::glob::matches(rule, name, false) })
    };
    for client in ctx.shared.clients.all() {
        if client.user() != old.name || !client.subscribed() || client.id == ctx.session.id() {
            continue;
        }
        let [channels, patterns, shard_channels] = ctx.shared.pubsub.subscriptions_of(client.id);
        let revoked = patterns.iter().any(|pattern| !permits(pattern, true))
            || channels.iter().chain(&shard_channels).any(|channel| !permits(channel, false));
        if revoked {
            client.kill();
        }
    }
}

/// ACL GETUSER username
pub fn acl_getuser(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let Some(user) = ctx.shared.acl.get(args.get(2)) else {
        return Ok(Reply::Nil);
    };
    let flags = describe::flags(&user).into_iter().map(|flag| Reply::bulk(flag.as_bytes())).collect();
    let mut fields = vec![
        (Reply::bulk(b"flags"), Reply::Set(flags)),
        (Reply::bulk(b"passwords"), Reply::Array(user.passwords.iter().map(|hash| Reply::bulk(hash.as_bytes())).collect())),
    ];
    fields.extend(selector_fields(&user.selectors[0]));
    let selectors = user.selectors[1..].iter().map(|selector| Reply::Map(selector_fields(selector))).collect();
    fields.push((Reply::bulk(b"selectors"), Reply::Array(selectors)));
    Ok(Reply::Map(fields))
}

/// ACL DELUSER username [username ...]
pub fn acl_deluser(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.iter().skip(2).any(|name| name == DEFAULT_USER) {
        return Err(CmdError::err("The 'default' user cannot be removed"));
    }
    let mut deleted = 0;
    for name in args.iter().skip(2) {
        if ctx.shared.acl.remove(name) {
            disconnect_users_clients(ctx, name);
            deleted += 1;
        }
    }
    Ok(Reply::Int(deleted))
}

/// ACL USERS
pub fn acl_users(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::Array(ctx.shared.acl.all().iter().map(|user| Reply::bulk(&user.name)).collect()))
}

/// ACL LIST
pub fn acl_list(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::Array(ctx.shared.acl.all().iter().map(|user| Reply::bulk(user_line(user).as_bytes())).collect()))
}

fn user_line(user: &User) -> String {
    format!("user {} {}", String::from_utf8_lossy(&user.name), describe_user(user))
}

/// ACL WHOAMI
pub fn acl_whoami(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::bulk(&ctx.session.user.name))
}

/// ACL CAT [category]
pub fn acl_cat(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() == 2 {
        return Ok(Reply::Array(acl::NAMES.iter().map(|(_, name)| Reply::bulk(&name.as_bytes()[1..])).collect()));
    }
    if args.len() > 3 {
        return Err(CmdError::WrongArity("acl|cat".to_owned()));
    }
    let category =
        acl::by_name(args.get(2)).ok_or_else(|| CmdError::err(format!("Unknown category '{}'", String::from_utf8_lossy(args.get(2)))))?;
    let names = registry().all.iter().filter(|command| command.acl_categories() & category != 0);
    Ok(Reply::Array(names.map(|command| Reply::bulk(command.name.as_bytes())).collect()))
}

/// ACL GENPASS [bits]
pub fn acl_genpass(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    const MAX_BITS: i64 = 4096;
    if args.len() > 3 {
        return Err(CmdError::WrongArity("acl|genpass".to_owned()));
    }
    let bits = if args.len() == 3 { parse_int(args.get(2))? } else { 256 };
    if bits <= 0 || bits > MAX_BITS {
        return Err(CmdError::err(format!(
            "ACL GENPASS argument must be the number of bits for the output password, a positive number up to {MAX_BITS}"
        )));
    }
    let digits = (bits as usize).div_ceil(4);
    let password: String = (0..digits).map(|_| char::from_digit(rand::random_range(0..16), 16).unwrap_or('0')).collect();
    Ok(Reply::bulk(password.as_bytes()))
}

/// ACL LOG [count | RESET]
pub fn acl_log(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::WrongArity("acl|log".to_owned()));
    }
    let mut count = 10;
    if args.len() == 3 {
        if args.get(2).eq_ignore_ascii_case(b"reset") {
            ctx.shared.acl_log.reset();
            return Ok(Reply::Ok);
        }
        count = parse_int(args.get(2))?.max(0) as usize;
    }
    let now_ms = ctx.now_ms;
    let entries = ctx.shared.acl_log.recent(count).into_iter().map(|entry| {
        let field = |name: &str, value: Reply| (Reply::bulk(name.as_bytes()), value);
        Reply::Map(vec![
            field("count", Reply::Int(entry.count as i64)),
            field("reason", Reply::bulk(entry.reason.name().as_bytes())),
            field("context", Reply::bulk(entry.context.name().as_bytes())),
            field("object", Reply::bulk(&entry.object)),
            field("username", Reply::bulk(&entry.username)),
            field("age-seconds", Reply::Double(now_ms.saturating_sub(entry.at_ms) as f64 / 1000.0)),
            field("client-info", Reply::bulk(entry.client_info.as_bytes())),
        ])
    });
    Ok(Reply::Array(entries.collect()))
}

/// ACL DRYRUN username command [arg ...]
pub fn acl_dryrun(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let user = ctx
        .shared
        .acl
        .get(args.get(2))
        .ok_or_else(|| CmdError::err(format!("User '{}' not found", String::from_utf8_lossy(args.get(2)))))?;
    let request = Args::sub_args(args, 3);
    let (index, command) = super::dispatch::resolve(request)
        .map_err(|_| CmdError::err(format!("Command '{}' not found", String::from_utf8_lossy(args.get(3)))))?;
    if !command.arity_ok(request.len()) {
        return Err(CmdError::err(format!("wrong number of arguments for '{}' command", command.name)));
    }
    Ok(match check::check(&user, index, command, request) {
        Ok(()) => Reply::Ok,
        Err(Denial::Command) => Reply::bulk(format!("This user has no permissions to run the '{}' command", command.name).as_bytes()),
        Err(Denial::Key(at)) => {
            Reply::bulk(format!("This user has no permissions to access the '{}' key", String::from_utf8_lossy(request.get(at))).as_bytes())
        }
        Err(Denial::Channel(at)) => Reply::bulk(
            format!("This user has no permissions to access the '{}' channel", String::from_utf8_lossy(request.get(at))).as_bytes(),
        ),
    })
}

fn acl_file(ctx: &Ctx) -> Result<String, CmdError> {
    let file = ctx.shared.config.get("aclfile");
    if file.is_empty() {
        return Err(CmdError::err("This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."));
    }
    Ok(file)
}

/// ACL LOAD: replaces every user with the ACL file's, all or nothing. Clients of the users replaced
/// are disconnected, as Redis frees the old users (`default` is kept, with its new rules).
pub fn acl_load(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let file = acl_file(ctx)?;
    let users = read_acl_file(ctx.shared, Path::new(&file)).map_err(CmdError::err)?;
    let replaced: Vec<Arc<User>> = ctx.shared.acl.all();
    ctx.shared.acl.replace_all(users);
    for user in replaced.iter().filter(|user| user.name != DEFAULT_USER) {
        disconnect_users_clients(ctx, &user.name);
    }
    Ok(Reply::Ok)
}

/// ACL SAVE: writes every user to the ACL file (through a temporary file and a rename).
pub fn acl_save(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let file = acl_file(ctx)?;
    let text: String = ctx.shared.acl.all().iter().map(|user| user_line(user) + "\n").collect();
    let temp = format!("{file}.tmp-{}", std::process::id());
    std::fs::write(&temp, text).and_then(|_| std::fs::rename(&temp, &file)).map_err(|error| {
        tracing::warn!(%error, "Writing the ACL file for ACL SAVE");
        let _ = std::fs::remove_file(&temp);
        CmdError::err("There was an error trying to save the ACLs. Please check the server logs for more information")
    })?;
    Ok(Reply::Ok)
}

/// ACL HELP
pub fn acl_help(_ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    const HELP: &[&str] = &[
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Print this help.",
    ];
    Ok(Reply::Array(HELP.iter().map(|line| Reply::status(line)).collect()))
}

pub(super) static COMMANDS: &[Command] = &[Command::new("acl", -2, super::dispatch::container).subcommands(ACL_SUBCOMMANDS)];

static ACL_SUBCOMMANDS: &[Command] = &[
    Command::new("acl|cat", -2, acl_cat).flags(NOSCRIPT | LOADING | STALE),
    Command::new("acl|deluser", -3, acl_deluser).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("acl|dryrun", -4, acl_dryrun).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("acl|genpass", -2, acl_genpass).flags(NOSCRIPT | LOADING | STALE),
    Command::new("acl|getuser", 3, acl_getuser).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("acl|help", 2, acl_help).flags(LOADING | STALE),
    Command::new("acl|list", 2, acl_list).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("acl|load", 2, acl_load).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("acl|log", -2, acl_log).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("acl|save", 2, acl_save).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("acl|setuser", -3, acl_setuser).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("acl|users", 2, acl_users).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("acl|whoami", 2, acl_whoami).flags(NOSCRIPT | LOADING | STALE),
];
