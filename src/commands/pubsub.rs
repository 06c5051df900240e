//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB introspection.
//!
//! Subscribing changes only the session's [`crate::state::pubsub::Subscriptions`] and the server's
//! registry; messages reach the client through its queue, which the connection drains. Each channel
//! named gets its own confirmation, so these commands answer with [`Reply::Multi`].

use std::borrow::Cow;

use bytes::Bytes;

use super::{CmdError, Ctx};
use crate::resp::{Args, Reply};
use crate::state::pubsub::Kind;

/// One confirmation: `[kind, name or nil, count]`, a push frame in RESP3 and an array in RESP2.
fn confirmation(kind: &'static str, name: Option<&[u8]>, count: usize) -> Reply {
    Reply::Push(vec![Reply::Bulk(Bytes::from_static(kind.as_bytes())), Reply::optional_bulk(name), Reply::from(count)])
}

/// The count a confirmation of `kind` carries: shard channels are counted apart.
fn count(ctx: &Ctx, kind: Kind) -> usize {
    match kind {
        Kind::Shard => ctx.session.pubsub.count(Kind::Shard),
        Kind::Channel | Kind::Pattern => ctx.session.pubsub.classic_count(),
    }
}

fn subscribe_to(ctx: &mut Ctx, args: Args, kind: Kind, word: &'static str) -> Reply {
    let mut replies = Vec::with_capacity(args.len() - 1);
    for name in args.iter().skip(1) {
        ctx.session.pubsub.subscribe(&ctx.shared.pubsub, &ctx.session.info, kind, name);
        replies.push(confirmation(word, Some(name), count(ctx, kind)));
    }
    Reply::Multi(replies)
}

fn unsubscribe_from(ctx: &mut Ctx, args: Args, kind: Kind, word: &'static str) -> Reply {
    let names: Vec<Bytes> =
        if args.len() > 1 { args.iter().skip(1).map(Bytes::copy_from_slice).collect() } else { ctx.session.pubsub.names(kind) };
    if names.is_empty() {
        // Nothing to leave: Redis still answers once, with a nil name.
        return Reply::Multi(vec![confirmation(word, None, count(ctx, kind))]);
    }
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        ctx.session.pubsub.unsubscribe(kind, &name);
        replies.push(confirmation(word, Some(&name), count(ctx, kind)));
    }
    Reply::Multi(replies)
}

/// SUBSCRIBE channel [channel ...]
///
/// # Returns
/// For each channel, `["subscribe", channel, count]` where count is the client's channels plus
/// patterns after subscribing.
pub fn subscribe(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(subscribe_to(ctx, args, Kind::Channel, "subscribe"))
}

/// UNSUBSCRIBE [channel [channel ...]]
///
/// Without channels, leaves every channel; when there are none, answers `["unsubscribe", nil, count]`.
pub fn unsubscribe(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(unsubscribe_from(ctx, args, Kind::Channel, "unsubscribe"))
}

/// PSUBSCRIBE pattern [pattern ...]
pub fn psubscribe(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(subscribe_to(ctx, args, Kind::Pattern, "psubscribe"))
}

/// PUNSUBSCRIBE [pattern [pattern ...]]
pub fn punsubscribe(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(unsubscribe_from(ctx, args, Kind::Pattern, "punsubscribe"))
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
///
/// # Returns
/// For each shard channel, `["ssubscribe", channel, count]`, count being shard channels only.
pub fn ssubscribe(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(subscribe_to(ctx, args, Kind::Shard, "ssubscribe"))
}

/// SUNSUBSCRIBE [shardchannel [shardchannel ...]]
pub fn sunsubscribe(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(unsubscribe_from(ctx, args, Kind::Shard, "sunsubscribe"))
}

/// PUBLISH channel message
///
/// # Returns
/// How many subscriptions received the message (channel subscribers plus matching patterns).
pub fn publish(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::from(ctx.shared.pubsub.publish(args.get(1), args.get(2))))
}

/// SPUBLISH shardchannel message
pub fn spublish(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::from(ctx.shared.pubsub.spublish(args.get(1), args.get(2))))
}

/// `ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.`
fn subcommand_syntax(args: Args) -> CmdError {
    CmdError::Other(Cow::Owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        String::from_utf8_lossy(args.get(1))
    )))
}

fn channels(ctx: &Ctx, args: Args, kind: Kind) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(subcommand_syntax(args));
    }
    let pattern = (args.len() == 3).then(|| args.get(2));
    Ok(Reply::Array(ctx.shared.pubsub.names(kind, pattern).into_iter().map(Reply::Bulk).collect()))
}

fn numsub(ctx: &Ctx, args: Args, kind: Kind) -> Reply {
    let mut replies = Vec::with_capacity(2 * (args.len() - 2));
    for name in args.iter().skip(2) {
        replies.push(Reply::bulk(name));
        replies.push(Reply::from(ctx.shared.pubsub.subscriber_count(kind, name)));
    }
    Reply::Array(replies)
}

/// PUBSUB CHANNELS [pattern]
pub fn pubsub_channels(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    channels(ctx, args, Kind::Channel)
}

/// PUBSUB SHARDCHANNELS [pattern]
pub fn pubsub_shardchannels(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    channels(ctx, args, Kind::Shard)
}

/// PUBSUB NUMSUB [channel [channel ...]]
///
/// # Returns
/// A flat array of channel, subscriber count pairs.
pub fn pubsub_numsub(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(numsub(ctx, args, Kind::Channel))
}

/// PUBSUB SHARDNUMSUB [shardchannel [shardchannel ...]]
pub fn pubsub_shardnumsub(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(numsub(ctx, args, Kind::Shard))
}

/// PUBSUB NUMPAT
///
/// # Returns
/// How many distinct patterns clients are subscribed to.
pub fn pubsub_numpat(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::from(ctx.shared.pubsub.pattern_count()))
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::flags::{FAST, LOADING, NOSCRIPT, PUBSUB, STALE, SUBSCRIBED_OK};
use super::table::{Channels, Command};

/// The pub/sub commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("subscribe", -2, subscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK).channels(Channels::Subscribe),
    Command::new("unsubscribe", -1, unsubscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK),
    Command::new("psubscribe", -2, psubscribe)
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK)
        .channels(Channels::SubscribePatterns),
    Command::new("punsubscribe", -1, punsubscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK),
    Command::new("publish", 3, publish).flags(PUBSUB | LOADING | STALE | FAST).channels(Channels::Publish),
    Command::new("pubsub", -2, super::dispatch::container).subcommands(PUBSUB_SUBCOMMANDS),
    Command::new("ssubscribe", -2, ssubscribe)
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK)
        .keys(1, -1, 1)
        .channels(Channels::Subscribe),
    Command::new("sunsubscribe", -1, sunsubscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK).keys(1, -1, 1),
    Command::new("spublish", 3, spublish).flags(PUBSUB | LOADING | STALE | FAST).keys(1, 1, 1).channels(Channels::Publish),
];

static PUBSUB_SUBCOMMANDS: &[Command] = &[
    Command::new("pubsub|channels", -2, pubsub_channels).flags(PUBSUB | LOADING | STALE),
    Command::new("pubsub|numpat", 2, pubsub_numpat).flags(PUBSUB | LOADING | STALE),
    Command::new("pubsub|numsub", -2, pubsub_numsub).flags(PUBSUB | LOADING | STALE),
    Command::new("pubsub|shardchannels", -2, pubsub_shardchannels).flags(PUBSUB | LOADING | STALE),
    Command::new("pubsub|shardnumsub", -2, pubsub_shardnumsub).flags(PUBSUB | LOADING | STALE),
];
