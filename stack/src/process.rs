//! One child process of the stack: started in a process group of its own (a Ctrl-C meant for
//! `aegis-stack` does not reach it, so the stack can stop its children in order), output in
//! `DIR/NAME.log`, stopped with SIGTERM and a bounded wait, then SIGKILL; killed if dropped running.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::StackError;

/// A running child process with a name and a log file.
pub struct Service {
    name: String,
    child: Child,
    log: PathBuf,
    /// It ends by itself when its work is done (a replay): exiting with success is no failure.
    finite: bool,
}

/// How a [`Service`] ended when it was stopped.
#[derive(Clone, Copy, Debug)]
pub struct Stopped {
    /// Its exit status.
    pub status: ExitStatus,
    /// Whether it had to be killed because it did not stop within its grace time.
    pub killed: bool,
}

impl Service {
    /// Starts `command` as `name`, with stdin closed and stdout and stderr in `dir/NAME.log`.
    pub fn spawn(name: &str, mut command: Command, dir: &Path) -> Result<Service, StackError> {
        let log = dir.join(format!("{name}.log"));
        let file = File::create(&log).map_err(StackError::file("cannot write", &log))?;
        let copy = file
            .try_clone()
            .map_err(StackError::file("cannot write", &log))?;
        command
            .stdin(Stdio::null())
            .stdout(copy)
            .stderr(file)
            .process_group(0);
        let child = command.spawn().map_err(|source| StackError::Spawn {
            name: name.to_owned(),
            program: PathBuf::from(command.get_program()),
            source,
        })?;
        Ok(Service {
            name: name.to_owned(),
            child,
            log,
            finite: false,
        })
    }

    /// The stack's name for it, e.g. `scorer-1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// An error unless it is still running: for waits that should give up when it dies.
    pub fn check_running(&mut self) -> Result<(), StackError> {
        match self.exited() {
            None => Ok(()),
            Some(status) if self.finite && status.success() => Ok(()),
            Some(status) => Err(StackError::Exited {
                name: self.name.clone(),
                status,
                log: self.log.clone(),
            }),
        }
    }

    /// Marks it as ending by itself when done: a successful exit is then no failure.
    pub fn finite(mut self) -> Service {
        self.finite = true;
        self
    }

    /// Sends SIGTERM (ignored if it has exited already).
    pub fn terminate(&self) {
        signal(self.child.id(), Signal::TERM);
    }

    /// Waits until it exits or `deadline` passes; SIGKILL then.
    pub fn wait_until(&mut self, deadline: Instant) -> Stopped {
        loop {
            if let Some(status) = self.exited() {
                return Stopped {
                    status,
                    killed: false,
                };
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let status = self.child.wait();
                return Stopped {
                    status: status.unwrap_or_else(|_| signalled(Signal::KILL)),
                    killed: true,
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL at once, as a crash would, and its exit status once reaped.
    pub fn kill(&mut self) -> Stopped {
        self.wait_until(Instant::now())
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) -> Stopped {
        self.terminate();
        self.wait_until(Instant::now() + grace)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `sig` to process `pid`; a process that is gone is not an error.
pub fn signal(pid: u32, sig: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, sig);
    }
}

/// Whether process `pid` is running (exists and is not a zombie waiting to be reaped).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // "pid (comm) state …": the state follows the last ')', since comm may hold one.
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X') | None)
    })
}

/// The status of a process killed by `sig`, for when waiting for it failed.
fn signalled(sig: Signal) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    ExitStatus::from_raw(sig.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_service_ends_and_a_stubborn_one_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let mut polite = Service::spawn("polite", sleep, dir.path()).unwrap();
        assert!(is_running(polite.pid()));
        let stopped = polite.stop(Duration::from_secs(5));
        assert!(!stopped.killed);
        assert!(!is_running(polite.pid()));

        let mut stubborn = Command::new("sh");
        stubborn.args([
            "-c",
            "trap '' TERM; echo started; while :; do sleep 0.1; done",
        ]);
        let mut stubborn = Service::spawn("stubborn", stubborn, dir.path()).unwrap();
        let started = Instant::now();
        while std::fs::read_to_string(stubborn.log())
            .unwrap_or_default()
            .is_empty()
        {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "sh did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(stubborn.stop(Duration::from_millis(300)).killed);
    }
}
