//! Old spellings of flags and environment variables, still read for one release, each with a
//! warning saying what to write instead (CHANGELOG.md lists them; the next release drops them).
//!
//! Before clap sees the command line, [`upgrade`] rewrites it: an old flag becomes its new name
//! (`--output-topic` → `--verdicts-topic`), a duration given as a bare number in the unit the old
//! flag implied gets that unit (`--batch-linger-ms 2` → `--batch-linger 2ms`, `--state-ttl 86400`
//! → `--state-ttl 86400s`), and an old environment variable that is set while its new name is
//! not becomes the new flag on the command line (`AEGIS_MAX_IN_FLIGHT=64` in the scorer →
//! `--max-in-flight=64`), unless the command line gives that flag already. `--help` shows only
//! the new names.

use std::ffi::OsString;

/// How an old value is carried over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// As it is.
    Same,
    /// A bare number meant seconds: it gets the unit (`15` → `15s`, `0.5` → `500ms`).
    Seconds,
    /// A bare number meant milliseconds: it gets the unit (`2` → `2ms`).
    Millis,
    /// A switch (`--allow-unsigned`): an environment value clap reads as true adds the flag.
    Switch,
}

/// A renamed flag: `old` is read as `new`. With `old == new`, only the value changed (a duration
/// that now needs its unit), so only a bare number is rewritten.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    /// The old spelling, `--output-topic`.
    pub old: &'static str,
    /// The new one, `--verdicts-topic`.
    pub new: &'static str,
    /// How the value is carried over.
    pub value: Value,
}

/// A renamed environment variable, read as `flag` when it is set and `new` is not (with
/// `old == new`, only when its value is a bare number in the old unit).
#[derive(Clone, Copy, Debug)]
pub struct Variable {
    /// The old name, `AEGIS_MAX_IN_FLIGHT`.
    pub old: &'static str,
    /// The new name, `AEGIS_SCORER_MAX_IN_FLIGHT`.
    pub new: &'static str,
    /// The flag the new name sets, `--max-in-flight`.
    pub flag: &'static str,
    /// How the value is carried over.
    pub value: Value,
}

impl Flag {
    /// `old` read as `new`, its value carried over as `value` says.
    pub const fn new(old: &'static str, new: &'static str, value: Value) -> Flag {
        Flag { old, new, value }
    }
}

impl Variable {
    /// `old` read as `new` (which sets `flag`), its value carried over as `value` says.
    pub const fn new(
        old: &'static str,
        new: &'static str,
        flag: &'static str,
        value: Value,
    ) -> Variable {
        Variable {
            old,
            new,
            flag,
            value,
        }
    }
}

/// `AEGIS_SHUTDOWN_TIMEOUT` in seconds, as every long-running binary read it: now a duration.
pub const SHUTDOWN_TIMEOUT_SECONDS: Variable = Variable::new(
    "AEGIS_SHUTDOWN_TIMEOUT",
    "AEGIS_SHUTDOWN_TIMEOUT",
    "--shutdown-timeout",
    Value::Seconds,
);

/// `AEGIS_CONNECT_TIMEOUT` in seconds, as every Kafka client read it: now a duration.
pub const CONNECT_TIMEOUT_SECONDS: Variable = Variable::new(
    "AEGIS_CONNECT_TIMEOUT",
    "AEGIS_CONNECT_TIMEOUT",
    "--connect-timeout",
    Value::Seconds,
);

/// A command line with the old spellings replaced, and a warning for each one replaced.
#[derive(Debug, PartialEq, Eq)]
pub struct Upgraded {
    /// The command line to parse.
    pub args: Vec<OsString>,
    /// One line per old spelling read.
    pub warnings: Vec<String>,
}

impl Upgraded {
    /// Logs each warning (once logging is set up).
    pub fn warn(&self) {
        for warning in &self.warnings {
            tracing::warn!("{warning}");
        }
    }
}

/// Rewrites `args` (the program name first) as the module doc says, reading environment
/// variables through `var`.
pub fn upgrade(
    args: impl IntoIterator<Item = OsString>,
    flags: &[Flag],
    variables: &[Variable],
    var: impl Fn(&str) -> Option<String>,
) -> Upgraded {
    let mut input = args.into_iter();
    let mut out: Vec<OsString> = input.next().into_iter().collect();
    let mut warnings = Vec::new();
    let mut rest = input.peekable();
    while let Some(arg) = rest.next() {
        let Some(text) = arg.to_str().map(str::to_owned) else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            out.push(arg);
            out.extend(rest.by_ref());
            break;
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (text.clone(), None),
        };
        let Some(flag) = flags.iter().find(|f| f.old == name) else {
            out.push(arg);
            continue;
        };
        let value = match &inline {
            Some(value) => Some(value.clone()),
            None => rest
                .peek()
                .and_then(|v| v.to_str())
                .filter(|v| !v.starts_with("--"))
                .map(str::to_owned),
        };
        let converted = value.as_deref().and_then(|v| with_unit(v, flag.value));
        if flag.old == flag.new && converted.is_none() {
            out.push(arg); // the new spelling already: a value with its unit
            continue;
        }
        if inline.is_none() && value.is_some() {
            rest.next();
        }
        let new_value = converted.or(value.clone());
        let was = join(&name, value.as_deref());
        let now = join(flag.new, new_value.as_deref());
        warnings.push(format!(
            "`{was}` is an old spelling, read as `{now}`: write that instead (the old one goes in the next release)"
        ));
        out.push(OsString::from(flag.new));
        out.extend(new_value.map(OsString::from));
    }
    for variable in variables {
        let Some(value) = var(variable.old) else {
            continue;
        };
        let converted = with_unit(&value, variable.value);
        let applies = if variable.old == variable.new {
            converted.is_some()
        } else {
            var(variable.new).is_none()
        };
        let given = out.iter().any(|a| {
            a.to_str().is_some_and(|a| {
                a == variable.flag || a.starts_with(&format!("{}=", variable.flag))
            })
        });
        if !applies || given {
            continue;
        }
        let arg = match variable.value {
            Value::Switch if !truthy(&value) => continue,
            Value::Switch => variable.flag.to_owned(),
            _ => format!(
                "{}={}",
                variable.flag,
                converted.as_deref().unwrap_or(&value)
            ),
        };
        let shown = converted.as_deref().unwrap_or(&value);
        warnings.push(format!(
            "{}={value} is an old spelling, read as {}={shown}: set that instead (the old one goes in the next release)",
            variable.old, variable.new
        ));
        out.push(OsString::from(arg));
    }
    Upgraded {
        args: out,
        warnings,
    }
}

/// Checks `flags` and `variables` against the `command` they are for: each new flag is one of its
/// options, and each new variable is the environment variable of the flag it sets. For each
/// binary's unit tests, so a table cannot point at a flag that was renamed again.
pub fn check_against(
    command: &clap::Command,
    flags: &[Flag],
    variables: &[Variable],
) -> Result<(), String> {
    let option = |flag: &str| {
        let long = flag.trim_start_matches("--");
        command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .ok_or_else(|| format!("{flag} is not an option of {}", command.get_name()))
    };
    for flag in flags {
        option(flag.new)?;
    }
    for variable in variables {
        let env = option(variable.flag)?
            .get_env()
            .map(|e| e.to_string_lossy().into_owned());
        if env.as_deref() != Some(variable.new) {
            return Err(format!(
                "{} sets {}, whose variable is {env:?}",
                variable.new, variable.flag
            ));
        }
    }
    Ok(())
}

/// `flag value`, or `flag` alone.
fn join(flag: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!("{flag} {value}"),
        None => flag.to_owned(),
    }
}

/// A bare number given the unit `value` says it meant; `None` when there is nothing to convert
/// (not a duration, a value with its unit already, or `0`).
fn with_unit(text: &str, value: Value) -> Option<String> {
    // `0` needs no unit: it is read as it is.
    let number = text
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0)?;
    match value {
        Value::Seconds => {
            let ms = (number * 1000.0).round();
            Some(if ms % 1000.0 == 0.0 {
                format!("{}s", ms / 1000.0)
            } else {
                format!("{ms}ms")
            })
        }
        Value::Millis if number.fract() == 0.0 => Some(format!("{number}ms")),
        Value::Millis | Value::Same | Value::Switch => None,
    }
}

/// Whether clap reads an environment value of a switch as true (its falsey values are `n`, `no`,
/// `f`, `false`, `off`, `0` and empty).
fn truthy(value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    !["", "n", "no", "f", "false", "off", "0"].contains(&value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag {
            old: "--output-topic",
            new: "--verdicts-topic",
            value: Value::Same,
        },
        Flag {
            old: "--batch-linger-ms",
            new: "--batch-linger",
            value: Value::Millis,
        },
        Flag {
            old: "--state-ttl",
            new: "--state-ttl",
            value: Value::Seconds,
        },
    ];
    const VARIABLES: &[Variable] = &[
        Variable {
            old: "AEGIS_MAX_IN_FLIGHT",
            new: "AEGIS_SCORER_MAX_IN_FLIGHT",
            flag: "--max-in-flight",
            value: Value::Same,
        },
        SHUTDOWN_TIMEOUT_SECONDS,
        Variable {
            old: "AEGIS_ALLOW_UNSIGNED",
            new: "AEGIS_SCORER_ALLOW_UNSIGNED",
            flag: "--allow-unsigned",
            value: Value::Switch,
        },
    ];

    fn run(args: &[&str], env: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
        let upgraded = upgrade(args.iter().map(OsString::from), FLAGS, VARIABLES, |name| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        });
        let args = upgraded
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (args, upgraded.warnings)
    }

    #[test]
    fn old_flags_are_read_as_new_ones_with_their_units() {
        let (args, warnings) = run(
            &[
                "x",
                "--output-topic",
                "v",
                "--batch-linger-ms=2",
                "--state-ttl",
                "86400",
                "--model",
                "m",
            ],
            &[],
        );
        assert_eq!(
            args,
            [
                "x",
                "--verdicts-topic",
                "v",
                "--batch-linger",
                "2ms",
                "--state-ttl",
                "86400s",
                "--model",
                "m"
            ]
        );
        assert_eq!(warnings.len(), 3);
        assert_eq!(
            warnings[1],
            "`--batch-linger-ms 2` is an old spelling, read as `--batch-linger 2ms`: write that \
             instead (the old one goes in the next release)"
        );
    }

    #[test]
    fn new_spellings_and_what_follows_a_double_dash_are_left_alone() {
        let args = [
            "x",
            "--state-ttl",
            "1d",
            "--state-ttl=0",
            "--verdicts-topic",
            "v",
            "--",
            "--output-topic",
        ];
        let (out, warnings) = run(&args, &[("AEGIS_SHUTDOWN_TIMEOUT", "15s")]);
        assert_eq!(out, args);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn old_variables_become_flags_unless_the_new_name_or_the_flag_is_given() {
        let env = [
            ("AEGIS_MAX_IN_FLIGHT", "64"),
            ("AEGIS_SHUTDOWN_TIMEOUT", "0.5"),
            ("AEGIS_ALLOW_UNSIGNED", "true"),
        ];
        let (args, warnings) = run(&["x"], &env);
        assert_eq!(
            args,
            [
                "x",
                "--max-in-flight=64",
                "--shutdown-timeout=500ms",
                "--allow-unsigned"
            ]
        );
        assert_eq!(
            warnings[0],
            "AEGIS_MAX_IN_FLIGHT=64 is an old spelling, read as AEGIS_SCORER_MAX_IN_FLIGHT=64: set \
             that instead (the old one goes in the next release)"
        );
        let env = [
            ("AEGIS_MAX_IN_FLIGHT", "64"),
            ("AEGIS_SCORER_MAX_IN_FLIGHT", "8"),
            ("AEGIS_ALLOW_UNSIGNED", "false"),
        ];
        let (args, warnings) = run(&["x", "--shutdown-timeout", "3s"], &env);
        assert_eq!(args, ["x", "--shutdown-timeout", "3s"]);
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
