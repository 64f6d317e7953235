//! `cargo xtask bench`: the data-plane benchmark. Builds mockcloud and its load generator in
//! release mode, runs the generator (health ceiling, signed Encrypt, throttling accuracy), then
//! moto's baseline from `../shared/bench/moto-baseline.sh` when it is there, and prints the
//! ratios the issue asks for. A program that prints figures, not a test.

use std::collections::HashMap;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::process::{self, step, warn};
use crate::tools::{self, Workspace};

/// `name k=v k=v …` lines into name -> (k -> v).
fn parse(lines: &str) -> HashMap<String, HashMap<String, f64>> {
    lines
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next()?.to_string();
            let fields = parts
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
                .collect();
            Some((name, fields))
        })
        .collect()
}

pub fn run(args: &[std::ffi::OsString]) -> Result<ExitCode> {
    let secs = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "10".into());
    let conns = args
        .get(1)
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "16".into());
    let ws = Workspace::locate()?;
    step("building mockcloud and the load generator (release)");
    process::run(tools::cargo_without_protoc().args([
        "build",
        "--release",
        "-p",
        "mockcloud",
        "--bin",
        "mockcloud",
        "--example",
        "loadgen",
    ]))?;
    let release = ws.target.join("release");
    step(format!(
        "running the load generator: {secs} s per scenario, {conns} connections"
    ));
    let ours = process::output(
        Command::new(release.join("examples").join("loadgen"))
            .arg(release.join("mockcloud"))
            .args([&secs, &conns]),
    )?;
    print!("{ours}");

    let moto_script = ws
        .root
        .join("..")
        .join("shared")
        .join("bench")
        .join("moto-baseline.sh");
    let moto = if moto_script.is_file() {
        step("running moto's baseline (installs moto and wrk on first use)");
        match process::output(Command::new("bash").arg(&moto_script).args([&secs, &conns])) {
            Ok(out) => {
                print!("{out}");
                out
            }
            Err(e) => {
                warn(format!("moto's baseline failed: {e:#}"));
                String::new()
            }
        }
    } else {
        warn(format!(
            "{} not found: no moto baseline in this run",
            moto_script.display()
        ));
        String::new()
    };

    let ours = parse(&ours);
    let moto = parse(&moto);
    let get = |m: &HashMap<String, HashMap<String, f64>>, name: &str, k: &str| {
        m.get(name).and_then(|f| f.get(k)).copied()
    };
    let enc = get(&ours, "mockcloud-encrypt", "rps")
        .context("the load generator printed no Encrypt figures")?;
    println!("\nsummary");
    if let Some(h) = get(&ours, "mockcloud-health", "rps") {
        println!("  encrypt / health      = {:.2} (target >= 0.5)", enc / h);
    }
    if let Some(p99) = get(&ours, "mockcloud-encrypt", "p99_ms") {
        println!("  encrypt p99           = {p99:.2} ms at {conns} connections (target < 5 ms)");
    }
    match get(&moto, "moto-encrypt", "rps") {
        Some(m) if m > 0.0 => {
            println!("  encrypt / moto        = {:.1}x (target >= 100x)", enc / m)
        }
        _ => println!("  encrypt / moto        = n/a (no moto figures)"),
    }
    if let Some(e) = get(&ours, "throttle-accuracy", "error_pct") {
        println!("  throttling error      = {e:.2}% of spec over {secs} s (target within 5%)");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn figure_lines_parse() {
        let m = parse("mockcloud-encrypt rps=1234 p50_ms=0.50 p99_ms=2.10 ok=5\nnoise\n");
        assert_eq!(m["mockcloud-encrypt"]["rps"], 1234.0);
        assert_eq!(m["mockcloud-encrypt"]["p99_ms"], 2.1);
    }
}
