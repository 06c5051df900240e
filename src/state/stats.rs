//! Server-wide counters for INFO stats and commandstats.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters shared by all connections. Connections add to them once per batch of requests, not per
/// command, so the hot path does not bounce these cache lines between cores.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub error_replies: AtomicU64,
    /// Per command-table index: calls, microseconds, rejected calls, failed calls.
    pub per_command: Box<[CommandStat]>,
    /// Recent (timestamp ms, commands processed) samples for instantaneous_ops_per_sec.
    pub ops_samples: Mutex<Vec<(u64, u64)>>,
    /// Error replies by their code (`ERR`, `WRONGTYPE`, ...), for INFO errorstats.
    pub errors_by_code: Mutex<std::collections::BTreeMap<String, u64>>,
}

/// Redis tracks at most this many distinct error codes; later new codes are not counted.
const ERROR_CODES_MAX: usize = 128;

#[derive(Default)]
pub struct CommandStat {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
}

impl Stats {
    pub fn new(commands: usize) -> Stats {
        Stats { per_command: (0..commands).map(|_| CommandStat::default()).collect(), ..Stats::default() }
    }

    pub fn reset(&self) {
        for counter in [
            &self.commands_processed,
            &self.keyspace_hits,
            &self.keyspace_misses,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.error_replies,
            &self.rejected_connections,
            &self.connections_received,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        for stat in self.per_command.iter() {
            for counter in [&stat.calls, &stat.usec, &stat.rejected, &stat.failed] {
                counter.store(0, Ordering::Relaxed);
            }
        }
        if let Ok(mut codes) = self.errors_by_code.lock() {
            codes.clear();
        }
    }

    /// Counts one call of a command straight into the shared counters (commands run by EXEC or a
    /// script, which hold the server exclusively, so nothing contends for these lines).
    pub fn record(&self, command: usize, usec: u64, rejected: bool, failed: bool) {
        if let Some(stat) = self.per_command.get(command) {
            stat.calls.fetch_add(u64::from(!rejected), Ordering::Relaxed);
            stat.usec.fetch_add(usec, Ordering::Relaxed);
            stat.rejected.fetch_add(u64::from(rejected), Ordering::Relaxed);
            stat.failed.fetch_add(u64::from(failed), Ordering::Relaxed);
        }
        self.commands_processed.fetch_add(u64::from(!rejected), Ordering::Relaxed);
    }

    /// A blocked command answered an error when a writer served it. It counted as a call when it
    /// blocked, as Redis counts it, so only the failure and the error reply count now.
    pub fn record_served_error(&self, command: usize) {
        if let Some(stat) = self.per_command.get(command) {
            stat.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.error_replies.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error reply under its code, the first word of `line`. Errors are rare, so a lock is fine.
    pub fn record_error(&self, line: &str) {
        let code = line.split(' ').next().unwrap_or_default();
        if let Ok(mut codes) = self.errors_by_code.lock() {
            if let Some(count) = codes.get_mut(code) {
                *count += 1;
            } else if codes.len() < ERROR_CODES_MAX {
                codes.insert(code.to_owned(), 1);
            }
        }
    }

    /// Records a sample for the ops/sec estimate (called by the server cron).
    pub fn sample_ops(&self, now_ms: u64) {
        let processed = self.commands_processed.load(Ordering::Relaxed);
        if let Ok(mut samples) = self.ops_samples.lock() {
            samples.push((now_ms, processed));
            if samples.len() > 16 {
                samples.remove(0);
            }
        }
    }

    pub fn instantaneous_ops(&self) -> u64 {
        let Ok(samples) = self.ops_samples.lock() else {
            return 0;
        };
        match (samples.first(), samples.last()) {
            (Some((t0, c0)), Some((t1, c1))) if t1 > t0 => (c1 - c0) * 1000 / (t1 - t0),
            _ => 0,
        }
    }
}

/// Counts one connection accumulates between flushes.
#[derive(Default)]
pub struct LocalStats {
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub processed: u64,
    /// The command run most recently and its tallies: pipelines repeat one command, so this absorbs
    /// most updates.
    run: Option<(usize, u64, u64, u64, u64)>,
}

impl LocalStats {
    pub fn record(&mut self, stats: &Stats, command: usize, usec: u64, rejected: bool, failed: bool) {
        self.processed += u64::from(!rejected);
        match &mut self.run {
            Some((id, calls, total, rej, fail)) if *id == command => {
                *calls += u64::from(!rejected);
                *total += usec;
                *rej += u64::from(rejected);
                *fail += u64::from(failed);
            }
            _ => {
                self.flush_run(stats);
                self.run = Some((command, u64::from(!rejected), usec, u64::from(rejected), u64::from(failed)));
            }
        }
    }

    fn flush_run(&mut self, stats: &Stats) {
        if let Some((id, calls, usec, rejected, failed)) = self.run.take() {
            if let Some(stat) = stats.per_command.get(id) {
                stat.calls.fetch_add(calls, Ordering::Relaxed);
                stat.usec.fetch_add(usec, Ordering::Relaxed);
                stat.rejected.fetch_add(rejected, Ordering::Relaxed);
                stat.failed.fetch_add(failed, Ordering::Relaxed);
            }
        }
    }

    pub fn flush(&mut self, stats: &Stats) {
        self.flush_run(stats);
        for (local, global) in [
            (&mut self.hits, &stats.keyspace_hits),
            (&mut self.misses, &stats.keyspace_misses),
            (&mut self.errors, &stats.error_replies),
            (&mut self.processed, &stats.commands_processed),
        ] {
            if *local > 0 {
                global.fetch_add(std::mem::take(local), Ordering::Relaxed);
            }
        }
    }
}
