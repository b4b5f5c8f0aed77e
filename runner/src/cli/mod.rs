//! The command line: global flags, one module per group of subcommands, and the mapping from
//! errors to exit codes (0 ok, 1 a migration or command failed, 2 bad input; 3, for problems
//! `check` and `diff` find, is planned with those commands).

mod baseline;
mod build;
mod check;
mod createdb;
mod current;
mod diff;
mod dry_run;
mod failure;
mod fixtures;
mod heads;
mod history;
mod init;
mod lint;
mod merge;
mod modules;
mod output;
mod revision;
mod schema;
mod script;
mod show;
mod stamp;
mod try_transform;
mod upgrade;

use std::cmp::Reverse;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::config::{CONFIG_FILE, Config, ConfigError, Overrides};
use crate::db::{ConnectOptions, Db, DbError, url::UrlError};
use crate::exec::ExecError;
use crate::plan::PlanError;
use crate::revision::graph::GraphError;
use crate::revision::target::TargetError;
use crate::revision::{Repository, SourceError};
use crate::version_table;
pub use modules::ModuleUse;

/// Database migrations: declarative YAML schema changes and sandboxed WebAssembly data
/// transforms, for SQLite, PostgreSQL and MySQL/MariaDB.
#[derive(Debug, Parser)]
#[command(
    name = "runner",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Config file [default: runner.toml, if present]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Database URL (wins over DATABASE_URL and runner.toml); its password is never printed
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
    /// Migrations folder (versions/ and transforms/ inside) [default: migrations]
    #[arg(long, global = true, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// Output format (dot: `history` only)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Say more (steps and their SQL with -vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Say only what was asked for
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// Graphviz, for `history`
    Dot,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::Args),
    #[command(flatten)]
    Project(ProjectCommand),
}

/// The commands that work on a project: they read its configuration first.
#[derive(Debug, Subcommand)]
enum ProjectCommand {
    Createdb(createdb::CreateArgs),
    Dropdb(createdb::DropArgs),
    Revision(revision::Args),
    Migrate(revision::MigrateArgs),
    Upgrade(upgrade::UpgradeArgs),
    Downgrade(upgrade::DowngradeArgs),
    Current(current::Args),
    Status(current::StatusArgs),
    Check(check::Args),
    Diff(diff::Args),
    Schema(schema::Args),
    Baseline(baseline::Args),
    Loaddata(fixtures::LoadArgs),
    Dumpdata(fixtures::DumpArgs),
    Lint(lint::Args),
    Heads(heads::HeadsArgs),
    Branches(heads::BranchesArgs),
    History(history::Args),
    Show(show::Args),
    Stamp(stamp::StampArgs),
    Repair(stamp::RepairArgs),
    Merge(merge::Args),
    Build(build::BuildArgs),
    NewTransform(build::NewTransformArgs),
    TryTransform(try_transform::Args),
}

/// What every command gets: the parsed global flags and the merged configuration.
pub struct Context {
    pub config: Config,
    pub format: Format,
    pub verbose: u8,
    pub quiet: bool,
    /// `--database-url` when typed on the command line (not taken from `DATABASE_URL` or the
    /// config file): the scratch database of `check`, which must never default to the
    /// project's own.
    pub explicit_database_url: Option<String>,
}

impl Context {
    /// The project's revisions, loaded and validated.
    pub fn repository(&self) -> anyhow::Result<Repository> {
        Ok(Repository::load(&self.config.versions_dir())?)
    }

    /// The revisions' graph and headers, without their steps (see
    /// [`Repository::load_headers`]): for the commands that only look.
    pub fn repository_headers(&self) -> anyhow::Result<Repository> {
        Ok(Repository::load_headers(&self.config.versions_dir())?)
    }

    /// A connection to the configured database.
    pub async fn connect(&self, options: &ConnectOptions) -> anyhow::Result<Db> {
        let url = self.config.database_url()?;
        Ok(Db::connect(url, options).await?)
    }

    /// The database's heads and the revisions a run left half applied, for commands that
    /// only look (none where the SQLite file or the tables do not exist; nothing is created).
    pub async fn database_state(
        &self,
        repo: &Repository,
    ) -> anyhow::Result<(Vec<String>, Vec<crate::exec::HalfApplied>)> {
        let options = ConnectOptions {
            create_sqlite_file: false,
            ..ConnectOptions::default()
        };
        let mut db = match self.connect(&options).await {
            Ok(db) => db,
            Err(e) if matches!(e.downcast_ref::<DbError>(), Some(DbError::NoSuchFile(_))) => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(e) => return Err(e),
        };
        let heads = version_table::heads(&mut db).await?;
        let half = version_table::half_done_entries(&mut db)
            .await?
            .into_iter()
            .map(|entry| {
                let why = crate::exec::why_step_by_step(repo, &db.info, &entry.revision);
                crate::exec::HalfApplied::new(&entry, why)
            })
            .collect();
        db.close().await?;
        Ok((heads, half))
    }

    /// The rows of the database's version table (its heads), for commands that only look:
    /// none where the SQLite file or the table does not exist yet, and the file is not
    /// created.
    pub async fn database_heads(&self) -> anyhow::Result<Vec<String>> {
        let options = ConnectOptions {
            create_sqlite_file: false,
            ..ConnectOptions::default()
        };
        let mut db = match self.connect(&options).await {
            Ok(db) => db,
            Err(e) if matches!(e.downcast_ref::<DbError>(), Some(DbError::NoSuchFile(_))) => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let heads = version_table::heads(&mut db).await;
        db.close().await?;
        Ok(heads?)
    }

    /// Prints what a command did: `value` as JSON with `--format json`, else the text `print`
    /// writes, unless `-q`.
    pub fn report<T: Serialize>(&self, value: &T, print: impl FnOnce()) -> anyhow::Result<()> {
        output::emit(self.format, self.quiet, value, print)
    }
}

/// A command-line argument that makes no sense: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the command line, runs it, prints any error, and returns the exit code.
pub fn main() -> i32 {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Ok((Cli::from_arg_matches(&matches)?, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return usage_error(error),
    };
    // `check` must tell a URL typed on its command line from DATABASE_URL (the project's).
    let typed_url = matches.value_source("database_url") == Some(ValueSource::CommandLine);
    init_logging(cli.verbose, cli.quiet);
    let secrets = secrets(&cli);
    let json = cli.format == Format::Json;
    match start(cli, typed_url) {
        Ok(code) => code,
        Err(error) => {
            let mut text = format!("{error:#}");
            for secret in &secrets {
                text = text.replace(secret.as_str(), "***");
            }
            eprintln!("error: {text}");
            let code = exit_code(&error);
            if json {
                failure::print(&error, &text, code);
            }
            code
        }
    }
}

/// Arguments clap refused (or `--help`, `--version`): its own output and exit code, and under
/// `--format json` the failure object too. The format is read from the raw arguments, since
/// they did not parse.
fn usage_error(error: clap::Error) -> i32 {
    let code = error.exit_code();
    let asked_json = {
        let args: Vec<String> = std::env::args().collect();
        args.windows(2)
            .any(|w| w[0] == "--format" && w[1] == "json")
            || args.iter().any(|a| a == "--format=json")
    };
    let is_failure = error.use_stderr();
    let text = error.to_string();
    let message = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    let _ = error.print();
    if asked_json && is_failure {
        let error = anyhow::Error::new(UsageError(message.clone()));
        failure::print(&error, &message, code);
    }
    code
}

/// Checks the global flags against the command, reads the configuration once, and runs it.
fn start(cli: Cli, typed_url: bool) -> anyhow::Result<i32> {
    let is_history = matches!(cli.command, Command::Project(ProjectCommand::History(_)));
    if cli.format == Format::Dot && !is_history {
        return Err(UsageError(
            "--format dot draws the revision graph: only `runner history` takes it".into(),
        )
        .into());
    }
    let command = match &cli.command {
        Command::Init(args) => return init::run(args, cli.format, cli.quiet).map(|()| 0),
        Command::Project(command) => command,
    };
    let cx = Context {
        config: Config::load(&overrides(&cli))?,
        format: cli.format,
        verbose: cli.verbose,
        quiet: cli.quiet,
        explicit_database_url: cli.database_url.clone().filter(|_| typed_url),
    };
    // One thread drives both the run and the sockets: with a multi-threaded runtime every
    // round trip to PostgreSQL or MySQL woke the main thread from the I/O worker that saw the
    // reply (a thread switch more per statement; profiles of a transform's per-row loop are
    // mostly scheduler time). Nothing here runs in parallel: a transform's SQLite statements
    // run on the handle in line, its wasm yields on the epoch, builds wait on the blocking
    // pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(run(&cx, command))
}

/// Passwords that must never reach the output, whatever an error message says. They are read
/// from the raw `--database-url`, `DATABASE_URL` and the config file's `database_url` line,
/// validating nothing, so that a URL or a config file too broken to load is scrubbed too.
fn secrets(cli: &Cli) -> Vec<String> {
    let mut urls: Vec<String> = cli.database_url.iter().cloned().collect();
    urls.extend(std::env::var("DATABASE_URL").ok());
    let file = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(CONFIG_FILE));
    if let Ok(text) = std::fs::read_to_string(file) {
        urls.extend(config_urls(&text));
    }
    let mut secrets: Vec<String> = urls
        .iter()
        .flat_map(|url| passwords(url))
        .filter(|p| p.len() >= 3)
        .collect();
    // Longest first, so that a password containing another is replaced whole.
    secrets.sort_by(|a, b| (Reverse(a.len()), a).cmp(&(Reverse(b.len()), b)));
    secrets.dedup();
    secrets
}

/// The values of `database_url = "..."` lines in a config file's text, as written and with TOML
/// escapes read, found line by line so that a file TOML cannot parse is covered too.
fn config_urls(text: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for line in text.lines() {
        let Some(value) = line
            .trim_start()
            .strip_prefix("database_url")
            .and_then(|rest| rest.trim_start().strip_prefix('='))
            .map(str::trim)
        else {
            continue;
        };
        let value = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let inner = &value[1..];
                let mut end = inner.len();
                let mut escaped = false;
                for (i, c) in inner.char_indices() {
                    if c == quote && !(escaped && quote == '"') {
                        end = i;
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
                &inner[..end]
            }
            _ => value,
        };
        urls.push(value.to_string());
        if value.contains('\\') {
            urls.push(value.replace("\\\"", "\"").replace("\\\\", "\\"));
        }
    }
    urls
}

/// The passwords a URL may hold, found by position alone so that a URL that does not parse is
/// covered too: after the first `:` of the text between `://` and an `@` (each `@` is tried,
/// as a password may hold one), and the value of a `password=` parameter; each also
/// percent-decoded.
fn passwords(url: &str) -> Vec<String> {
    let mut found: Vec<&str> = Vec::new();
    if let Some((_, rest)) = url.split_once("://")
        && let Some(colon) = rest.find(':')
    {
        for (at, _) in rest.match_indices('@').filter(|&(at, _)| at > colon) {
            found.push(&rest[colon + 1..at]);
        }
    }
    for (start, key) in url.match_indices("password=") {
        let value = &url[start + key.len()..];
        found.push(&value[..value.find(['&', '#']).unwrap_or(value.len())]);
    }
    let mut out: Vec<String> = found.iter().map(|p| p.to_string()).collect();
    out.extend(
        found
            .iter()
            .map(|p| percent_decode(p))
            .filter(|d| !found.contains(&d.as_str())),
    );
    out
}

/// `%XX` escapes decoded (invalid ones kept as written).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn overrides(cli: &Cli) -> Overrides {
    Overrides {
        config: cli.config.clone(),
        database_url: cli.database_url.clone(),
        dir: cli.dir.clone(),
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUNNER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("runner={level}")));
    // Colours only on a terminal: in a CI log or a file they are escape codes.
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .try_init();
}

async fn run(cx: &Context, command: &ProjectCommand) -> anyhow::Result<i32> {
    match command {
        ProjectCommand::Createdb(args) => createdb::create(cx, args).await,
        ProjectCommand::Dropdb(args) => createdb::drop(cx, args).await,
        ProjectCommand::Revision(args) => revision::run(cx, args).await,
        ProjectCommand::Migrate(args) => revision::migrate(cx, args).await,
        ProjectCommand::Upgrade(args) => upgrade::upgrade(cx, args).await,
        ProjectCommand::Downgrade(args) => upgrade::downgrade(cx, args).await,
        ProjectCommand::Current(args) => current::run(cx, args).await,
        ProjectCommand::Status(args) => current::status(cx, args).await,
        ProjectCommand::Check(args) => check::run(cx, args).await,
        ProjectCommand::Diff(args) => diff::run(cx, args).await,
        ProjectCommand::Schema(args) => schema::run(cx, args).await,
        ProjectCommand::Baseline(args) => baseline::run(cx, args).await,
        ProjectCommand::Lint(args) => lint::run(cx, args),
        ProjectCommand::Heads(args) => heads::heads(cx, args),
        ProjectCommand::Branches(args) => heads::branches(cx, args),
        ProjectCommand::History(args) => history::run(cx, args).await,
        ProjectCommand::Show(args) => show::run(cx, args),
        ProjectCommand::Loaddata(args) => fixtures::load(cx, args).await,
        ProjectCommand::Dumpdata(args) => fixtures::dump(cx, args).await,
        ProjectCommand::Stamp(args) => stamp::stamp(cx, args).await,
        ProjectCommand::Repair(args) => stamp::repair(cx, args).await,
        ProjectCommand::Merge(args) => merge::run(cx, args),
        ProjectCommand::Build(args) => build::build(cx, args).await,
        ProjectCommand::NewTransform(args) => build::new_transform(cx, args),
        ProjectCommand::TryTransform(args) => try_transform::run(cx, args).await,
    }
}

/// The exit code for an error: 2 where the input is at fault and nothing was changed, 1 where
/// a migration or command failed.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    for cause in error.chain() {
        if cause.is::<UsageError>()
            || cause.is::<ConfigError>()
            || cause.is::<SourceError>()
            || cause.is::<GraphError>()
            || cause.is::<TargetError>()
            || cause.is::<UrlError>()
            || cause.is::<crate::transforms::TransformsError>()
        {
            return 2;
        }
        if let Some(plan) = cause.downcast_ref::<PlanError>() {
            return plan_code(plan);
        }
        if let Some(fixtures) = cause.downcast_ref::<crate::fixtures::FixtureError>() {
            return fixtures.exit_code();
        }
        if let Some(exec) = cause.downcast_ref::<ExecError>() {
            return match exec {
                ExecError::Plan(plan) => plan_code(plan),
                ExecError::Refused(_) => 2,
                ExecError::Target(_)
                | ExecError::Graph(_)
                | ExecError::Transforms(_)
                | ExecError::ChecksumMismatch { .. }
                | ExecError::ChangedSinceHalfRun { .. } => 2,
                ExecError::Db(db) => db_code(db),
                ExecError::ResumeOtherWay(_) => 2,
                ExecError::HalfApplied(_)
                | ExecError::CannotResume { .. }
                | ExecError::RepairOverSteps { .. }
                | ExecError::Introspect(_)
                | ExecError::StepFailed(_)
                | ExecError::ConcurrentChange(_) => 1,
            };
        }
        if let Some(db) = cause.downcast_ref::<DbError>() {
            return db_code(db);
        }
    }
    1
}

fn plan_code(error: &PlanError) -> i32 {
    match error {
        PlanError::Invalid(_) => 2,
        PlanError::Irreversible(_) => 1,
    }
}

fn db_code(error: &DbError) -> i32 {
    match error {
        DbError::Connect { .. } | DbError::NoSuchFile(_) => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let err = Cli::try_parse_from(["runner", "upgrade", "--lock-timeout", "soon"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("'soon' is not a duration"),
            "{err}"
        );
        let cli = Cli::try_parse_from(["runner", "stamp", "-1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Project(ProjectCommand::Stamp(_))
        ));
    }

    #[test]
    fn flags_after_a_target_are_flags_and_relative_targets_are_targets() {
        // A target may start with `-` (`-1`), but a flag is never taken for one: with
        // `allow_hyphen_values`, `upgrade --no-build` ran with the target `--no-build`.
        let flags = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Project(ProjectCommand::Upgrade(a))) => (a.target, a.flags.no_build),
            Ok(Command::Project(ProjectCommand::Downgrade(a))) => {
                (a.target.unwrap_or_default(), a.flags.no_build)
            }
            Ok(Command::Project(ProjectCommand::Stamp(a))) => (a.target, a.flags.no_build),
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(
            flags(&["runner", "upgrade", "--no-build"]),
            ("heads".into(), true)
        );
        assert_eq!(
            flags(&["runner", "upgrade", "+2", "--no-build"]),
            ("+2".into(), true)
        );
        assert_eq!(
            flags(&["runner", "downgrade", "--no-build", "-1"]),
            ("-1".into(), true)
        );
        assert_eq!(
            flags(&["runner", "downgrade", "-2", "--allow-changed"]),
            ("-2".into(), false)
        );
        assert_eq!(flags(&["runner", "stamp", "-1"]), ("-1".into(), false));
        let err = Cli::try_parse_from(["runner", "upgrade", "--no-biuld"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn passwords_are_found_in_urls_that_do_not_parse() {
        assert_eq!(passwords("postgres://app:p#ss@db/crm"), ["p#ss"]);
        assert_eq!(passwords("mysql://root:pw@h:3306/x"), ["pw"]);
        assert_eq!(
            passwords("postgres://app:a@b@db/crm"),
            ["a", "a@b"],
            "an @ in the password"
        );
        assert_eq!(
            passwords("postgres://app:p%40ss@db/crm"),
            ["p%40ss", "p@ss"]
        );
        assert_eq!(
            passwords("postgres://db/crm?user=app&password=s3cret&x=1"),
            ["s3cret"]
        );
        assert!(passwords("postgres://app@db:5432/crm").is_empty());
        assert!(passwords("sqlite://app.db").is_empty());
        assert!(passwords("not a url").is_empty());
    }

    #[test]
    fn config_urls_are_read_from_a_file_toml_cannot_parse() {
        let text = "database_url = \"postgres://app:s3cret@db/crm\"\nmigrations = [oops\n  database_url='mysql://r:pw2@h/x' # old\ndatabase_url = \"postgres://a:q\\\"t@h/x\"\n";
        assert_eq!(
            config_urls(text),
            [
                "postgres://app:s3cret@db/crm",
                "mysql://r:pw2@h/x",
                "postgres://a:q\\\"t@h/x",
                "postgres://a:q\"t@h/x",
            ]
        );
    }
}
