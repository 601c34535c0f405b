//! What one run measured, and the tables it prints as.

use mithril_sim::Counters;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Mithril requests per endpoint (`METHOD /route/template`), all outcomes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestCounts(pub BTreeMap<String, u64>);

impl RequestCounts {
    pub fn from_counters(counters: &Counters) -> Self {
        let mut counts = BTreeMap::new();
        for (key, count) in &counters.entries {
            *counts
                .entry(format!("{} {}", key.method, key.route))
                .or_insert(0) += count;
        }
        Self(counts)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn get(&self, endpoint: &str) -> u64 {
        self.0.get(endpoint).copied().unwrap_or(0)
    }
}

/// Reconciles per trigger (`kind: reason`), from the operator's `reconcile_triggers_total`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriggerCounts(pub BTreeMap<String, u64>);

impl TriggerCounts {
    /// Reads every `reconcile_triggers_total` sample of an exposition.
    pub fn from_exposition(exposition: &str) -> Self {
        let mut counts = BTreeMap::new();
        for line in exposition.lines().filter(|line| !line.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Some((metric, labels)) = series.split_once('{') else {
                continue;
            };
            if !metric.ends_with("reconcile_triggers_total") {
                continue;
            }
            let label = |name: &str| {
                let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
                let end = labels[start..].find('"')? + start;
                Some(labels[start..end].to_owned())
            };
            let (Some(kind), Some(reason), Ok(value)) =
                (label("kind"), label("reason"), value.parse::<f64>())
            else {
                continue;
            };
            *counts.entry(format!("{kind}: {reason}")).or_insert(0) += value as u64;
        }
        Self(counts)
    }

    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &TriggerCounts) -> TriggerCounts {
        TriggerCounts(
            self.0
                .iter()
                .map(|(key, count)| {
                    let before = earlier.0.get(key).copied().unwrap_or(0);
                    (key.clone(), count.saturating_sub(before))
                })
                .filter(|(_, count)| *count > 0)
                .collect(),
        )
    }

    pub fn get(&self, trigger: &str) -> u64 {
        self.0.get(trigger).copied().unwrap_or(0)
    }
}

/// The median and 99th percentile of timed samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latencies {
    pub samples: usize,
    pub p50: Duration,
    pub p99: Duration,
}

impl Latencies {
    pub fn from_samples(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let rank = |percent: usize| -> Duration {
            if samples.is_empty() {
                return Duration::ZERO;
            }
            // Nearest rank: the smallest sample with at least `percent` % of samples at or below it.
            let rank = (samples.len() * percent).div_ceil(100).max(1);
            samples[rank - 1]
        };
        Self {
            samples: samples.len(),
            p50: rank(50),
            p99: rank(99),
        }
    }
}

/// One run's figures.
#[derive(Debug, Clone)]
pub struct Figures {
    pub resources: usize,
    /// Ended bids in the project before the run.
    pub history: usize,
    /// From the first create until every resource is Ready.
    pub ready: Duration,
    /// The same bids placed directly, until every instance runs.
    pub floor: Duration,
    pub convergence: RequestCounts,
    pub reconciles_convergence: u64,
    pub steady: RequestCounts,
    /// The steady window: this many Kubernetes resync intervals.
    pub steady_resyncs: u32,
    /// Observation cycles the operator completed in the steady window (its metrics); 0 when not
    /// read.
    pub cycles_steady: u64,
    /// The operator's Mithril observation (poll) interval and Kubernetes resync interval.
    pub poll_interval: Duration,
    pub resync_interval: Duration,
    pub reconciles_steady: u64,
    /// Reconciles by trigger while converging and in the steady window.
    pub triggers_convergence: TriggerCounts,
    pub triggers_steady: TriggerCounts,
    pub peak_rss_bytes: u64,
    /// At the end of the run (steady state): private memory and the executable's mapped pages.
    pub rss_anon_bytes: u64,
    pub rss_file_bytes: u64,
    pub cpu_seconds: f64,
    pub edit_to_patch: Latencies,
    pub change_to_status: Latencies,
}

impl Figures {
    pub fn ratio(&self) -> f64 {
        self.ready.as_secs_f64() / self.floor.as_secs_f64().max(f64::EPSILON)
    }

    /// Mithril observation cycles in the steady window: as the operator counted them, else the
    /// window over the poll interval (a cycle takes its own time beside the interval's wait).
    pub fn steady_cycles(&self) -> f64 {
        if self.cycles_steady > 0 {
            return self.cycles_steady as f64;
        }
        let window = self.resync_interval.as_secs_f64() * f64::from(self.steady_resyncs.max(1));
        (window / self.poll_interval.as_secs_f64().max(f64::EPSILON)).max(1.0)
    }

    /// Mithril requests per observation cycle in the steady state: the operator's resync against
    /// Mithril (one paged list of bids, the unsettled instances, the market).
    pub fn steady_per_cycle(&self) -> f64 {
        self.steady.total() as f64 / self.steady_cycles()
    }

    /// Mithril requests per Kubernetes resync interval in the steady state. The resync's
    /// reconciles read the observers' cache, so this is the cycles that fit in one interval.
    pub fn steady_per_resync(&self) -> f64 {
        self.steady.total() as f64 / f64::from(self.steady_resyncs.max(1))
    }

    /// The steady-state goal per observation cycle: the pages of the live bids plus two requests,
    /// plus three for listing each of the four live statuses on its own (every bid is Allocated:
    /// the other three lists are one empty page each), plus the spend reads' budget a cycle.
    /// Ended bids add nothing.
    pub fn steady_goal(&self) -> u64 {
        let spend = crate::observe::ObserverConfig::default().spend_reads_per_cycle;
        self.resources.div_ceil(100) as u64 + 2 + 3 + u64::from(spend)
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// The median of one figure over a size's runs, and its range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (none: all zero).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut values: Vec<f64> = values.into_iter().collect();
        values.sort_by(f64::total_cmp);
        let (Some(&min), Some(&max)) = (values.first(), values.last()) else {
            return Self {
                median: 0.0,
                min: 0.0,
                max: 0.0,
            };
        };
        let middle = values.len() / 2;
        let median = if values.len() % 2 == 1 {
            values[middle]
        } else {
            (values[middle - 1] + values[middle]) / 2.0
        };
        Self { median, min, max }
    }

    /// `median (min-max)` with `decimals` digits; the median alone when every run agreed.
    pub fn show(&self, decimals: usize) -> String {
        if self.min == self.max {
            format!("{:.decimals$}", self.median)
        } else {
            format!(
                "{:.decimals$} ({:.decimals$}-{:.decimals$})",
                self.median, self.min, self.max
            )
        }
    }
}

/// One figure of every run, as its spread shown with `decimals` digits.
fn spread(runs: &[Figures], decimals: usize, figure: impl Fn(&Figures) -> f64) -> String {
    Spread::of(runs.iter().map(figure)).show(decimals)
}

/// The summary table (Markdown): one row per size, each figure the median (and range) of the
/// size's runs.
pub fn summary_table(sizes: &[Vec<Figures>]) -> String {
    let mut out = String::new();
    out.push_str("| N | Runs | Ready (s) | Floor (s) | Ratio (goal <= 1.5) | Mithril req. converging | Mithril req. / observation cycle (goal, spend reads included) | Mithril req. / Kubernetes resync | Reconciles converging / steady | Peak RSS (MiB) | RSS at end: anon / file (MiB) | CPU (s) | Edit->PATCH p50 / p99 (ms) | Mithril change->status p50 / p99 (ms) | Ended bids in the project |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for runs in sizes {
        let Some(first) = runs.first() else {
            continue;
        };
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} / {} | {} | {} / {} | {} | {} / {} | {} / {} | {} |",
            first.resources,
            runs.len(),
            spread(runs, 2, |r| r.ready.as_secs_f64()),
            spread(runs, 2, |r| r.floor.as_secs_f64()),
            spread(runs, 2, Figures::ratio),
            spread(runs, 0, |r| r.convergence.total() as f64),
            spread(runs, 1, Figures::steady_per_cycle),
            first.steady_goal(),
            spread(runs, 1, Figures::steady_per_resync),
            spread(runs, 0, |r| r.reconciles_convergence as f64),
            spread(runs, 0, |r| r.reconciles_steady as f64),
            spread(runs, 1, |r| r.peak_rss_bytes as f64 / MIB),
            spread(runs, 1, |r| r.rss_anon_bytes as f64 / MIB),
            spread(runs, 1, |r| r.rss_file_bytes as f64 / MIB),
            spread(runs, 2, |r| r.cpu_seconds),
            spread(runs, 0, |r| ms(r.edit_to_patch.p50)),
            spread(runs, 0, |r| ms(r.edit_to_patch.p99)),
            spread(runs, 0, |r| ms(r.change_to_status.p50)),
            spread(runs, 0, |r| ms(r.change_to_status.p99)),
            first.history,
        );
    }
    out
}

/// Convergence at another resync interval (the operator's default): one row per size, each
/// figure the median (and range) of the size's runs.
pub fn convergence_table(sizes: &[Vec<Figures>]) -> String {
    let mut out = String::new();
    out.push_str("| N | Runs | Resync | Ready (s) | Floor (s) | Ratio (goal <= 1.5) | Reconciles converging | CPU (s) |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for runs in sizes {
        let Some(first) = runs.first() else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:?} | {} | {} | {} | {} | {} |",
            first.resources,
            runs.len(),
            first.resync_interval,
            spread(runs, 2, |r| r.ready.as_secs_f64()),
            spread(runs, 2, |r| r.floor.as_secs_f64()),
            spread(runs, 2, Figures::ratio),
            spread(runs, 0, |r| r.reconciles_convergence as f64),
            spread(runs, 2, |r| r.cpu_seconds),
        );
    }
    out
}

/// Requests per endpoint, converging and steady, one table per size.
pub fn endpoint_table(run: &Figures) -> String {
    let mut endpoints: Vec<&String> = run
        .convergence
        .0
        .keys()
        .chain(run.steady.0.keys())
        .collect();
    endpoints.sort();
    endpoints.dedup();
    let mut out = format!(
        "Mithril requests per endpoint, N = {} (steady window: {} Kubernetes resyncs of {:?} = {:.0} observation cycles of {:?})\n\n| Endpoint | Converging | Steady | Steady / observation cycle | Steady / Kubernetes resync |\n|---|---:|---:|---:|---:|\n",
        run.resources,
        run.steady_resyncs,
        run.resync_interval,
        run.steady_cycles(),
        run.poll_interval
    );
    for endpoint in endpoints {
        let steady = run.steady.get(endpoint);
        let _ = writeln!(
            out,
            "| `{endpoint}` | {} | {steady} | {:.1} | {:.1} |",
            run.convergence.get(endpoint),
            steady as f64 / run.steady_cycles(),
            steady as f64 / f64::from(run.steady_resyncs.max(1)),
        );
    }
    out
}

/// Reconciles per trigger, converging and steady, one table per size.
pub fn trigger_table(run: &Figures) -> String {
    let mut triggers: Vec<&String> = run
        .triggers_convergence
        .0
        .keys()
        .chain(run.triggers_steady.0.keys())
        .collect();
    triggers.sort();
    triggers.dedup();
    let per_resource = |count: u64| count as f64 / run.resources.max(1) as f64;
    let mut out = format!(
        "Reconciles by trigger, N = {}\n\n| Trigger | Converging | per resource | Steady |\n|---|---:|---:|---:|\n",
        run.resources
    );
    for trigger in triggers {
        let converging = run.triggers_convergence.get(trigger);
        let _ = writeln!(
            out,
            "| {trigger} | {converging} | {:.2} | {} |",
            per_resource(converging),
            run.triggers_steady.get(trigger),
        );
    }
    out
}

/// Sums every sample of a Prometheus counter (all label sets) in the text exposition format.
/// Matches the name with or without a namespace prefix (`mithril_operator_reconciles_total`).
pub fn sum_metric(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name || metric.ends_with(&format!("_{name}")))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let latencies = Latencies::from_samples(samples);
        assert_eq!(latencies.p50, Duration::from_millis(50));
        assert_eq!(latencies.p99, Duration::from_millis(99));
        let one = Latencies::from_samples(vec![Duration::from_millis(7)]);
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
        assert_eq!(Latencies::from_samples(Vec::new()).samples, 0);
    }

    #[test]
    fn a_spread_is_the_median_and_the_range() {
        let odd = Spread::of([3.0, 1.0, 2.0]);
        assert_eq!((odd.median, odd.min, odd.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of([4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(odd.show(1), "2.0 (1.0-3.0)");
        assert_eq!(Spread::of([1.5, 1.5]).show(2), "1.50");
        assert_eq!(Spread::of(Vec::new()).show(0), "0");
    }

    #[test]
    fn sums_a_counter_over_its_label_sets() {
        let text = "# HELP reconciles Reconciles run\n# TYPE reconciles counter\nmithril_operator_reconciles_total{kind=\"spotbid\"} 12\nreconciles_total{kind=\"other\"} 3\nreconcile_errors_total{kind=\"spotbid\"} 9\n";
        assert_eq!(sum_metric(text, "reconciles_total"), 15.0);
    }

    #[test]
    fn reads_reconcile_triggers_by_kind_and_reason() {
        let before = TriggerCounts::from_exposition(
            "mithril_operator_reconcile_triggers_total{kind=\"spotbid\",reason=\"object_updated\"} 2\n",
        );
        let after = TriggerCounts::from_exposition(
            "# TYPE mithril_operator_reconcile_triggers counter\n\
             mithril_operator_reconcile_triggers_total{kind=\"spotbid\",reason=\"object_updated\"} 5\n\
             mithril_operator_reconcile_triggers_total{kind=\"spotbid\",reason=\"unknown\"} 4\n\
             mithril_operator_reconciles_total{kind=\"spotbid\"} 9\n",
        );
        let since = after.since(&before);
        assert_eq!(since.get("spotbid: object_updated"), 3);
        assert_eq!(since.get("spotbid: unknown"), 4);
        assert_eq!(since.0.len(), 2);
    }
}
