//! `photo_organizer -s LIBRARY -o OUT`: runs the pipeline's stages in order
//! ([`crate::pipeline`]), holding OUT's lock, and exits 0, 1 (some photos failed) or 130
//! (interrupted; re-running continues).

use std::{io::Write, path::Path, process::ExitCode, sync::atomic::Ordering, time::Instant};

use crate::{
    config::OrganizeConfig,
    execute::{execute, remove_stale_partials, ExecReport},
    exit::{EXIT_INTERRUPTED, EXIT_WITH_ERRORS, STOP},
    lock::lock_output,
    pipeline::{
        analyse::{analyse, model_key},
        cluster::{cluster_faces, gather_faces},
        hash::hash,
        identify::{identify_people, load_state, save_people},
        library::scan_library,
        place::place,
        record::{all_errors, placed, summary, write_outputs, RunView},
    },
    plan::Plan,
    report::{print_json, render_summary},
};

use super::{open_cache, progress_sink};

pub fn run(c: &OrganizeConfig, cache_dir: &Path, verbose: bool) -> anyhow::Result<ExitCode> {
    let lock = if c.dry_run {
        None
    } else {
        Some(lock_output(&c.output)?)
    };
    let result = run_locked(c, cache_dir, verbose);
    if let (Err(_), Some(lock)) = (&result, lock) {
        lock.abandon();
    }
    result
}

fn run_locked(c: &OrganizeConfig, cache_dir: &Path, verbose: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let progress = progress_sink(c.progress);
    let progress = progress.as_ref();
    let mut cache = open_cache(cache_dir)?;
    let model_key = model_key(c);

    let library = scan_library(c, progress);
    let hashes = hash(&library, &mut cache, progress)?;
    let Some(analyses) = analyse(
        c, &library, &hashes, &mut cache, &model_key, progress, verbose, &STOP,
    )?
    else {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    };
    let faces = gather_faces(&library, &hashes, &analyses);
    let labels = cluster_faces(&faces, &analyses, c, progress)?;
    let state = load_state(&cache, &c.collection, &model_key)?;
    let people = identify_people(&faces, &labels, &state);
    if !c.dry_run {
        save_people(
            &mut cache,
            &c.collection,
            &model_key,
            &faces,
            &people,
            &state,
        )?;
    }
    let placement = place(&library, &analyses, &people, c);

    let exec = if c.dry_run {
        print_plan(&placement.plan, c)?;
        ExecReport::default()
    } else {
        let stale = remove_stale_partials(&c.output);
        if stale > 0 && verbose {
            progress.message(&format!(
                "removed {stale} unfinished copies left by an earlier run"
            ));
        }
        execute(&placement.plan, &c.output, c.transfer, progress, &STOP)
    };

    let placed = placed(&library, &placement, &exec);
    let errors = all_errors(&library, &analyses, &placed);
    let run = RunView {
        c,
        library: &library,
        analyses: &analyses,
        faces: &faces,
        people: &people,
        placement: &placement,
    };
    let summary = summary(&run, &exec, errors.len(), started.elapsed().as_secs_f64());
    if !c.dry_run {
        write_outputs(&run, placed, &summary, &errors)?;
    }
    if c.json {
        if !c.dry_run {
            print_json(&summary)?;
        }
    } else if c.quiet {
        // No summary, but what failed is still said.
        for e in &errors {
            eprintln!("error: {}: {}", e.path.display(), e.cause);
        }
    } else {
        print!("{}", render_summary(&summary, &errors));
    }
    if STOP.load(Ordering::Relaxed) {
        eprintln!("interrupted while copying; run the same command again to finish");
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_WITH_ERRORS)
    })
}

fn print_plan(the_plan: &Plan, c: &OrganizeConfig) -> anyhow::Result<()> {
    if c.json {
        print_json(the_plan)?;
    } else {
        let mut out = std::io::stdout().lock();
        for op in &the_plan.ops {
            writeln!(
                out,
                "{} -> {}",
                op.src.display(),
                c.output.join(&op.dst).display()
            )?;
        }
    }
    Ok(())
}
