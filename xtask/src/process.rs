//! Running child processes and looking after the background mock cloud.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Prints a progress line; stdout is kept for the results a user wants to read.
pub fn step(message: impl std::fmt::Display) {
    eprintln!("xtask: {message}");
}

/// Prints a warning and carries on.
pub fn warn(message: impl std::fmt::Display) {
    eprintln!("xtask: warning: {message}");
}

/// The command as a user would type it, for error messages: `cargo build --bin mockcloud`.
pub fn describe(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(name)
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command with inherited stdio and fails unless it exits successfully.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", describe(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs a command and returns its stdout; on failure the error carries its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{}`", describe(cmd)))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!(
            "`{}` failed ({}): {}",
            describe(cmd),
            out.status,
            stderr.trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The exit code to hand on for a child's status (1 when it was killed by a signal).
pub fn exit_code(status: std::process::ExitStatus) -> u8 {
    status
        .code()
        .map_or(1, |code| u8::try_from(code).unwrap_or(1))
}

pub fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Looks a program up on `PATH` the way a shell does.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `pid` is a live process whose command line mentions `name`. Checking the name keeps a
/// stale pid file, whose pid the system has since given to another program, from killing it.
pub fn is_running(pid: u32, name: &str) -> bool {
    let proc_root = Path::new("/proc");
    if proc_root.join("self").exists() {
        // A zombie has an empty command line, so it counts as gone.
        return fs::read(proc_root.join(pid.to_string()).join("cmdline"))
            .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(name));
    }
    Command::new("ps")
        .args(["-p", &pid.to_string(), "-o", "args="])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(name)
        })
}

/// Sends SIGTERM and waits up to five seconds for the process to go, then sends SIGKILL.
pub fn terminate(pid: u32, name: &str) -> Result<()> {
    signal(pid, "-TERM", name)?;
    if wait_gone(pid, name, Duration::from_secs(5)) {
        return Ok(());
    }
    warn(format!(
        "{name} (pid {pid}) still running 5 s after SIGTERM; sending SIGKILL"
    ));
    signal(pid, "-KILL", name)?;
    if wait_gone(pid, name, Duration::from_secs(2)) {
        return Ok(());
    }
    bail!("could not stop {name} (pid {pid})")
}

fn signal(pid: u32, signal: &str, name: &str) -> Result<()> {
    let mut cmd = Command::new("kill");
    cmd.arg(signal).arg(pid.to_string()).stderr(Stdio::null());
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", describe(&cmd)))?;
    // `kill` fails when the process has just exited, which is what we wanted anyway.
    if !status.success() && is_running(pid, name) {
        bail!("`{}` failed ({status})", describe(&cmd));
    }
    Ok(())
}

fn wait_gone(pid: u32, name: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_running(pid, name) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
    true
}
