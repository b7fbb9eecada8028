//! `photo_organizer -s LIBRARY -o OUT`: runs the pipeline's stages in order
//! ([`crate::pipeline`]), holding OUT's lock, and exits 0, 1 (some photos failed) or 130
//! (interrupted; re-running continues).

use std::{
    collections::HashMap, io::Write, path::Path, process::ExitCode, sync::atomic::Ordering,
    time::Instant,
};

use anyhow::Context;

use crate::{
    config::OrganizeConfig,
    output::execute::{execute_with, remove_stale_partials, EarlyCopies, ExecReport},
    output::lock::lock_output,
    output::plan::{Plan, Transfer},
    output::report::{print_json, render_summary},
    output::sync::{self, SyncPlan, Wanted},
    pipeline::{
        analyse::{analyse, model_key},
        cluster::{cluster_faces, gather_faces},
        hash::{hash_companions, hash_noting_new},
        identify::{identify_people, load_state, save_people},
        library::scan_library,
        place::place,
        record::{all_errors, placed, summary, write_outputs, RunView},
    },
    util::exit::{EXIT_INTERRUPTED, EXIT_WITH_ERRORS, STOP},
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
    crate::people::decisions::restore(&mut cache, &c.collection)?.inspect(|n| eprintln!("{n}"));
    let model_key = model_key(c);

    let library = scan_library(c, progress);
    let (hashes, new) = hash_noting_new(&library, &mut cache, progress)?;
    let companion_hashes = hash_companions(&library, &mut cache)?;
    if !c.dry_run {
        // OUT's lock is held: no other run is writing there.
        let stale = remove_stale_partials(&c.output);
        if stale > 0 && verbose {
            progress.message(&format!(
                "removed {stale} unfinished copies left by an earlier run"
            ));
        }
    }
    // Copies of the new photos start now, so the disk writes them while they are analysed.
    let early = (!c.dry_run && c.transfer == Transfer::Copy).then(|| {
        let sources = new
            .iter()
            .filter(|&&i| library.in_library(i) && hashes[i].is_ok())
            .map(|&i| library.items[i].photo.path.clone())
            .collect();
        EarlyCopies::start(&c.output, sources, &STOP)
    });
    let Some(analyses) = analyse(
        c, &library, &hashes, &mut cache, &model_key, progress, verbose, &STOP,
    )?
    else {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    };
    let faces = gather_faces(&library, &hashes, &analyses);
    let labels = cluster_faces(&faces, &analyses, c, progress)?;
    let state = load_state(&cache, &c.collection, &model_key)?;
    let people = identify_people(&faces, &analyses, &labels, &state);
    if !c.dry_run {
        save_people(
            &mut cache,
            &c.collection,
            &model_key,
            &faces,
            &people,
            &state,
        )?;
        crate::people::decisions::save(&cache, &c.collection)?;
    }
    let placement = place(&library, &analyses, &people, c);

    // Stage 6b: what earlier runs placed that this plan no longer wants.
    let (ledger, ledger_note) = sync::load(&c.output);
    if let Some(note) = ledger_note {
        progress.message(&note);
    }
    let sha_of_op: Vec<&str> = placement
        .plan
        .ops
        .iter()
        .map(|op| {
            let item = placement.items[op.photo];
            match op.companion {
                None => &hashes[item],
                Some(k) => &companion_hashes[item][k],
            }
            .as_deref()
            .unwrap_or_default()
        })
        .collect();
    // A file that could not be read has no sha256: nothing in OUT is taken for it (its copy
    // fails and says why).
    let wanted: Vec<Wanted> = placement
        .plan
        .ops
        .iter()
        .zip(&sha_of_op)
        .filter(|(_, sha)| !sha.is_empty())
        .map(|(op, sha)| Wanted {
            dst: &op.dst,
            src: &op.src,
            sha256: sha,
        })
        .collect();
    let companions = library
        .companions
        .iter()
        .flatten()
        .zip(companion_hashes.iter().flatten());
    let library_sha: HashMap<&Path, &str> = library
        .items
        .iter()
        .map(|it| &it.photo)
        .zip(&hashes)
        .chain(companions.map(|(c, h)| (&c.file, h)))
        .filter_map(|(file, h)| Some((file.path.as_path(), h.as_deref().ok()?)))
        .collect();
    let sync_plan = sync::reconcile(&c.output, &ledger, &wanted, c.transfer, &library_sha);

    let (exec, synced) = if c.dry_run {
        print_plan(&placement.plan, &sync_plan, c)?;
        let would = sync::SyncReport {
            moved_in_out: sync_plan.moves.len(),
            removed: sync_plan.removals.len(),
            left_in_place: sync_plan.left_in_place.clone(),
        };
        (ExecReport::default(), would)
    } else {
        let early = early.map(EarlyCopies::finish);
        let synced = sync::apply(&c.output, &sync_plan);
        let exec = execute_with(
            &placement.plan,
            &c.output,
            c.transfer,
            progress,
            &STOP,
            early.as_ref(),
        );
        drop(early);
        let new_ledger = sync::record(
            &c.output,
            &placement.plan,
            &sha_of_op,
            &exec,
            c.transfer,
            sync_plan.kept,
        );
        sync::save(&c.output, &new_ledger)
            .with_context(|| format!("cannot write {}", sync::ledger_path(&c.output).display()))?;
        (exec, synced)
    };

    let placed = placed(&placement, &exec);
    let errors = all_errors(&library, &analyses, &placed);
    let run = RunView {
        c,
        library: &library,
        analyses: &analyses,
        faces: &faces,
        people: &people,
        placement: &placement,
    };
    let summary = summary(
        &run,
        &exec,
        &synced,
        errors.len(),
        started.elapsed().as_secs_f64(),
    );
    if !c.dry_run {
        write_outputs(&run, placed, &summary, &errors, &synced.left_in_place)?;
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
        let orphans: Vec<_> = library.orphans.iter().map(|o| o.rel_path.clone()).collect();
        print!("{}", render_summary(&summary, &errors, &orphans));
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

/// `--dry-run`: every copy, and every move, removal and file left in place in OUT.
fn print_plan(the_plan: &Plan, sync: &SyncPlan, c: &OrganizeConfig) -> anyhow::Result<()> {
    if c.json {
        print_json(&serde_json::json!({
            "ops": the_plan.ops,
            "sync": sync,
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        for (from, to) in &sync.moves {
            let (from, to) = (c.output.join(from), c.output.join(to));
            writeln!(out, "move {} -> {}", from.display(), to.display())?;
        }
        for path in &sync.removals {
            writeln!(out, "remove {}", c.output.join(path).display())?;
        }
        for left in &sync.left_in_place {
            let path = c.output.join(&left.path);
            writeln!(out, "leave {} ({})", path.display(), left.reason)?;
        }
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
