//! Input files and how much each of their rows stands for.
//!
//! A PaySim sample keeps every fraud of the steps it covers and a share of their legit rows; its
//! *legit weight* W says how many real legit transactions one of its legit rows stands for (1 for
//! natural data, 256.2 for the fraud-enriched sample). Each `--data` names its own weight as
//! `FILE:W`; `--legit-weight` is the weight of a single file.
//!
//! Files may overlap: a row found in several is read once, and its weight must count the chance
//! that *any* of them sampled it — otherwise a stretch of time covered by two samples would count
//! twice. A file covers the steps from its first to its last and the transaction types it holds,
//! and samples each legit row there with probability 1/W, independently of the other files. A
//! legit row covered by files with weights W₁…Wₖ was sampled with probability
//! 1 − Π(1 − 1/Wᵢ), and its weight is the inverse of that (the Horvitz–Thompson weight). A file of
//! natural data (W = 1) therefore makes every legit row it covers weigh 1, whatever else covers it;
//! frauds always weigh 1.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use aegis_core::model::TrainingSummary;
use aegis_core::transaction::TxType;
use anyhow::{bail, Result};

/// One `--data` value: a file and, optionally, its legit weight.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSource {
    pub path: PathBuf,
    pub legit_weight: Option<f64>,
}

impl FromStr for DataSource {
    type Err = String;

    /// `FILE` or `FILE:W`. A suffix after the last `:` that is not a number belongs to the path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((path, weight)) = s.rsplit_once(':') {
            if let Ok(w) = weight.parse::<f64>() {
                check_weight(w).map_err(|e| format!("{s}: {e}"))?;
                return Ok(DataSource {
                    path: path.into(),
                    legit_weight: Some(w),
                });
            }
        }
        Ok(DataSource {
            path: s.into(),
            legit_weight: None,
        })
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.legit_weight {
            Some(w) => write!(f, "{}:{w}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// A legit weight must be a finite number of at least 1: a row cannot stand for less than itself.
pub fn check_weight(w: f64) -> Result<(), String> {
    if w.is_finite() && w >= 1.0 {
        Ok(())
    } else {
        Err(format!(
            "a legit weight must be a number >= 1 (got {w}); use 1 for natural data, 256.2 for the fraud-enriched sample"
        ))
    }
}

/// A file with its legit weight settled.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedFile {
    pub path: PathBuf,
    pub legit_weight: f64,
}

/// Gives every file its weight: its own `:W`, else `--legit-weight` when it is the only file.
/// Several files without their own weights are refused — one weight for files sampled at different
/// rates would silently mis-weight all but one of them.
pub fn resolve(sources: &[DataSource], legit_weight: Option<f64>) -> Result<Vec<WeightedFile>> {
    if let Some(w) = legit_weight {
        crate::check_legit_weight(w)?;
    }
    match sources {
        [] => bail!("give at least one --data file"),
        [one] => {
            if let (Some(own), Some(flag)) = (one.legit_weight, legit_weight) {
                if own != flag {
                    bail!("{one} names its own legit weight, which --legit-weight {flag} contradicts; give one of them");
                }
            }
            Ok(vec![WeightedFile {
                path: one.path.clone(),
                legit_weight: one.legit_weight.or(legit_weight).unwrap_or(1.0),
            }])
        }
        several => {
            let unweighted: Vec<String> = several
                .iter()
                .filter(|s| s.legit_weight.is_none())
                .map(|s| s.path.display().to_string())
                .collect();
            if !unweighted.is_empty() {
                bail!(
                    "several --data files need each its own legit weight, as --data FILE:W (1 for natural data, 256.2 for the fraud-enriched sample; see data/README.md); missing for {}",
                    unweighted.join(", ")
                );
            }
            if legit_weight.is_some() {
                bail!("--legit-weight applies to a single --data file; with several, give each its weight as FILE:W");
            }
            Ok(several
                .iter()
                .map(|s| WeightedFile {
                    path: s.path.clone(),
                    legit_weight: s.legit_weight.unwrap_or(1.0),
                })
                .collect())
        }
    }
}

/// The files a model was trained on, with the weights it recorded (models trained before
/// per-file weights gave every file their one `legit_weight`).
pub fn of_model(training: &TrainingSummary) -> Vec<WeightedFile> {
    training
        .data
        .iter()
        .enumerate()
        .map(|(i, path)| WeightedFile {
            path: path.into(),
            legit_weight: training
                .legit_weights
                .get(i)
                .copied()
                .unwrap_or(training.legit_weight),
        })
        .collect()
}

/// What one file covers: its steps (first to last) and the types it holds.
#[derive(Clone, Debug)]
pub struct Coverage {
    pub first_step: i32,
    pub last_step: i32,
    types: [bool; TxType::ALL.len()],
    /// The file's legit weight W: it sampled each legit row it covers with probability 1/W.
    legit_weight: f64,
}

impl Coverage {
    pub fn new(legit_weight: f64) -> Coverage {
        Coverage {
            first_step: i32::MAX,
            last_step: i32::MIN,
            types: [false; TxType::ALL.len()],
            legit_weight,
        }
    }

    /// Widens the coverage to a row read from the file.
    pub fn add(&mut self, step: i32, tx_type: TxType) {
        self.first_step = self.first_step.min(step);
        self.last_step = self.last_step.max(step);
        self.types[type_index(tx_type)] = true;
    }

    fn covers(&self, step: i32, tx_type: TxType) -> bool {
        (self.first_step..=self.last_step).contains(&step) && self.types[type_index(tx_type)]
    }
}

fn type_index(t: TxType) -> usize {
    TxType::ALL.iter().position(|&x| x == t).unwrap_or(0)
}

/// The weight of a row in natural-rate figures, given what every file covers.
pub fn row_weight(files: &[Coverage], step: i32, tx_type: TxType, is_fraud: bool) -> f64 {
    if is_fraud {
        return 1.0;
    }
    let mut covering = files.iter().filter(|f| f.covers(step, tx_type));
    match (covering.next(), covering.clone().next()) {
        // One file: its own weight, exactly.
        (Some(only), None) => only.legit_weight,
        _ => {
            let missed: f64 = files
                .iter()
                .filter(|f| f.covers(step, tx_type))
                .map(|f| 1.0 - 1.0 / f.legit_weight)
                .product();
            // A row was read from some file, so one covers it and `missed` < 1.
            1.0 / (1.0 - missed).max(f64::MIN_POSITIVE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(s: &str) -> DataSource {
        s.parse().unwrap()
    }

    #[test]
    fn a_weight_follows_the_last_colon_and_paths_keep_theirs() {
        assert_eq!(
            source("data/a.csv:256.2"),
            DataSource {
                path: "data/a.csv".into(),
                legit_weight: Some(256.2)
            }
        );
        assert_eq!(source("c:/x.csv").legit_weight, None);
        assert_eq!(source("a:b.csv:1").path, PathBuf::from("a:b.csv"));
        assert!("a.csv:0.5".parse::<DataSource>().is_err());
        assert!("a.csv:NaN".parse::<DataSource>().is_err());
    }

    #[test]
    fn one_file_takes_the_flag_and_several_need_their_own() {
        let one = resolve(&[source("a.csv")], Some(256.2)).unwrap();
        assert_eq!(one[0].legit_weight, 256.2);
        assert_eq!(
            resolve(&[source("a.csv")], None).unwrap()[0].legit_weight,
            1.0
        );
        assert!(resolve(&[source("a.csv:2")], Some(3.0)).is_err());

        let err = resolve(&[source("a.csv:256.2"), source("b.csv")], None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("FILE:W") && err.contains("missing for b.csv"),
            "{err}"
        );
        let err = resolve(&[source("a.csv:256.2"), source("b.csv:1")], Some(256.2))
            .unwrap_err()
            .to_string();
        assert!(err.contains("single --data file"), "{err}");
        let both = resolve(&[source("a.csv:256.2"), source("b.csv:1")], None).unwrap();
        assert_eq!(both[1].legit_weight, 1.0);
    }

    #[test]
    fn overlapping_samples_weigh_a_row_by_the_chance_any_of_them_took_it() {
        let mut enriched = Coverage::new(256.2);
        enriched.add(1, TxType::Payment);
        enriched.add(400, TxType::Transfer);
        let mut mixed = Coverage::new(20.0);
        mixed.add(1, TxType::Payment);
        mixed.add(119, TxType::Transfer);
        let mut natural = Coverage::new(1.0);
        natural.add(1, TxType::Transfer);
        natural.add(10, TxType::CashOut);
        let files = [enriched, mixed, natural];

        // Only the enriched sample covers step 300.
        assert_eq!(row_weight(&files, 300, TxType::Payment, false), 256.2);
        // Natural data covers step 5's transfers: every one of them is there.
        assert_eq!(row_weight(&files, 5, TxType::Transfer, false), 1.0);
        // ... but not its payments, which the two samples share.
        let w = row_weight(&files, 5, TxType::Payment, false);
        let expected = 1.0 / (1.0 - (1.0 - 1.0 / 256.2) * (1.0 - 1.0 / 20.0));
        assert!((w - expected).abs() < 1e-9 && w < 20.0, "{w}");
        assert_eq!(row_weight(&files, 5, TxType::Payment, true), 1.0);
    }
}
