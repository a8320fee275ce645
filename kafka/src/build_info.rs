//! What every Aegis process exposes beside its own metrics: `aegis_build_info{version, git_sha}`
//! (always 1: join on it to label other series with the build) and the Prometheus process
//! collector (`process_cpu_seconds_total`, `process_resident_memory_bytes`, open file
//! descriptors, start time; Linux only).

use prometheus::{IntGaugeVec, Opts, Registry};

/// The commit the binaries were built from (`build.rs`): 12 hex digits, or `unknown`.
pub const GIT_SHA: &str = env!("AEGIS_GIT_SHA");

/// The workspace's version, shared by every binary.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Registers `aegis_build_info` and the process collector in `registry`. A registry that holds
/// them already is left as it is.
#[allow(clippy::expect_used)] // a fixed, valid definition: a failure is a bug, and the test catches it
pub fn register(registry: &Registry) {
    let info = IntGaugeVec::new(
        Opts::new(
            "aegis_build_info",
            "Always 1: the version and git commit this binary was built from.",
        ),
        &["version", "git_sha"],
    )
    .expect("a valid metric definition");
    info.with_label_values(&[VERSION, GIT_SHA]).set(1);
    let _ = registry.register(Box::new(info));
    #[cfg(target_os = "linux")]
    {
        let _ = registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_and_process_metrics_are_exposed() {
        let registry = Registry::new();
        register(&registry);
        register(&registry); // twice: no error, no duplicate
        let text = crate::service::render_metrics(&registry);
        let line = format!("aegis_build_info{{git_sha=\"{GIT_SHA}\",version=\"{VERSION}\"}} 1");
        assert_eq!(text.matches("aegis_build_info{").count(), 1, "{text}");
        assert!(text.contains(&line), "{line} missing from:\n{text}");
        assert!(
            GIT_SHA == "unknown"
                || (GIT_SHA.len() == 12 && GIT_SHA.chars().all(|c| c.is_ascii_hexdigit())),
            "{GIT_SHA}"
        );
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(&format!("\n{name} ")), "{name} missing");
        }
    }
}
