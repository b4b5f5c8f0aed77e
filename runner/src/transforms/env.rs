//! The environment cargo and rustup run in. Building a transform runs its build script and its
//! proc macros natively, outside the sandbox, as whoever runs runner: often a deploy job that
//! holds `DATABASE_URL` and other credentials. So the toolchain gets a cleared environment with
//! only what a Rust build needs, and nothing that could carry a secret.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;

use super::{TransformsError, io_error};

/// The variables a build keeps, by name; `*` stands for any run of characters. Anything else
/// in runner's environment (database URLs, cloud credentials, tokens) never reaches cargo, so
/// a build script or proc macro cannot read it.
const PASSED: &[&str] = &[
    // Finding the toolchain: rustup's proxies and cargo read these.
    "PATH",
    "HOME",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    // rustup's own settings (`RUSTUP_AUTO_INSTALL`, `RUSTUP_DIST_SERVER`, ...).
    "RUSTUP_*",
    // Where compilers and linkers put temporary files.
    "TMPDIR",
    // What Windows programs, the linker included, cannot start without.
    "SYSTEMROOT",
    "USERPROFILE",
    "TEMP",
    "TMP",
    // How output looks: harmless.
    "TERM",
    "LANG",
    "LC_*",
    "NO_COLOR",
    // Cargo's own configuration, one prefix per section of its config file
    // (https://doc.rust-lang.org/cargo/reference/config.html#environment-variables), so that
    // what cargo sets for the programs it runs (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`, ...) is
    // left out. `CARGO_TARGET_DIR` is passed as `--target-dir` too. WITHHELD takes the secrets
    // back out.
    "CARGO_LOG",
    "CARGO_INCREMENTAL",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ALIAS_*",
    "CARGO_BUILD_*",
    "CARGO_CACHE_*",
    "CARGO_CARGO_NEW_*",
    "CARGO_DOC_*",
    "CARGO_FUTURE_INCOMPAT_REPORT_*",
    "CARGO_HTTP_*",
    "CARGO_INSTALL_*",
    "CARGO_NET_*",
    "CARGO_PROFILE_*",
    "CARGO_REGISTRIES_*",
    "CARGO_REGISTRY_*",
    "CARGO_RESOLVER_*",
    "CARGO_TARGET_*",
    "CARGO_TERM_*",
    "CARGO_UNSTABLE_*",
    // The compiler and its flags, which cargo reads.
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTFLAGS",
    // Downloading crates behind a proxy or a company's certificate authority.
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    // The same for pip and npm, which install componentize-py and componentize-js (Python
    // and JavaScript transforms): a company's certificate authority and package index. An
    // index URL with a password in it is left out below, as a proxy's is.
    "NODE_EXTRA_CA_CERTS",
    "PIP_CERT",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "REQUESTS_CA_BUNDLE",
    "NPM_CONFIG_REGISTRY",
    "npm_config_registry",
    "NPM_CONFIG_CAFILE",
    "npm_config_cafile",
];

/// Variables PASSED matches that hold secrets: registry tokens, the private keys of asymmetric
/// tokens, and credential providers (whose command line may carry a token). Cargo needs none
/// of them to build; `cargo publish` is not runner's business.
const WITHHELD: &[&str] = &[
    "CARGO_REGISTRY_TOKEN",
    "CARGO_REGISTRY_SECRET_KEY",
    "CARGO_REGISTRY_CREDENTIAL_PROVIDER",
    "CARGO_REGISTRY_GLOBAL_CREDENTIAL_PROVIDERS",
    "CARGO_REGISTRIES_*_TOKEN",
    "CARGO_REGISTRIES_*_SECRET_KEY",
    "CARGO_REGISTRIES_*_CREDENTIAL_PROVIDER",
];

/// True if `name` matches `pattern`, where one `*` stands for any run of characters.
fn matches(pattern: &str, name: &str) -> bool {
    let same = |a: &str, b: &str| {
        // Windows reads environment names without regard to case (`Path` is `PATH`).
        if cfg!(windows) {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => same(pattern, name),
        Some((prefix, suffix)) => {
            name.len() >= prefix.len() + suffix.len()
                && name.get(..prefix.len()).is_some_and(|p| same(p, prefix))
                && name
                    .get(name.len() - suffix.len()..)
                    .is_some_and(|s| same(s, suffix))
        }
    }
}

/// True if `value` is a URL with a password in it (`https://user:pass@proxy`): a registry index
/// or a proxy given that way carries a credential, whatever the variable is called.
fn holds_password(value: &OsStr) -> bool {
    let Some(text) = value.to_str() else {
        return false;
    };
    let Some((_, rest)) = text.split_once("://") else {
        return false;
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The variables of `vars` a build keeps: those PASSED names, minus the WITHHELD secrets and
/// any URL holding a password.
pub(super) fn build_environment(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, value)| {
            let Some(name) = name.to_str() else {
                return false;
            };
            let kept = PASSED.iter().any(|p| matches(p, name))
                && !WITHHELD.iter().any(|p| matches(p, name))
                && !holds_password(value);
            if !kept && PASSED.iter().any(|p| matches(p, name)) {
                tracing::debug!("not passing {name} to the build: it may hold a credential");
            }
            kept
        })
        .collect()
}

/// `program` (cargo or rustup) with the cleared build environment of this process.
pub(super) fn toolchain_command(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .envs(build_environment(std::env::vars_os()));
    command
}

/// True if `program --version` runs and succeeds in the build's environment, as the build
/// will run it: how runner tells whether cargo, python3, node or npm is there.
pub fn program_runs(program: &str) -> bool {
    toolchain_command(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A build tool runner installs for itself (componentize-py with pip, componentize-js with
/// npm): what it is, where it goes and how to tell it is there.
pub(super) struct ToolInstall<'a> {
    /// The package's name, also the staging folder's ("componentize-py").
    pub name: &'a str,
    pub version: &'a str,
    /// The installer that runs, for messages ("pip").
    pub installer: &'a str,
    /// Where the tool is looked for.
    pub dir: &'a Path,
    /// How to install it by hand, for messages.
    pub by_hand: String,
}

impl ToolInstall<'_> {
    /// Runs `command` (which installs into the folder it is given) into a folder beside `dir`,
    /// then moves that into place whole: a build that dies half way, or another runner
    /// installing at the same time, never leaves a half install where it is looked for.
    /// `installed` says whether a folder holds the tool.
    pub fn run(
        &self,
        command: impl FnOnce(&Path) -> Command,
        installed: impl Fn(&Path) -> bool,
    ) -> Result<(), TransformsError> {
        let (dir, name, version) = (self.dir, self.name, self.version);
        let parent = dir.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)
            .map_err(|e| io_error(format!("creating {}", parent.display()), e))?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{name}-"))
            .tempdir_in(parent)
            .map_err(|e| io_error(format!("creating a folder in {}", parent.display()), e))?;
        let output = command(staging.path())
            .output()
            .map_err(|e| io_error(format!("running {}", self.installer), e))?;
        if !output.status.success() {
            return Err(TransformsError::Build(format!(
                "{} could not install {name} {version}:\n{}\nInstall it by hand: {}",
                self.installer,
                String::from_utf8_lossy(&output.stderr).trim(),
                self.by_hand
            )));
        }
        let staged = staging.keep();
        if std::fs::rename(&staged, dir).is_err() {
            // Another runner got there first.
            let _ = std::fs::remove_dir_all(&staged);
        }
        if installed(dir) {
            Ok(())
        } else {
            Err(TransformsError::Build(format!(
                "{name} is not where it was installed ({}): {}",
                dir.display(),
                self.by_hand
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(vars: &[(&str, &str)]) -> Vec<String> {
        build_environment(
            vars.iter()
                .map(|(name, value)| (OsString::from(name), OsString::from(value))),
        )
        .into_iter()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect()
    }

    #[test]
    fn a_build_keeps_what_the_toolchain_needs_and_nothing_else() {
        let vars = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/ci"),
            ("RUSTUP_TOOLCHAIN", "1.95"),
            ("TMPDIR", "/tmp"),
            ("LC_ALL", "C.UTF-8"),
            ("CARGO_TERM_COLOR", "always"),
            ("CARGO_BUILD_JOBS", "2"),
            ("CARGO_NET_OFFLINE", "true"),
            (
                "CARGO_REGISTRIES_CORP_INDEX",
                "sparse+https://crates.corp/index/",
            ),
            ("RUSTFLAGS", "-Copt-level=s"),
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            // What must not reach a build script.
            ("DATABASE_URL", "postgres://app:s3cret@db/crm"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("GITHUB_TOKEN", "x"),
            ("RUNNER_TEST_SECRET", "x"),
            ("CARGO_REGISTRY_TOKEN", "x"),
            ("CARGO_REGISTRIES_CORP_TOKEN", "x"),
            ("CARGO_REGISTRIES_CORP_SECRET_KEY", "x"),
            (
                "CARGO_REGISTRY_CREDENTIAL_PROVIDER",
                "cargo:token-from-stdout echo x",
            ),
            ("CARGO_HTTP_PROXY", "http://me:pw@proxy.corp:3128"),
            ("https_proxy", "http://me:pw@proxy.corp:3128"),
            // Set by cargo for the program it runs (`cargo run -p runner`), not configuration.
            ("CARGO_PKG_NAME", "runner"),
            ("CARGO_MANIFEST_DIR", "/src/runner"),
        ];
        assert_eq!(
            kept(&vars),
            [
                "PATH",
                "HOME",
                "RUSTUP_TOOLCHAIN",
                "TMPDIR",
                "LC_ALL",
                "CARGO_TERM_COLOR",
                "CARGO_BUILD_JOBS",
                "CARGO_NET_OFFLINE",
                "CARGO_REGISTRIES_CORP_INDEX",
                "RUSTFLAGS",
                "HTTPS_PROXY",
            ]
        );
    }

    #[test]
    fn patterns_match_whole_names_around_their_star() {
        assert!(matches(
            "CARGO_REGISTRIES_*_TOKEN",
            "CARGO_REGISTRIES_CORP_TOKEN"
        ));
        assert!(!matches(
            "CARGO_REGISTRIES_*_TOKEN",
            "CARGO_REGISTRIES_TOKEN"
        ));
        assert!(!matches(
            "CARGO_REGISTRIES_*_TOKEN",
            "CARGO_REGISTRIES_X_TOKENS"
        ));
        assert!(matches("LC_*", "LC_CTYPE"));
        assert!(!matches("PATH", "PATHEXT"));
        assert!(!matches("HOME", "XHOME"));
    }

    #[test]
    fn urls_with_a_password_are_told_from_those_without() {
        for (value, secret) in [
            ("http://me:pw@proxy:3128", true),
            ("sparse+https://u:t@crates.corp/index/", true),
            ("http://me@proxy:3128", false),
            ("http://proxy:3128/a@b", false),
            ("proxy.corp:3128", false),
            ("/usr/bin", false),
        ] {
            assert_eq!(holds_password(OsStr::new(value)), secret, "{value}");
        }
    }
}
