//! `cargo xtask demo`: build everything, start mockcloud in the background and apply the quickstart
//! with terraform, all under `<target>/demo/`; `--cleanup` takes it all down again.
//!
//! The provider reaches terraform through a filesystem mirror and a CLI configuration file of our
//! own (`TF_CLI_CONFIG_FILE`), so the user's home and `~/.terraformrc` are never touched.

use std::borrow::Cow;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::process::{self, step, warn};
use crate::tools::{self, Protoc, Workspace};

const PROVIDER_SOURCE: &str = "registry.terraform.io/mockcloud/kms";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const LOG_TAIL_LINES: usize = 20;
const MAX_HISTORY_LINES: usize = 40;

/// Terraform variables that would send terraform elsewhere than our working directory and mirror.
const TERRAFORM_VARS_TO_CLEAR: [&str; 2] = ["TF_DATA_DIR", "TF_PLUGIN_CACHE_DIR"];

pub fn run() -> Result<ExitCode> {
    let terraform = tools::find_terraform()?;
    let ws = Workspace::locate()?;
    let protoc = Protoc::install(&ws)?;
    crate::build_binaries(&ws, &protoc)?;

    let demo = Demo::new(&ws.target);
    demo.install_provider(&ws)?;
    demo.prepare_quickstart(&ws.root.join("examples").join("quickstart"))?;
    let mock = demo.start_mock(&ws.debug_bin("mockcloud"))?;
    demo.write_env_file(&mock.ready)?;

    for args in [
        &["init", "-input=false", "-no-color"][..],
        &["apply", "-auto-approve", "-input=false"][..],
    ] {
        step(format!("terraform {}", args.join(" ")));
        if let Err(err) = process::run(&mut demo.terraform(&terraform, &mock.ready, args)) {
            demo.print_failure_hints(mock.pid);
            return Err(err);
        }
    }
    demo.print_summary(&terraform, &mock);
    Ok(ExitCode::SUCCESS)
}

pub fn cleanup() -> Result<ExitCode> {
    let ws = Workspace::locate()?;
    let demo = Demo::new(&ws.target);
    if !demo.dir.exists() {
        println!(
            "xtask demo --cleanup: nothing to do, {} does not exist",
            demo.dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut done = Vec::new();
    match demo.running_mock() {
        Some(pid) => {
            if demo.quickstart.join("terraform.tfstate").is_file() {
                done.push(demo.destroy());
            }
            step(format!("stopping mockcloud (pid {pid})"));
            process::terminate(pid, "mockcloud")?;
            done.push(format!("stopped mockcloud (pid {pid})"));
        }
        None => done.push("mockcloud was not running".to_owned()),
    }
    tools::remove_dir_if_exists(&demo.dir)?;
    done.push(format!("removed {}", demo.dir.display()));

    println!("xtask demo --cleanup:");
    for line in done {
        println!("  - {line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What mockcloud writes to `<data-dir>/ready.json` once it listens.
struct Ready {
    endpoint: String,
    ca_file: String,
    access_key_id: String,
    access_key_secret: String,
    region: String,
}

impl Ready {
    fn parse(text: &str) -> Result<Self> {
        let json: Value = serde_json::from_str(text).context("invalid JSON")?;
        let field = |name: &str| -> Result<String> {
            json[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no string field `{name}`"))
        };
        Ok(Self {
            endpoint: field("endpoint")?,
            ca_file: field("ca_file")?,
            access_key_id: field("access_key_id")?,
            access_key_secret: field("access_key_secret")?,
            region: field("region")?,
        })
    }

    fn read(path: &Path) -> Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

struct Mock {
    pid: u32,
    ready: Ready,
}

/// The files of a demo, all under `<target>/demo/`.
struct Demo {
    dir: PathBuf,
    plugins: PathBuf,
    cli_config: PathBuf,
    quickstart: PathBuf,
    mock_data: PathBuf,
    ready_file: PathBuf,
    pid_file: PathBuf,
    log_file: PathBuf,
    env_file: PathBuf,
}

impl Demo {
    fn new(target: &Path) -> Self {
        let dir = target.join("demo");
        let mock_data = dir.join("mock-data");
        Self {
            plugins: dir.join("plugins"),
            cli_config: dir.join("terraform.rc"),
            quickstart: dir.join("quickstart"),
            ready_file: mock_data.join("ready.json"),
            mock_data,
            pid_file: dir.join("mockcloud.pid"),
            log_file: dir.join("mockcloud.log"),
            env_file: dir.join("env.sh"),
            dir,
        }
    }

    /// Puts the freshly built provider in the filesystem mirror and writes the CLI configuration
    /// that points terraform at it.
    fn install_provider(&self, ws: &Workspace) -> Result<()> {
        let version = &ws.provider_version;
        let provider_dir = self.plugins.join(PROVIDER_SOURCE);
        tools::remove_dir_if_exists(&provider_dir)?;
        let binary = provider_dir
            .join(version)
            .join(host_platform())
            .join(format!("terraform-provider-kms_v{version}"));
        tools::copy_executable(&ws.debug_bin("terraform-provider-kms"), &binary)?;

        let config = cli_config(&self.plugins);
        fs::write(&self.cli_config, config)
            .with_context(|| format!("writing {}", self.cli_config.display()))
    }

    /// Copies the example's `*.tf` files in, keeping terraform's state so a re-run reuses the
    /// instance, and drops the lock file and installed providers, whose hash changes every build.
    fn prepare_quickstart(&self, example: &Path) -> Result<()> {
        fs::create_dir_all(&self.quickstart)
            .with_context(|| format!("creating {}", self.quickstart.display()))?;
        let sources = tf_files(example)?;
        if sources.is_empty() {
            bail!("no *.tf files in {}", example.display());
        }
        for stale in tf_files(&self.quickstart)? {
            if !sources
                .iter()
                .any(|source| source.file_name() == stale.file_name())
            {
                tools::remove_file_if_exists(&stale)?;
            }
        }
        for source in &sources {
            let dest = self.quickstart.join(source.file_name().unwrap_or_default());
            fs::copy(source, &dest)
                .with_context(|| format!("copying {} to {}", source.display(), dest.display()))?;
        }
        tools::remove_file_if_exists(&self.quickstart.join(".terraform.lock.hcl"))?;
        tools::remove_dir_if_exists(&self.quickstart.join(".terraform").join("providers"))
    }

    /// The pid of the mock started by an earlier demo, if it is still running.
    fn running_mock(&self) -> Option<u32> {
        let pid = fs::read_to_string(&self.pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        process::is_running(pid, "mockcloud").then_some(pid)
    }

    /// Starts mockcloud on a free loopback port, detached from this terminal, and waits for it to
    /// write `ready.json`.
    fn start_mock(&self, mockcloud: &Path) -> Result<Mock> {
        if let Some(pid) = self.running_mock() {
            step(format!("stopping the previous mockcloud (pid {pid})"));
            process::terminate(pid, "mockcloud")?;
        }
        fs::create_dir_all(&self.mock_data)
            .with_context(|| format!("creating {}", self.mock_data.display()))?;
        tools::remove_file_if_exists(&self.ready_file)?;

        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .with_context(|| format!("opening {}", self.log_file.display()))?;
        writeln!(log, "==== xtask demo: starting mockcloud on {listen} ====")
            .with_context(|| format!("writing {}", self.log_file.display()))?;

        step(format!("starting mockcloud on {listen}"));
        let mut cmd = detached(mockcloud);
        cmd.args(["serve", "--listen", &listen, "--data-dir"])
            .arg(&self.mock_data)
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("duplicating the log file handle")?)
            .stderr(log);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("could not start `{}`", process::describe(&cmd)))?;
        let pid = child.id();
        fs::write(&self.pid_file, format!("{pid}\n"))
            .with_context(|| format!("writing {}", self.pid_file.display()))?;

        match self.wait_ready(&mut child) {
            Ok(ready) => Ok(Mock { pid, ready }),
            Err(err) => {
                // Best effort: the mock failed to come up, and the error below says why.
                let _ = child.kill();
                let _ = child.wait();
                let _ = fs::remove_file(&self.pid_file);
                self.print_log_tail();
                Err(err)
            }
        }
    }

    fn wait_ready(&self, child: &mut Child) -> Result<Ready> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_error = None;
        loop {
            if let Some(status) = child.try_wait().context("checking on mockcloud")? {
                bail!("mockcloud exited before it was ready ({status})");
            }
            if self.ready_file.exists() {
                // It may be caught half written; try again on the next round.
                match Ready::read(&self.ready_file) {
                    Ok(ready) => return Ok(ready),
                    Err(err) => last_error = Some(err),
                }
            }
            if Instant::now() >= deadline {
                let cause = last_error.map_or_else(String::new, |err| format!(" ({err:#})"));
                bail!(
                    "mockcloud did not write {} within {} s{cause}",
                    self.ready_file.display(),
                    READY_TIMEOUT.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn print_log_tail(&self) {
        let log = fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        eprintln!("xtask: last lines of {}:", self.log_file.display());
        for line in tail {
            eprintln!("    {}", strip_ansi(line));
        }
    }

    /// The variables terraform and the provider need, as a user would export them.
    fn terraform_env(&self, ready: &Ready) -> Vec<(&'static str, String)> {
        vec![
            ("TF_CLI_CONFIG_FILE", self.cli_config.display().to_string()),
            ("CHECKPOINT_DISABLE", "1".to_owned()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", ready.access_key_id.clone()),
            (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                ready.access_key_secret.clone(),
            ),
            ("ALIBABA_CLOUD_REGION_ID", ready.region.clone()),
            ("TF_VAR_endpoint", ready.endpoint.clone()),
            ("TF_VAR_ca_cert_file", ready.ca_file.clone()),
        ]
    }

    fn terraform(&self, terraform: &Path, ready: &Ready, args: &[&str]) -> Command {
        let mut cmd = Command::new(terraform);
        cmd.args(args)
            .current_dir(&self.quickstart)
            .envs(self.terraform_env(ready))
            .env("TF_IN_AUTOMATION", "1");
        for name in TERRAFORM_VARS_TO_CLEAR {
            cmd.env_remove(name);
        }
        cmd
    }

    fn export_lines(&self, ready: &Ready) -> Vec<String> {
        self.terraform_env(ready)
            .into_iter()
            .map(|(name, value)| format!("export {name}={}", shell_quote(&value)))
            .collect()
    }

    /// `<target>/demo/env.sh`, to `source` before running terraform by hand.
    fn write_env_file(&self, ready: &Ready) -> Result<()> {
        let mut text =
            String::from("# Written by `cargo xtask demo`: source it to run terraform by hand.\n");
        text += &format!("unset {}\n", TERRAFORM_VARS_TO_CLEAR.join(" "));
        for line in self.export_lines(ready) {
            text += &line;
            text.push('\n');
        }
        fs::write(&self.env_file, text)
            .with_context(|| format!("writing {}", self.env_file.display()))
    }

    fn print_failure_hints(&self, pid: u32) {
        eprintln!("xtask: the demo failed; to investigate:");
        eprintln!("    mockcloud log:      {}", self.log_file.display());
        eprintln!("    terraform workdir:  {}", self.quickstart.display());
        eprintln!("    terraform env:      source {}", self.env_file.display());
        eprintln!("    provider logs:      re-run with TF_LOG=DEBUG");
        eprintln!("mockcloud is still running (pid {pid}); `cargo xtask demo --cleanup` stops it and removes target/demo.");
    }

    fn print_summary(&self, terraform: &Path, mock: &Mock) {
        let ready = &mock.ready;
        let outputs = match process::output(&mut self.terraform(
            terraform,
            ready,
            &["output", "-no-color"],
        )) {
            Ok(outputs) => outputs,
            Err(err) => {
                warn(format!("{err:#}"));
                String::new()
            }
        };
        let instance_id = output_value(&outputs, "instance_id");

        println!();
        println!("==> The quickstart is applied. Terraform outputs:");
        print_indented(outputs.lines());

        println!();
        match &instance_id {
            Some(id) => println!("==> Status history of {id} (as mockcloud observed it):"),
            None => println!("==> Status history (as mockcloud observed it):"),
        }
        let history = self.status_history(instance_id.as_deref());
        if history.is_empty() {
            println!(
                "    (no status changes logged in {})",
                self.log_file.display()
            );
        }
        print_indented(history.iter().map(String::as_str));

        println!();
        println!(
            "==> mockcloud keeps running in the background (pid {}, log {}):",
            mock.pid,
            self.log_file.display()
        );
        println!("    endpoint           {}", ready.endpoint);
        println!("    access key id      {}", ready.access_key_id);
        println!("    access key secret  {}", ready.access_key_secret);
        println!("    region             {}", ready.region);
        println!("    CA certificate     {}", ready.ca_file);
        println!(
            "    health check       curl --cacert {} {}/_mock/health",
            shell_quote(&ready.ca_file),
            ready.endpoint
        );

        println!();
        println!(
            "==> Explore further (or `source {}`):",
            self.env_file.display()
        );
        let set_elsewhere: Vec<&str> = TERRAFORM_VARS_TO_CLEAR
            .into_iter()
            .filter(|name| std::env::var_os(name).is_some())
            .collect();
        if !set_elsewhere.is_empty() {
            println!("    unset {}", set_elsewhere.join(" "));
        }
        print_indented(self.export_lines(ready).iter().map(String::as_str));
        println!(
            "    cd {}",
            shell_quote(&self.quickstart.display().to_string())
        );
        println!("    terraform show");
        println!("    terraform plan");

        println!();
        println!(
            "==> Clean up (destroys the instance, stops mockcloud, removes {}):",
            self.dir.display()
        );
        println!("    cargo xtask demo --cleanup");
    }

    /// The log lines in which mockcloud reported an instance's status changing.
    fn status_history(&self, instance_id: Option<&str>) -> Vec<String> {
        let log = fs::read(&self.log_file).unwrap_or_default();
        let mut lines: Vec<String> = String::from_utf8_lossy(&log)
            .lines()
            .map(strip_ansi)
            .filter(|line| line.contains("status="))
            .filter(|line| instance_id.is_none_or(|id| line.contains(id)))
            .collect();
        if lines.len() > MAX_HISTORY_LINES {
            let omitted = lines.len() - MAX_HISTORY_LINES;
            lines.drain(..omitted);
            lines.insert(0, format!("({omitted} earlier lines omitted)"));
        }
        lines
    }

    /// Runs `terraform destroy` against the running mock; returns what happened, as a report line.
    fn destroy(&self) -> String {
        let attempt = || -> Result<()> {
            let ready = Ready::read(&self.ready_file)?;
            let terraform = tools::find_terraform()?;
            step("terraform destroy -auto-approve -input=false");
            process::run(&mut self.terraform(
                &terraform,
                &ready,
                &["destroy", "-auto-approve", "-input=false"],
            ))
        };
        match attempt() {
            Ok(()) => "destroyed the quickstart's resources (terraform destroy)".to_owned(),
            Err(err) => {
                warn(format!("{err:#}"));
                "terraform destroy failed (see above); removing everything anyway".to_owned()
            }
        }
    }
}

/// Terraform's name for this platform, as used in plugin directories: `linux_amd64`.
fn host_platform() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{os}_{arch}")
}

/// A terraform CLI configuration that takes our provider from the mirror and nothing else from it.
fn cli_config(plugins: &Path) -> String {
    let plugins = hcl_string(&plugins.display().to_string());
    let source = hcl_string(PROVIDER_SOURCE);
    format!(
        "provider_installation {{\n  \
           filesystem_mirror {{\n    \
             path    = {plugins}\n    \
             include = [{source}]\n  \
           }}\n  \
           direct {{ exclude = [{source}] }}\n\
         }}\n"
    )
}

/// The `*.tf` files directly in `dir`, sorted.
fn tf_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "tf") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Asks the kernel for a free loopback port; the mock binds it a moment later.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
    Ok(listener
        .local_addr()
        .context("reading the bound port")?
        .port())
}

/// A command that runs `program` in a session (or at least a process group) of its own, so that
/// Ctrl-C in this terminal or closing it leaves the mock running.
fn detached(program: &Path) -> Command {
    match process::find_on_path("setsid") {
        // setsid forks only when its caller leads a process group, which our child never does, so
        // it execs in place and the pid we record is the mock's own.
        Some(setsid) => {
            let mut cmd = Command::new(setsid);
            cmd.arg(program);
            cmd
        }
        None => {
            let mut cmd = Command::new(program);
            cmd.process_group(0);
            cmd
        }
    }
}

/// Removes terminal colour sequences (`ESC [ ... letter`) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of `name = "value"` in `terraform output` text, unquoted.
fn output_value(outputs: &str, name: &str) -> Option<String> {
    outputs.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn print_indented<'a>(lines: impl Iterator<Item = &'a str>) {
    for line in lines {
        println!("    {line}");
    }
}

/// Quotes a value for a POSIX shell when it needs it.
fn shell_quote(value: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !value.is_empty() && value.chars().all(plain) {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("'{}'", value.replace('\'', r"'\''")))
    }
}

/// A double-quoted string for the CLI configuration (HCL 1, which knows no `$${` escape).
fn hcl_string(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_ansi_removes_colour_sequences() {
        let line = "\u{1b}[2m2024-01-01\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m kst-1 status=Connected";
        assert_eq!(strip_ansi(line), "2024-01-01  INFO kst-1 status=Connected");
    }

    #[test]
    fn output_value_reads_a_quoted_string() {
        let outputs = "instance_id = \"kst-hzz1\"\nstatus = \"Connected\"\n";
        assert_eq!(
            output_value(outputs, "status").as_deref(),
            Some("Connected")
        );
        assert_eq!(output_value(outputs, "zone_ids"), None);
    }

    #[test]
    fn shell_quote_quotes_only_when_needed() {
        assert_eq!(shell_quote("/a/b.pem"), "/a/b.pem");
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
    }

    fn scratch_demo(name: &str) -> Demo {
        let target = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let demo = Demo::new(&target);
        fs::create_dir_all(&demo.dir).unwrap();
        demo
    }

    /// A stand-in for mockcloud: a script that runs `body` with the data dir in `$5`.
    fn fake_mockcloud(demo: &Demo, body: &str) -> PathBuf {
        let path = demo.dir.join("mockcloud");
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn mock_starts_detached_and_stops() {
        let demo = scratch_demo("start");
        let ready = r#"{"endpoint":"https://127.0.0.1:1","ca_file":"/ca.pem","access_key_id":"id","access_key_secret":"s","region":"cn-hangzhou"}"#;
        let script = fake_mockcloud(
            &demo,
            &format!("echo \"$@\"; echo '{ready}' > \"$5/ready.json\"; trap 'kill $!; exit' TERM; sleep 60 & wait"),
        );
        let mock = demo.start_mock(&script).unwrap();
        assert_eq!(mock.ready.region, "cn-hangzhou");
        assert_eq!(
            demo.running_mock(),
            Some(mock.pid),
            "pid file names the mock itself"
        );
        let log = fs::read_to_string(&demo.log_file).unwrap();
        assert!(log.contains("serve --listen 127.0.0.1:"), "{log}");

        // A second start replaces the first mock.
        let again = demo.start_mock(&script).unwrap();
        assert_ne!(again.pid, mock.pid);
        assert!(!process::is_running(mock.pid, "mockcloud"));
        process::terminate(again.pid, "mockcloud").unwrap();
        assert_eq!(demo.running_mock(), None);
        fs::remove_dir_all(demo.dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn mock_that_exits_early_is_reported() {
        let demo = scratch_demo("exit");
        let script = fake_mockcloud(&demo, "echo boom >&2; exit 3");
        let err = demo.start_mock(&script).err().unwrap();
        assert!(
            format!("{err:#}").contains("exited before it was ready"),
            "{err:#}"
        );
        assert!(!demo.pid_file.exists());
        fs::remove_dir_all(demo.dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn cli_config_uses_the_mirror_for_our_provider_only() {
        let expected = r#"provider_installation {
  filesystem_mirror {
    path    = "/w/target/demo/plugins"
    include = ["registry.terraform.io/mockcloud/kms"]
  }
  direct { exclude = ["registry.terraform.io/mockcloud/kms"] }
}
"#;
        assert_eq!(cli_config(Path::new("/w/target/demo/plugins")), expected);
    }

    #[test]
    fn ready_json_parses() {
        let ready = Ready::parse(
            r#"{"endpoint":"https://127.0.0.1:1","ca_file":"/ca.pem","access_key_id":"id",
                "access_key_secret":"secret","region":"cn-hangzhou"}"#,
        )
        .unwrap();
        assert_eq!(ready.endpoint, "https://127.0.0.1:1");
        assert!(Ready::parse(r#"{"endpoint":"x"}"#).is_err());
    }
}
