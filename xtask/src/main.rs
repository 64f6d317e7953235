//! `cargo xtask`: the chores cargo cannot do alone (see `cargo xtask help`).
//!
//! - `main.rs`: argument parsing, `test`, `clippy` and `fmt`.
//! - `demo.rs`: `demo` and `demo --cleanup`, the newcomer's first run.
//! - `tools.rs`: the workspace layout, the vendored protoc, terraform, the Python SDK venv.
//! - `process.rs`: running children and stopping the background mock cloud.
//!
//! Unix only: the demo detaches the mock with process groups and stops it with `kill`.

mod bench;
mod demo;
mod process;
mod tools;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::process::step;
use crate::tools::{Protoc, Workspace};

const USAGE: &str = "\
Usage: cargo xtask <command> [args]

Commands:
  demo             build the provider and mockcloud, start the mock in the background and apply
                   examples/quickstart with terraform; everything lives in target/demo/
  demo --cleanup   destroy the quickstart, stop the mock and remove target/demo/
  test [ARGS]      run every test in the workspace (what CI runs); ARGS go to `cargo test`,
                   e.g. `cargo xtask test -- --nocapture` or a test name filter
  bench [SECS] [CONNS]
                   the data-plane benchmark: release mockcloud, signed Encrypt vs the health
                   endpoint, throttling accuracy, and moto's baseline (default 10 s, 16)
  docs             regenerate docs/ from the provider's schema and examples/ (a test fails
                   when the committed docs are stale)
  clippy           cargo clippy --workspace --all-targets -- -D warnings
  fmt [ARGS]       cargo fmt --all (e.g. `cargo xtask fmt --check`)
  help             print this message

Environment:
  TERRAFORM        the terraform CLI to use (default: `terraform` on PATH); demo and test need it
";

/// The Cargo binaries every terraform run needs.
const BINARIES: [&str; 2] = ["terraform-provider-kms", "mockcloud"];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[OsString]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    match command.to_string_lossy().as_ref() {
        "demo" => match rest {
            [] => demo::run(),
            [flag] if flag == "--cleanup" => demo::cleanup(),
            _ => Ok(usage_error(
                "`demo` takes no arguments other than --cleanup",
            )),
        },
        "test" => test(rest),
        "bench" => bench::run(rest),
        "docs" if rest.is_empty() => docs(),
        "docs" => Ok(usage_error("`docs` takes no arguments")),
        "clippy" if rest.is_empty() => clippy(),
        "clippy" => Ok(usage_error("`clippy` takes no arguments")),
        "fmt" => fmt(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Ok(usage_error(&format!("unknown command `{other}`"))),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n");
    eprint!("{USAGE}");
    ExitCode::from(2)
}

/// Builds the provider and the mock cloud binaries (debug profile).
pub fn build_binaries(ws: &Workspace, protoc: &Protoc) -> Result<()> {
    step(format!("building {}", BINARIES.join(" and ")));
    let mut cmd = protoc.cargo(ws);
    cmd.arg("build");
    for bin in BINARIES {
        cmd.args(["--bin", bin]);
    }
    process::run(&mut cmd)
}

/// Every test in the workspace, with what the acceptance and SDK tests need on hand.
fn test(cargo_args: &[OsString]) -> Result<ExitCode> {
    let started = Instant::now();
    let terraform = tools::find_terraform()?;
    let python = tools::find_python()?;
    let ws = Workspace::locate()?;
    let protoc = Protoc::install(&ws)?;
    let sdk_python = tools::install_sdk_venv(&ws, &python)?;
    build_binaries(&ws, &protoc)?;

    step("running cargo test --workspace");
    let mut cmd = protoc.cargo(&ws);
    cmd.args(["test", "--workspace"])
        .args(cargo_args)
        .env(
            "TF_ACC_PROVIDER_BIN",
            ws.debug_bin("terraform-provider-kms"),
        )
        .env("TF_ACC_TERRAFORM", &terraform)
        .env("MOCKCLOUD_BIN", ws.debug_bin("mockcloud"))
        .env("MOCKCLOUD_SDK_PYTHON", &sdk_python);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", process::describe(&cmd)))?;

    let elapsed = started.elapsed().as_secs();
    if status.success() {
        eprintln!("xtask test: finished in {elapsed}s");
    } else {
        eprintln!("xtask test: failed after {elapsed}s ({status})");
    }
    Ok(ExitCode::from(process::exit_code(status)))
}

/// Runs the docs freshness test in its writing mode.
fn docs() -> Result<ExitCode> {
    let ws = Workspace::locate()?;
    let protoc = Protoc::install(&ws)?;
    step("regenerating docs/");
    process::run(
        protoc
            .cargo(&ws)
            .args([
                "test",
                "-p",
                "terraform-provider-kms",
                "--lib",
                "docs::tests::docs_are_fresh",
            ])
            .env("UPDATE_DOCS", "1"),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn clippy() -> Result<ExitCode> {
    let ws = Workspace::locate()?;
    let protoc = Protoc::install(&ws)?;
    process::run(protoc.cargo(&ws).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    Ok(ExitCode::SUCCESS)
}

fn fmt(cargo_args: &[OsString]) -> Result<ExitCode> {
    process::run(
        tools::cargo_without_protoc()
            .args(["fmt", "--all"])
            .args(cargo_args),
    )?;
    Ok(ExitCode::SUCCESS)
}
