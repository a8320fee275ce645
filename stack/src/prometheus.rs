//! Prometheus for the local stack: its configuration made from the template
//! `deploy/prometheus/prometheus.local.yml` (placeholders `SCORER_1`, `SCORER_2` and `PRODUCER`
//! replaced by the stack's addresses, the intervals by the one asked for), `alerts.yml` beside it,
//! and how many of its scrape targets are up.

use std::path::{Path, PathBuf};

use crate::StackError;

/// The template of the local configuration.
pub const TEMPLATE: &str = "deploy/prometheus/prometheus.local.yml";
/// The alert rules, loaded from beside the configuration.
pub const ALERTS: &str = "deploy/prometheus/alerts.yml";
/// The template's scorer targets, replaced by every scorer of the stack.
const SCORER_TARGETS: &str = r#""SCORER_1", "SCORER_2""#;
/// The template's intervals, replaced by the one asked for.
const INTERVALS: [&str; 2] = ["scrape_interval: 5s", "evaluation_interval: 5s"];

/// Writes `dir/prometheus.yml` from the template, scraping `scorers` and `producer` (host:port)
/// every `interval_s` seconds, and copies the alert rules beside it; returns the config's path.
pub fn write_config(
    dir: &Path,
    scorers: &[String],
    producer: &str,
    outcomes: &str,
    interval_s: u64,
) -> Result<PathBuf, StackError> {
    let template = read(Path::new(TEMPLATE))?;
    let config = render(&template, scorers, producer, outcomes, interval_s).map_err(|reason| {
        StackError::Template {
            path: PathBuf::from(TEMPLATE),
            reason,
        }
    })?;
    std::fs::create_dir_all(dir).map_err(StackError::file("cannot create", dir))?;
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).map_err(StackError::file("cannot write", &path))?;
    let alerts = dir.join("alerts.yml");
    std::fs::write(&alerts, read(Path::new(ALERTS))?)
        .map_err(StackError::file("cannot write", &alerts))?;
    Ok(path)
}

fn read(path: &Path) -> Result<String, StackError> {
    if !path.is_file() {
        return Err(StackError::MissingRepositoryFile(path.to_owned()));
    }
    std::fs::read_to_string(path).map_err(StackError::file("cannot read", path))
}

/// The template with the stack's targets and intervals; an error names what the template lacks.
fn render(
    template: &str,
    scorers: &[String],
    producer: &str,
    outcomes: &str,
    interval_s: u64,
) -> Result<String, String> {
    let mut config = template.to_owned();
    let mut replace = |from: &str, to: &str| {
        if config.contains(from) {
            config = config.replace(from, to);
            Ok(())
        } else {
            Err(format!(
                "has no `{from}` to replace (aegis-stack fills it in)"
            ))
        }
    };
    let targets: Vec<String> = scorers.iter().map(|s| format!("\"{s}\"")).collect();
    replace(SCORER_TARGETS, &targets.join(", "))?;
    replace("PRODUCER", producer)?;
    replace("OUTCOMES", outcomes)?;
    for interval in INTERVALS {
        let (key, _) = interval.split_once(':').unwrap_or((interval, ""));
        replace(interval, &format!("{key}: {interval_s}s"))?;
    }
    Ok(config)
}

/// How many of Prometheus's active targets at `url` are up, if it answers.
pub fn targets_up(agent: &ureq::Agent, url: &str) -> Option<usize> {
    let body = super::wait::http_get(agent, &format!("{url}/api/v1/targets?state=active"))?;
    let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
    let targets = answer["data"]["activeTargets"].as_array()?;
    Some(targets.iter().filter(|t| t["health"] == "up").count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_template_takes_any_number_of_scorers() {
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(TEMPLATE),
        )
        .unwrap();
        let scorers = [
            "127.0.0.1:1".to_owned(),
            "127.0.0.1:2".to_owned(),
            "127.0.0.1:3".to_owned(),
        ];
        let config = render(&template, &scorers, "127.0.0.1:9", "127.0.0.1:10", 1).unwrap();
        assert!(
            config.contains(r#"["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]"#),
            "{config}"
        );
        assert!(config.contains(r#"["127.0.0.1:9"]"#), "{config}");
        assert!(config.contains(r#"["127.0.0.1:10"]"#), "{config}");
        assert!(
            config.contains("scrape_interval: 1s") && config.contains("evaluation_interval: 1s")
        );
        assert!(
            !config.contains("\"SCORER_") && !config.contains(": 5s"),
            "{config}"
        );
    }

    #[test]
    fn a_template_without_a_placeholder_is_refused_by_name() {
        let error = render("global: {}", &["a:1".to_owned()], "b:2", "c:3", 5).unwrap_err();
        assert!(error.contains("SCORER_1"), "{error}");
    }
}
