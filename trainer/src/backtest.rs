//! `aegis-trainer backtest`: what a model and a rule set would have decided over history, decided
//! by the stream's own code — [`aegis_core::decide::decide`] with the account state replayed in
//! order for PaySim, [`aegis_core::decide::spec_verdict`] with the spec's feature engine for any
//! other spec — and judged by the rows' labels.
//!
//! It reports, per decision, counts and the share of all rows (the alert rate is REVIEW + BLOCK),
//! precision (frauds among the labelled rows so decided) and, for BLOCK and for REVIEW-or-BLOCK,
//! recall, each with its 95 % Wilson interval; the money stopped, reviewed, missed and wrongly
//! blocked; and each rule's hits and precision on the labelled rows it fired on. With
//! `--against-model` / `--against-rules` (what is live), it lists what would change.
//!
//! Every row feeds the features' history; `--from` / `--until` choose the rows reported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aegis_core::avro::SpecCodec;
use aegis_core::paysim::PaysimReader;
use aegis_core::rules::RuleSet;
use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::record::{Record, RecordReader};
use aegis_core::verdict::Explanation;
use aegis_core::{Decision, Model, Transaction, Verdict};
use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use crate::metrics::{wilson, Interval};
use crate::spec::period;

/// Flags of `aegis-trainer backtest`.
#[derive(Args, Debug, Clone)]
pub struct BacktestArgs {
    /// The model artifact (its spec reads the data).
    #[arg(long)]
    pub model: PathBuf,
    /// A rule set (JSON, docs/rules.md), read against the model's spec; none: the model alone.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// The history: a CSV of the model's spec, with labels (or --brokers and --since).
    #[cfg_attr(
        feature = "publish",
        arg(long, required_unless_present = "brokers", conflicts_with = "brokers")
    )]
    #[cfg_attr(not(feature = "publish"), arg(long, required = true))]
    pub data: Option<PathBuf>,
    /// The history read from Kafka instead: `--brokers B --since T`.
    #[cfg(feature = "publish")]
    #[command(flatten)]
    pub kafka: crate::history::KafkaHistoryArgs,
    /// Report rows from this date on (`YYYY-MM-DD`, UTC, or a timestamp); earlier rows still
    /// feed the features' history. Needs --until.
    #[arg(long)]
    pub from: Option<String>,
    /// Report rows before this date (exclusive).
    #[arg(long)]
    pub until: Option<String>,
    /// Compare with this model (what is live): list what would change.
    #[arg(long)]
    pub against_model: Option<PathBuf>,
    /// Compare with this rule set (with --against-model, or with --model when not given).
    #[arg(long)]
    pub against_rules: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a backtest found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub model_version: String,
    /// `name@version` of the rule set, or `none`.
    pub rules: String,
    pub spec: String,
    pub data: String,
    pub from: Option<String>,
    pub until: Option<String>,
    /// Rows reported, and those with a label.
    pub rows: usize,
    pub labelled: usize,
    pub frauds: usize,
    /// Rows from the time the model was fitted or thresholded on: figures that include them are
    /// optimistic.
    pub seen_rows: usize,
    /// (REVIEW + BLOCK) ÷ rows.
    pub alert_rate: f64,
    pub decisions: Vec<DecisionFigures>,
    /// BLOCK, and REVIEW or BLOCK, as the positive call.
    pub flagged: Vec<FlaggedFigures>,
    pub money: Money,
    pub rule_hits: Vec<RuleFigures>,
    pub against: Option<Changes>,
}

/// One decision's rows.
#[derive(Clone, Debug, Serialize)]
pub struct DecisionFigures {
    pub decision: Decision,
    pub count: usize,
    /// ÷ rows.
    pub share: f64,
    pub labelled: usize,
    pub frauds: usize,
    /// Frauds ÷ labelled rows so decided, with its interval (absent without labelled rows).
    pub precision: Option<Figure>,
}

/// A flagged set: precision and recall with intervals.
#[derive(Clone, Debug, Serialize)]
pub struct FlaggedFigures {
    /// `BLOCK` or `REVIEW or BLOCK`.
    pub flagged: &'static str,
    pub precision: Option<Figure>,
    pub recall: Option<Figure>,
}

/// A proportion and its 95 % Wilson interval.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Figure {
    pub value: f64,
    pub interval: Interval,
    /// The rows it is a proportion of.
    pub of: usize,
}

impl Figure {
    fn of(hits: usize, n: usize) -> Option<Figure> {
        (n > 0).then(|| {
            let value = hits as f64 / n as f64;
            Figure {
                value,
                interval: wilson(value, n as f64),
                of: n,
            }
        })
    }
}

/// Money by decision and label.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Money {
    /// Fraud BLOCKed.
    pub fraud_blocked: f64,
    /// Fraud sent to REVIEW.
    pub fraud_reviewed: f64,
    /// Fraud ALLOWed: missed.
    pub fraud_missed: f64,
    /// Legitimate money BLOCKed.
    pub legit_blocked: f64,
}

/// One rule over the rows reported.
#[derive(Clone, Debug, Serialize)]
pub struct RuleFigures {
    pub name: String,
    pub action: Decision,
    pub hits: usize,
    pub labelled_hits: usize,
    pub frauds: usize,
    /// Frauds ÷ labelled hits.
    pub precision: Option<Figure>,
}

/// What would change from the compared model and rules.
#[derive(Clone, Debug, Serialize)]
pub struct Changes {
    pub model_version: String,
    pub rules: String,
    /// Rows decided differently.
    pub changed: usize,
    /// (from: the compared, to: this backtest's) → rows, and how many of them were fraud.
    pub moves: Vec<Move>,
    /// The first changed rows, in order.
    pub examples: Vec<Example>,
}

/// Rows moving from one decision to another.
#[derive(Clone, Debug, Serialize)]
pub struct Move {
    pub from: Decision,
    pub to: Decision,
    pub rows: usize,
    pub frauds: usize,
}

/// One changed row.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub tx_id: String,
    pub event_time: i64,
    pub from: Decision,
    pub to: Decision,
    pub probability_from: f64,
    pub probability_to: f64,
    pub rules_from: Vec<String>,
    pub rules_to: Vec<String>,
    pub is_fraud: Option<bool>,
    /// Why this backtest's model scored the row as it did, when it is REVIEW or BLOCK: the
    /// verdict's explanation (docs/explanations.md).
    pub explanation_to: Option<Explanation>,
}

/// Changed rows listed in a report.
const EXAMPLES: usize = 20;

/// One decided row: the verdict and the row's label.
#[derive(Clone, Debug)]
pub struct Decided {
    pub verdict: Verdict,
    pub is_fraud: Option<bool>,
    /// The row is from the time the model was fitted or thresholded on.
    pub seen: bool,
}

/// Runs `aegis-trainer backtest`: prints the report.
pub fn run(args: &BacktestArgs) -> Result<()> {
    let report = backtest(args)?;
    if report.seen_rows > 0 {
        eprintln!(
            "aegis-trainer: warning: {} of {} rows are from the time the model was fitted or thresholded on: figures that include them are optimistic; backtest later rows with --from/--until",
            report.seen_rows, report.rows
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// The backtest `args` ask for.
pub fn backtest(args: &BacktestArgs) -> Result<Report> {
    let period = period::from_flags(
        args.from.as_deref(),
        args.until.as_deref(),
        ["--from", "--until"],
    )?;
    let (model, rules) = load(&args.model, args.rules.as_deref())?;
    let (history, source) = read_history(&model, args)?;
    let in_period = |t: i64| period.is_none_or(|p| p.from_ms <= t && t < p.until_ms);
    let rows: Vec<Decided> = decide(&model, &rules, &history)?
        .into_iter()
        .filter(|d| in_period(d.verdict.event_time))
        .collect();
    let mut report = judge(&model, &rules, &rows);
    report.data = source;
    report.from = period.map(|p| period::instant(p.from_ms));
    report.until = period.map(|p| period::instant(p.until_ms));
    if args.against_model.is_some() || args.against_rules.is_some() {
        let against_model = args.against_model.as_deref().unwrap_or(&args.model);
        let (old_model, old_rules) = load(against_model, args.against_rules.as_deref())?;
        old_model
            .expect_spec(against_model, model.spec())
            .context("--against-model")?;
        let old: Vec<Decided> = decide(&old_model, &old_rules, &history)?
            .into_iter()
            .filter(|d| in_period(d.verdict.event_time))
            .collect();
        report.against = Some(compare(&old_model, &old_rules, &old, &rows));
    }
    Ok(report)
}

/// The history `args` name — `--data`, or the topics with `--brokers` and `--since` — and how
/// the report names it.
fn read_history(model: &Model, args: &BacktestArgs) -> Result<(History, String)> {
    #[cfg(feature = "publish")]
    if args.kafka.brokers.is_some() {
        let read = crate::history::read(model.spec(), &args.kafka)?;
        let source = read.summary(&args.kafka);
        return Ok((read.history, source));
    }
    let data = args
        .data
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("give --data (or --brokers and --since)"))?;
    Ok((read_csv(model, data)?, data.display().to_string()))
}

fn load(model: &Path, rules: Option<&Path>) -> Result<(Model, RuleSet)> {
    let model = Model::load(model)?;
    let rules = match rules {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("--rules {}", path.display()))?;
            RuleSet::from_json_for(&bytes, model.spec())
                .with_context(|| format!("--rules {}", path.display()))?
        }
        None => RuleSet::empty(),
    };
    Ok((model, rules))
}

fn describe_rules(rules: &RuleSet) -> String {
    if rules.rules.is_empty() {
        "none".into()
    } else {
        format!("{}@{}", rules.name, rules.version)
    }
}

/// Transactions to decide, each with its label if known: a CSV's rows, or the topics' records
/// (`crate::history`).
pub enum History {
    /// PaySim transactions.
    Paysim(Vec<Transaction>),
    /// A spec's records.
    Spec(Vec<Record>),
}

/// Every row of the CSV `data`, read as `model`'s spec.
pub fn read_csv(model: &Model, data: &Path) -> Result<History> {
    if model.is_paysim() {
        let mut txs: Vec<Transaction> = Vec::new();
        for row in PaysimReader::open(data)? {
            txs.push(row?.transaction);
        }
        Ok(History::Paysim(txs))
    } else {
        let mut records = Vec::new();
        for record in RecordReader::open(model.spec(), data)? {
            records.push(record?);
        }
        Ok(History::Spec(records))
    }
}

/// Every row of `data` decided as the stream decides it ([`read_csv`], then [`decide`]).
pub fn decide_history(model: &Model, rules: &RuleSet, data: &Path) -> Result<Vec<Decided>> {
    decide(model, rules, &read_csv(model, data)?)
}

/// Every transaction of `history` decided as the stream decides it, in the stream's order
/// (event time; PaySim: step, rows of a step in the order given).
pub fn decide(model: &Model, rules: &RuleSet, history: &History) -> Result<Vec<Decided>> {
    match history {
        History::Paysim(txs) => {
            let mut txs = txs.clone();
            txs.sort_by_key(|tx| tx.step);
            let (states, _) = crate::state::replay(&txs, &Default::default());
            let order: Vec<&Transaction> = txs.iter().collect();
            let verdicts = aegis_core::decide::decide(model, rules, &order, &states, 0);
            Ok(verdicts
                .into_iter()
                .zip(&txs)
                .map(|(verdict, tx)| Decided {
                    verdict,
                    is_fraud: tx.is_fraud,
                    seen: model.training().has_seen_step(tx.step),
                })
                .collect())
        }
        History::Spec(records) => {
            let spec = model.spec();
            let codec = SpecCodec::new(spec)?;
            let mut records: Vec<&Record> = records.iter().collect();
            records.sort_by_key(|r| r.event_time_ms); // stable: the trainer's and the stream's order
            let mut engine = FeatureEngine::new(spec);
            let mut features = Vec::new();
            Ok(records
                .into_iter()
                .map(|record| {
                    engine.observe(record, &mut features);
                    let tx_id = engine.id_of(record).to_string();
                    Decided {
                        verdict: aegis_core::decide::spec_verdict(
                            model,
                            rules,
                            &codec,
                            &tx_id,
                            record,
                            features.clone(),
                            None,
                            0,
                        ),
                        is_fraud: record.label,
                        seen: model.training().has_seen_time(record.event_time_ms),
                    }
                })
                .collect())
        }
    }
}

/// The report on `rows` decided by `model` and `rules`.
pub fn judge(model: &Model, rules: &RuleSet, rows: &[Decided]) -> Report {
    let labelled: Vec<&Decided> = rows.iter().filter(|d| d.is_fraud.is_some()).collect();
    let frauds = labelled.iter().filter(|d| d.is_fraud == Some(true)).count();
    let decisions = Decision::ALL
        .into_iter()
        .map(|decision| {
            let count = rows
                .iter()
                .filter(|d| d.verdict.decision == decision)
                .count();
            let so: Vec<&&Decided> = labelled
                .iter()
                .filter(|d| d.verdict.decision == decision)
                .collect();
            let so_frauds = so.iter().filter(|d| d.is_fraud == Some(true)).count();
            DecisionFigures {
                decision,
                count,
                share: ratio(count, rows.len()),
                labelled: so.len(),
                frauds: so_frauds,
                precision: Figure::of(so_frauds, so.len()),
            }
        })
        .collect();
    let flagged = [
        ("BLOCK", Decision::Block),
        ("REVIEW or BLOCK", Decision::Review),
    ]
    .into_iter()
    .map(|(name, least)| {
        let flagged: Vec<&&Decided> = labelled
            .iter()
            .filter(|d| d.verdict.decision >= least)
            .collect();
        let caught = flagged.iter().filter(|d| d.is_fraud == Some(true)).count();
        FlaggedFigures {
            flagged: name,
            precision: Figure::of(caught, flagged.len()),
            recall: Figure::of(caught, frauds),
        }
    })
    .collect();
    let mut money = Money::default();
    for d in &labelled {
        let amount = d.verdict.amount.max(0.0);
        match (d.is_fraud == Some(true), d.verdict.decision) {
            (true, Decision::Block) => money.fraud_blocked += amount,
            (true, Decision::Review) => money.fraud_reviewed += amount,
            (true, Decision::Allow) => money.fraud_missed += amount,
            (false, Decision::Block) => money.legit_blocked += amount,
            (false, _) => {}
        }
    }
    let rule_hits = rules
        .rules
        .iter()
        .map(|rule| {
            let hits: Vec<&Decided> = rows
                .iter()
                .filter(|d| d.verdict.rules.contains(&rule.name))
                .collect();
            let labelled_hits = hits.iter().filter(|d| d.is_fraud.is_some()).count();
            let frauds = hits.iter().filter(|d| d.is_fraud == Some(true)).count();
            RuleFigures {
                name: rule.name.clone(),
                action: rule.action,
                hits: hits.len(),
                labelled_hits,
                frauds,
                precision: Figure::of(frauds, labelled_hits),
            }
        })
        .collect();
    let alerts = rows
        .iter()
        .filter(|d| d.verdict.decision != Decision::Allow)
        .count();
    Report {
        model_version: model.model_version().to_owned(),
        rules: describe_rules(rules),
        spec: model.spec().name.clone(),
        data: String::new(),
        from: None,
        until: None,
        rows: rows.len(),
        labelled: labelled.len(),
        frauds,
        seen_rows: rows.iter().filter(|d| d.seen).count(),
        alert_rate: ratio(alerts, rows.len()),
        decisions,
        flagged,
        money,
        rule_hits,
        against: None,
    }
}

/// What changes from `old` (decided by `old_model` and `old_rules`) to `new`, row by row (both
/// decided over the same rows, in the same order).
fn compare(old_model: &Model, old_rules: &RuleSet, old: &[Decided], new: &[Decided]) -> Changes {
    let mut moves: BTreeMap<(Decision, Decision), (usize, usize)> = BTreeMap::new();
    let mut examples = Vec::new();
    for (o, n) in old.iter().zip(new) {
        let (from, to) = (o.verdict.decision, n.verdict.decision);
        if from == to {
            continue;
        }
        let entry = moves.entry((from, to)).or_default();
        entry.0 += 1;
        entry.1 += usize::from(n.is_fraud == Some(true));
        if examples.len() < EXAMPLES {
            examples.push(Example {
                tx_id: n.verdict.tx_id.clone(),
                event_time: n.verdict.event_time,
                from,
                to,
                probability_from: o.verdict.fraud_probability,
                probability_to: n.verdict.fraud_probability,
                rules_from: o.verdict.rules.clone(),
                rules_to: n.verdict.rules.clone(),
                is_fraud: n.is_fraud,
                explanation_to: n.verdict.explanation.clone(),
            });
        }
    }
    Changes {
        model_version: old_model.model_version().to_owned(),
        rules: describe_rules(old_rules),
        changed: moves.values().map(|m| m.0).sum(),
        moves: moves
            .into_iter()
            .map(|((from, to), (rows, frauds))| Move {
                from,
                to,
                rows,
                frauds,
            })
            .collect(),
        examples,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The report as people read it.
pub fn render(r: &Report) -> String {
    let pct = |f: &Option<Figure>| match f {
        Some(f) => format!(
            "{:.1} % [{:.1}, {:.1}] of {}",
            100.0 * f.value,
            100.0 * f.interval.low,
            100.0 * f.interval.high,
            f.of
        ),
        None => "–".into(),
    };
    let mut out = format!(
        "backtest of model {} with rules {} on {} ({} spec){}\n{} rows, {} labelled, {} frauds; alert rate (REVIEW + BLOCK) {:.2} %\n\n",
        r.model_version,
        r.rules,
        r.data,
        r.spec,
        match (&r.from, &r.until) {
            (Some(from), Some(until)) => format!(", {from} to {until} (exclusive)"),
            _ => String::new(),
        },
        r.rows,
        r.labelled,
        r.frauds,
        100.0 * r.alert_rate
    );
    out.push_str("decision  rows       share     precision (95 % interval) of labelled\n");
    for d in &r.decisions {
        out.push_str(&format!(
            "{:<9} {:<10} {:>6.2} %  {}\n",
            d.decision.as_str(),
            d.count,
            100.0 * d.share,
            pct(&d.precision)
        ));
    }
    out.push('\n');
    for f in &r.flagged {
        out.push_str(&format!(
            "{:<16} precision {}; recall {}\n",
            f.flagged,
            pct(&f.precision),
            pct(&f.recall)
        ));
    }
    let m = &r.money;
    out.push_str(&format!(
        "\nmoney: fraud blocked {:.2}, reviewed {:.2}, missed {:.2}; legitimate blocked {:.2}\n",
        m.fraud_blocked, m.fraud_reviewed, m.fraud_missed, m.legit_blocked
    ));
    if !r.rule_hits.is_empty() {
        out.push_str("\nrule                      action  hits      precision on labelled hits\n");
        for rule in &r.rule_hits {
            out.push_str(&format!(
                "{:<25} {:<7} {:<9} {}\n",
                rule.name,
                rule.action.as_str(),
                rule.hits,
                pct(&rule.precision)
            ));
        }
    }
    if let Some(c) = &r.against {
        out.push_str(&format!(
            "\nagainst model {} with rules {}: {} rows decided differently\n",
            c.model_version, c.rules, c.changed
        ));
        for m in &c.moves {
            out.push_str(&format!(
                "  {} → {}: {} rows ({} fraud)\n",
                m.from.as_str(),
                m.to.as_str(),
                m.rows,
                m.frauds
            ));
        }
        for e in &c.examples {
            out.push_str(&format!(
                "  {} at {}: {} ({:.4}{}) → {} ({:.4}{}){}\n",
                e.tx_id,
                period::instant(e.event_time),
                e.from.as_str(),
                e.probability_from,
                rules_note(&e.rules_from),
                e.to.as_str(),
                e.probability_to,
                rules_note(&e.rules_to),
                match e.is_fraud {
                    Some(true) => ", fraud",
                    Some(false) => ", legitimate",
                    None => "",
                }
            ));
            if let Some(explanation) = &e.explanation_to {
                out.push_str(&format!(
                    "    largest contributions: {}\n",
                    largest_contributions(explanation)
                ));
            }
        }
    }
    out
}

/// Contributions shown per changed row: the largest by absolute value.
const SHOWN_CONTRIBUTIONS: usize = 3;

/// `feature = value (+contribution)` of an explanation's largest contributions.
fn largest_contributions(explanation: &Explanation) -> String {
    explanation
        .contributions
        .iter()
        .take(SHOWN_CONTRIBUTIONS)
        .map(|c| format!("{} = {} ({:+.3})", c.feature, c.value, c.contribution))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rules_note(rules: &[String]) -> String {
    if rules.is_empty() {
        String::new()
    } else {
        format!(", rules {}", rules.join(" "))
    }
}
