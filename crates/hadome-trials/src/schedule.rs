//! A trial's plan, drawn from its seed alone: the topology and a schedule of 1–3 faults.
//!
//! Pure: the same seed gives the same plan on any machine, which is what makes a failed trial
//! reproducible (`SEEDS=N bench/trials.sh`). Faults name their victims by role ("the primary",
//! "standby #k", "link #k"), resolved against the lab's live state when the fault is applied: after
//! a failover, "the primary" is the new one, which is the interesting victim.

use std::fmt;

/// The topologies a trial may run on (`hadome-lab`'s built-ins).
pub const TOPOLOGIES: [&str; 3] = ["trio", "misskey", "mackerel"];

/// splitmix64: small, fast, and good enough to spread seeds over schedules.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6861_646f_6d65_7472) // "hadometr": seed 0 is not a zero state
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Which node a fault hits, resolved when it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The member accepting writes then (the topology's primary when none answers).
    Primary,
    /// The `k`-th standby (modulo how many there are then), in topology order.
    Standby(usize),
}

/// One fault of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// SIGKILL of the postmaster.
    Crash(Who),
    /// SIGSTOP of every process of the instance (resumed when the trial heals).
    Hang(Who),
    /// SIGSTOP of the postmaster alone.
    HangPostmaster(Who),
    /// SIGCONT of every hung node (a resume in the middle of the schedule).
    Resume,
    /// Cut the `k`-th replication link in use (healed when the trial heals, or by `Heal`).
    Cut(usize),
    /// Heal every cut link.
    Heal,
    /// Close the node's client port (hadome and clients lose it; replication stays).
    Isolate(Who),
    /// Reopen every isolated node's client port.
    Rejoin,
    /// Make the `k`-th slot-less standby unable ever to catch up (misskey's db-3).
    Stall(usize),
    /// A clean stop of a standby (started again when the trial heals, if still stopped).
    Stop(usize),
    /// kill -9 of the daemon, started again `restart_after_ms` later.
    KillDaemon {
        /// How long the estate runs unsupervised.
        restart_after_ms: u64,
    },
}

impl Step {
    /// The fault's name in the results (`crash`, `hang`, …), its victim left out.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Crash(_) => "crash",
            Step::Hang(_) => "hang",
            Step::HangPostmaster(_) => "hang-postmaster",
            Step::Resume => "resume",
            Step::Cut(_) => "cut",
            Step::Heal => "heal",
            Step::Isolate(_) => "isolate",
            Step::Rejoin => "rejoin",
            Step::Stall(_) => "stall",
            Step::Stop(_) => "stop",
            Step::KillDaemon { .. } => "kill-daemon",
        }
    }

    /// Whether the fault can make the daemon fail over (it takes the primary away).
    pub fn hits_primary(&self) -> bool {
        matches!(
            self,
            Step::Crash(Who::Primary)
                | Step::Hang(Who::Primary)
                | Step::HangPostmaster(Who::Primary)
                | Step::Isolate(Who::Primary)
        )
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = |who: &Who| match who {
            Who::Primary => "primary".to_owned(),
            Who::Standby(k) => format!("standby#{k}"),
        };
        match self {
            Step::Crash(w) | Step::Hang(w) | Step::HangPostmaster(w) | Step::Isolate(w) => {
                write!(f, "{} {}", self.kind(), who(w))
            }
            Step::Cut(k) => write!(f, "cut link#{k}"),
            Step::Stall(k) | Step::Stop(k) => write!(f, "{} standby#{k}", self.kind()),
            Step::KillDaemon { restart_after_ms } => {
                write!(f, "kill-daemon (restart after {restart_after_ms} ms)")
            }
            Step::Resume | Step::Heal | Step::Rejoin => f.write_str(self.kind()),
        }
    }
}

/// When a fault is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `ms` after the write load's warm-up.
    At(u64),
    /// `delay_ms` after the daemon journals a failover's intent: a second fault during a failover.
    /// Applied at the schedule's end when no failover comes.
    DuringFailover(u64),
}

/// A trial's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The seed it was drawn from.
    pub seed: u64,
    /// The lab topology.
    pub topology: &'static str,
    /// The faults, in the order they are applied (timed ones by time, then one during a failover).
    pub faults: Vec<(When, Step)>,
}

impl Plan {
    /// The fault mix the results group by: the kinds, sorted, `+`-joined, with `(during failover)`
    /// marking a fault applied during one (`crash+hang(during failover)`).
    pub fn mix(&self) -> String {
        let mut kinds: Vec<String> = self
            .faults
            .iter()
            .map(|(when, step)| match when {
                When::At(_) => step.kind().to_owned(),
                When::DuringFailover(_) => format!("{}(during failover)", step.kind()),
            })
            .collect();
        kinds.sort();
        kinds.join("+")
    }

    /// The schedule, one line, for logs and failure reports.
    pub fn describe(&self) -> String {
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(when, step)| match when {
                When::At(ms) => format!("{step} at +{ms} ms"),
                When::DuringFailover(ms) => format!("{step} {ms} ms into a failover"),
            })
            .collect();
        format!(
            "seed {} on {}: {}",
            self.seed,
            self.topology,
            faults.join(", ")
        )
    }
}

/// The shape of a topology that planning needs: how many standbys, links and slot-less standbys.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Standbys (every node but the primary).
    pub standbys: usize,
    /// Replication links (one per standby).
    pub links: usize,
    /// Standbys `stall` applies to: no replication slot kept for them, not synchronous.
    pub slotless: usize,
}

/// The latest moment of a timed fault, after the warm-up.
pub const WINDOW_MS: u64 = 6_000;

/// The plan for `seed`, on a topology whose shape `shape_of` gives.
pub fn plan(seed: u64, shape_of: impl Fn(&str) -> Shape) -> Plan {
    let mut rng = Rng::new(seed);
    let topology = TOPOLOGIES[rng.below(TOPOLOGIES.len() as u64) as usize];
    let shape = shape_of(topology);
    let count = rng.between(1, 3) as usize;
    let mut times: Vec<u64> = (0..count).map(|_| rng.below(WINDOW_MS)).collect();
    times.sort_unstable();
    // The first fault harms; later ones may also undo (resume, heal, rejoin) what came before.
    let timed: Vec<(u64, Step)> = times
        .into_iter()
        .enumerate()
        .map(|(index, at)| (at, draw(&mut rng, shape, index > 0)))
        .collect();
    let mut faults: Vec<(When, Step)> = timed
        .into_iter()
        .map(|(at, step)| (When::At(at), step))
        .collect();
    // A second fault during a failover, when the schedule can cause one and has room: the last
    // fault moves to the failover's start.
    if faults.len() >= 2 && faults[0].1.hits_primary() && rng.chance(50) {
        let last = faults.len() - 1;
        let delay = rng.below(1_500);
        faults[last].0 = When::DuringFailover(delay);
    }
    Plan {
        seed,
        topology,
        faults,
    }
}

/// One fault, weighted toward the ones that make a supervisor act; `undo` allows the faults that
/// only undo an earlier one.
fn draw(rng: &mut Rng, shape: Shape, undo: bool) -> Step {
    let who = |rng: &mut Rng| {
        if shape.standbys == 0 || rng.chance(60) {
            Who::Primary
        } else {
            Who::Standby(rng.below(shape.standbys as u64) as usize)
        }
    };
    let standby = |rng: &mut Rng| rng.below(shape.standbys.max(1) as u64) as usize;
    loop {
        let step = match rng.below(100) {
            0..=13 => Step::Crash(who(rng)),
            14..=29 => Step::Hang(who(rng)),
            30..=39 => Step::HangPostmaster(who(rng)),
            40..=43 if undo => Step::Resume,
            44..=55 => Step::Cut(rng.below(shape.links.max(1) as u64) as usize),
            56..=59 if undo => Step::Heal,
            60..=69 => Step::Isolate(who(rng)),
            70..=72 if undo => Step::Rejoin,
            73..=79 if shape.slotless > 0 => Step::Stall(rng.below(shape.slotless as u64) as usize),
            80..=89 if shape.standbys > 0 => Step::Stop(standby(rng)),
            90..=99 => Step::KillDaemon {
                restart_after_ms: rng.between(200, 5_000),
            },
            _ => continue,
        };
        return step;
    }
}

/// Parses `SEEDS`: `7`, `1-100`, `1,5,9-12`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let mut seeds = Vec::new();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let number = |word: &str| {
            word.trim().parse::<u64>().map_err(|_| {
                format!("`{word}` in SEEDS=`{text}` is not a seed: write N, A-B or a comma list of them (1-100, 7, 1,5,9-12)")
            })
        };
        match part.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (number(low)?, number(high)?);
                if low > high {
                    return Err(format!(
                        "`{part}` in SEEDS=`{text}` runs backwards: write {high}-{low}"
                    ));
                }
                seeds.extend(low..=high);
            }
            None => seeds.push(number(part)?),
        }
    }
    if seeds.is_empty() {
        return Err("SEEDS is empty: write N, A-B or a comma list (1-100)".to_owned());
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(topology: &str) -> Shape {
        match topology {
            "trio" => Shape {
                standbys: 2,
                links: 2,
                slotless: 1,
            },
            "misskey" => Shape {
                standbys: 3,
                links: 3,
                slotless: 2,
            },
            _ => Shape {
                standbys: 2,
                links: 2,
                slotless: 2,
            },
        }
    }

    #[test]
    fn a_seed_gives_the_same_plan_every_time_and_seeds_differ() {
        assert_eq!(plan(17, shape), plan(17, shape));
        let plans: Vec<Plan> = (1..=100).map(|seed| plan(seed, shape)).collect();
        let distinct: std::collections::HashSet<String> =
            plans.iter().map(Plan::describe).collect();
        assert_eq!(distinct.len(), 100, "every seed its own schedule");
    }

    #[test]
    fn a_hundred_seeds_cover_every_topology_fault_and_a_fault_during_a_failover() {
        let plans: Vec<Plan> = (1..=100).map(|seed| plan(seed, shape)).collect();
        for topology in TOPOLOGIES {
            assert!(
                plans.iter().any(|plan| plan.topology == topology),
                "{topology}"
            );
        }
        let kinds: std::collections::HashSet<&str> = plans
            .iter()
            .flat_map(|plan| plan.faults.iter().map(|(_, step)| step.kind()))
            .collect();
        for kind in [
            "crash",
            "hang",
            "hang-postmaster",
            "resume",
            "cut",
            "heal",
            "isolate",
            "rejoin",
            "stall",
            "stop",
            "kill-daemon",
        ] {
            assert!(kinds.contains(kind), "{kind} in {kinds:?}");
        }
        assert!(plans.iter().any(|plan| plan
            .faults
            .iter()
            .any(|(when, _)| matches!(when, When::DuringFailover(_)))));
        for plan in &plans {
            assert!((1..=3).contains(&plan.faults.len()), "{}", plan.describe());
            let stalls = plan
                .faults
                .iter()
                .any(|(_, step)| matches!(step, Step::Stall(_)));
            assert!(
                !stalls || shape(plan.topology).slotless > 0,
                "{}",
                plan.describe()
            );
            let first = plan.faults[0].1;
            assert!(
                !matches!(first, Step::Resume | Step::Heal | Step::Rejoin),
                "the first fault harms: {}",
                plan.describe()
            );
        }
    }

    #[test]
    fn seeds_are_read_as_numbers_ranges_and_lists_and_bad_ones_are_named() {
        assert_eq!(parse_seeds("1-3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("7").unwrap(), vec![7]);
        assert_eq!(parse_seeds("1, 5,9-10").unwrap(), vec![1, 5, 9, 10]);
        let error = parse_seeds("1-x").unwrap_err();
        assert!(error.contains("`x`"), "{error}");
        let error = parse_seeds("5-2").unwrap_err();
        assert!(error.contains("write 2-5"), "{error}");
        assert!(parse_seeds("").is_err());
    }
}
