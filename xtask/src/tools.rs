//! Finding and preparing what the build and the tests need: the workspace layout, a vendored
//! protoc, the terraform CLI, and a Python virtual environment with the Alibaba Cloud SDK.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::process::{self, step, warn};

/// Where tf-provider's build script finds protoc; `.cargo/config.toml` points at the same place.
const PROTOC_DIR: &str = "target/tools/protoc";

const TERRAFORM_HINT: &str = "install Terraform >= 1.5 \
     (https://developer.hashicorp.com/terraform/install) or set TERRAFORM=/path/to/terraform";

/// Bump the marker's version when this list changes, so existing venvs get the new packages.
const SDK_PACKAGES: &[&str] = &[
    "alibabacloud-kms20160120",
    "alibabacloud-bssopenapi20171214",
    "aliyun-python-sdk-kms",
];
const SDK_MARKER: &str = ".installed-v1";

pub struct Workspace {
    pub root: PathBuf,
    /// Cargo's target directory (honours `CARGO_TARGET_DIR` and `build.target-dir`).
    pub target: PathBuf,
    pub provider_version: String,
}

impl Workspace {
    pub fn locate() -> Result<Self> {
        let root = workspace_root();
        let mut cmd = plain_cargo(&root);
        cmd.args(["metadata", "--format-version", "1", "--no-deps"]);
        let metadata: Value = serde_json::from_str(&process::output(&mut cmd)?)
            .with_context(|| format!("`{}` printed invalid JSON", process::describe(&cmd)))?;
        let target = metadata["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .context("`cargo metadata` reported no target_directory")?;
        let provider_version = package_version(&metadata, "terraform-provider-kms")?;
        Ok(Self {
            root,
            target,
            provider_version,
        })
    }

    pub fn debug_bin(&self, name: &str) -> PathBuf {
        self.target.join("debug").join(name)
    }
}

fn package_version(metadata: &Value, name: &str) -> Result<String> {
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == name)
        .and_then(|package| package["version"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("the workspace has no package named {name}"))
}

/// `cargo` from the toolchain running the xtask, in the workspace root, with
/// `CHECKPOINT_DISABLE=1` as every child gets.
fn plain_cargo(root: &Path) -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).env("CHECKPOINT_DISABLE", "1");
    cmd
}

pub struct Protoc {
    pub bin: PathBuf,
    pub include: PathBuf,
}

impl Protoc {
    /// Copies the protoc of the `protoc-bin-vendored` crate into `target/tools/protoc` once.
    pub fn install(ws: &Workspace) -> Result<Self> {
        Self::install_into(&ws.root.join(PROTOC_DIR))
    }

    fn install_into(dir: &Path) -> Result<Self> {
        let protoc = Self {
            bin: dir.join("bin").join("protoc"),
            include: dir.join("include"),
        };
        if !process::is_executable(&protoc.bin) {
            let source = protoc_bin_vendored::protoc_bin_path()
                .context("protoc-bin-vendored has no protoc for this platform")?;
            copy_executable(&source, &protoc.bin)?;
        }
        let marker = protoc.include.join("google/protobuf/descriptor.proto");
        if !marker.is_file() {
            let source = protoc_bin_vendored::include_path()
                .context("protoc-bin-vendored has no include files for this platform")?;
            replace_dir(&source, &protoc.include)?;
        }
        Ok(protoc)
    }

    /// `cargo` with `PROTOC` and `PROTOC_INCLUDE` pointing at the vendored copy.
    pub fn cargo(&self, ws: &Workspace) -> Command {
        let mut cmd = plain_cargo(&ws.root);
        cmd.env("PROTOC", &self.bin)
            .env("PROTOC_INCLUDE", &self.include);
        cmd
    }
}

/// `cargo fmt` builds nothing, so it needs no protoc.
pub fn cargo_without_protoc() -> Command {
    plain_cargo(&workspace_root())
}

/// The parent of the xtask crate.
fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// Copies through a temporary name, so an interrupted copy never leaves a truncated binary behind.
pub fn copy_executable(source: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().context("destination has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let partial = dest.with_extension("partial");
    fs::copy(source, &partial)
        .with_context(|| format!("copying {} to {}", source.display(), partial.display()))?;
    fs::set_permissions(&partial, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", partial.display()))?;
    fs::rename(&partial, dest)
        .with_context(|| format!("renaming {} to {}", partial.display(), dest.display()))
}

/// Replaces `dest` with a copy of the directory `source`, through a temporary directory.
fn replace_dir(source: &Path, dest: &Path) -> Result<()> {
    let partial = dest.with_extension("partial");
    remove_dir_if_exists(&partial)?;
    copy_dir(source, &partial)?;
    remove_dir_if_exists(dest)?;
    fs::rename(&partial, dest)
        .with_context(|| format!("renaming {} to {}", partial.display(), dest.display()))
}

fn copy_dir(source: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    for entry in fs::read_dir(source).with_context(|| format!("reading {}", source.display()))? {
        let entry = entry.with_context(|| format!("reading {}", source.display()))?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            fs::copy(&from, &to)
                .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(())
}

pub fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

pub fn remove_file_if_exists(file: &Path) -> Result<()> {
    match fs::remove_file(file) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", file.display()))
        }
        _ => Ok(()),
    }
}

/// The terraform CLI: `TERRAFORM` if set, else the first `terraform` on `PATH`.
pub fn find_terraform() -> Result<PathBuf> {
    let path = match env::var_os("TERRAFORM").filter(|value| !value.is_empty()) {
        Some(value) => resolve_program(&value).ok_or_else(|| {
            anyhow!(
                "terraform CLI not found at TERRAFORM={}: {TERRAFORM_HINT}",
                value.to_string_lossy()
            )
        })?,
        None => process::find_on_path("terraform")
            .ok_or_else(|| anyhow!("terraform CLI not found on PATH: {TERRAFORM_HINT}"))?,
    };
    check_terraform_version(&path)?;
    Ok(path)
}

/// A bare name is looked up on `PATH`; anything with a slash is a path.
fn resolve_program(value: &std::ffi::OsStr) -> Option<PathBuf> {
    let path = Path::new(value);
    if path.components().count() == 1 {
        return process::find_on_path(&value.to_string_lossy());
    }
    let path = std::path::absolute(path).ok()?;
    process::is_executable(&path).then_some(path)
}

fn check_terraform_version(terraform: &Path) -> Result<()> {
    let mut cmd = Command::new(terraform);
    cmd.args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1");
    let stdout = process::output(&mut cmd)?;
    let version = serde_json::from_str::<Value>(&stdout)
        .ok()
        .and_then(|json| json["terraform_version"].as_str().map(str::to_owned));
    let Some(version) = version else {
        warn(format!(
            "could not read the version of {}; carrying on",
            terraform.display()
        ));
        return Ok(());
    };
    let mut parts = version.split(['.', '-']).map(str::parse::<u32>);
    let major_minor = (parts.next(), parts.next());
    if let (Some(Ok(major)), Some(Ok(minor))) = major_minor {
        if (major, minor) < (1, 5) {
            bail!(
                "terraform {version} at {} is too old: {TERRAFORM_HINT}",
                terraform.display()
            );
        }
    }
    Ok(())
}

/// `python3` on `PATH`, checked to run (a pyenv shim may exist without an interpreter behind it).
pub fn find_python() -> Result<PathBuf> {
    const HINT: &str =
        "install Python 3 with the venv module; the SDK compatibility tests run the \
                        official Alibaba Cloud Python SDK";
    let python = process::find_on_path("python3")
        .ok_or_else(|| anyhow!("python3 not found on PATH: {HINT}"))?;
    let runs = Command::new(&python)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !runs {
        bail!("{} --version failed: {HINT}", python.display());
    }
    Ok(python)
}

/// Creates `<target>/sdk-venv` with the Alibaba Cloud Python SDK; returns its interpreter.
pub fn install_sdk_venv(ws: &Workspace, python: &Path) -> Result<PathBuf> {
    let venv = ws.target.join("sdk-venv");
    let venv_python = venv.join("bin").join("python");
    let marker = venv.join(SDK_MARKER);
    if marker.is_file() && venv_python.is_file() {
        return Ok(venv_python);
    }
    if !venv_python.is_file() {
        step(format!("creating a Python venv in {}", venv.display()));
        process::run(Command::new(python).arg("-m").arg("venv").arg(&venv))?;
    }
    step(format!("installing {}", SDK_PACKAGES.join(" ")));
    process::run(
        Command::new(&venv_python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(SDK_PACKAGES),
    )
    .with_context(|| {
        format!(
            "installing the Python SDK failed (delete {} to start over)",
            venv.display()
        )
    })?;
    fs::write(&marker, SDK_PACKAGES.join("\n") + "\n")
        .with_context(|| format!("writing {}", marker.display()))?;
    Ok(venv_python)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protoc_install_copies_binary_and_includes_once() {
        let dir = env::temp_dir().join(format!("xtask-protoc-{}", std::process::id()));
        let protoc = Protoc::install_into(&dir).unwrap();
        assert!(process::is_executable(&protoc.bin));
        assert!(protoc
            .include
            .join("google/protobuf/descriptor.proto")
            .is_file());
        let out = Command::new(&protoc.bin).arg("--version").output().unwrap();
        assert!(out.status.success());

        // A second run keeps what is there.
        let before = fs::metadata(&protoc.bin).unwrap().modified().unwrap();
        Protoc::install_into(&dir).unwrap();
        assert_eq!(
            fs::metadata(&protoc.bin).unwrap().modified().unwrap(),
            before
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
