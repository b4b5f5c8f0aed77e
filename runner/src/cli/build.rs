//! `runner build` and `runner new-transform NAME`: the transform crates of the project.

use serde::Serialize;

use super::{Context, Format, output};
use crate::transforms::{self, Project};

/// Build every transform (Rust, Python, JavaScript) into a component and record it in
/// transforms.lock
#[derive(Debug, clap::Args)]
pub struct BuildArgs {}

/// Create a transform in the transforms workspace, ready to build: a Rust crate, or a folder
/// with a Python or JavaScript transform
#[derive(Debug, clap::Args)]
pub struct NewTransformArgs {
    /// The transform's name, which revisions use as `module`
    name: String,
    /// The language to write it in
    #[arg(long, value_enum, default_value = "rust")]
    lang: transforms::Lang,
}

#[derive(Serialize)]
struct Built {
    module: String,
    sha256: String,
    has_down: bool,
    wasm: String,
}

/// Runs `build`.
pub async fn build(cx: &Context, _args: &BuildArgs) -> anyhow::Result<i32> {
    let project = Project::new(&cx.config);
    let quiet = cx.quiet || cx.format == Format::Json;
    let report = transforms::build(&project, &mut |message| {
        if !quiet {
            eprintln!("{message}");
        }
    })
    .await?;
    let built: Vec<Built> = report
        .modules
        .iter()
        .map(|(name, entry)| Built {
            module: name.clone(),
            sha256: entry.sha256.clone(),
            has_down: entry.has_down,
            wasm: project.wasm_path(name).display().to_string(),
        })
        .collect();
    match cx.format {
        Format::Json => output::json(&serde_json::json!({
            "modules": built, "lock": project.lock_path.display().to_string(), "duration_ms": report.duration_ms,
        }))?,
        _ if built.is_empty() => println!("no transform crates in {}", project.dir.display()),
        _ => {
            for module in &built {
                let down = if module.has_down {
                    "up and down"
                } else {
                    "up only"
                };
                println!(
                    "{}  {}  {down}  {}",
                    &module.sha256[..12],
                    module.module,
                    module.wasm
                );
            }
            if !cx.quiet {
                println!(
                    "recorded in {} ({} ms)",
                    project.lock_path.display(),
                    report.duration_ms
                );
            }
        }
    }
    Ok(0)
}

/// Runs `new-transform`.
pub fn new_transform(cx: &Context, args: &NewTransformArgs) -> anyhow::Result<i32> {
    let project = Project::new(&cx.config);
    let dir = transforms::new_transform(&project, &args.name, args.lang)?;
    let source = match args.lang {
        transforms::Lang::Rust => dir.join("src/lib.rs"),
        lang => dir.join(lang.entry_file()),
    };
    match cx.format {
        Format::Json => output::json(
            &serde_json::json!({ "module": args.name, "path": dir.display().to_string() }),
        )?,
        _ => {
            println!("{}", dir.display());
            if !cx.quiet {
                println!(
                    "next: edit {}, add `- transform: {{module: {}, reads: [...], writes: [...]}}` to a revision, then `runner build` (or just `runner upgrade`)",
                    source.display(),
                    args.name
                );
            }
        }
    }
    Ok(0)
}
