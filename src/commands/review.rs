//! `photo_organizer review -o OUT`: opens OUT's people ([`crate::review::Review`]), binds
//! 127.0.0.1, prints the page's address with its token and serves until stopped (Ctrl-C).

use std::process::ExitCode;

use anyhow::Context;

use crate::{
    config::ReviewConfig,
    review::{server, Review},
};

pub fn run(r: &ReviewConfig, cache_dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let mut review = Review::open(&r.output, &r.collection, cache_dir)?;
    if let Some(note) = &review.restore_note {
        eprintln!("{note}");
    }
    let listener = server::bind(r.port.unwrap_or(0)).map_err(|e| match (r.port, e.kind()) {
        (Some(port), std::io::ErrorKind::AddrInUse) => anyhow::anyhow!(
            "port {port} on 127.0.0.1 is busy (another program, or another review, uses it); choose another --port, or leave --port out for a free one"
        ),
        _ => anyhow::Error::new(e).context("cannot listen on 127.0.0.1"),
    })?;
    let port = listener
        .local_addr()
        .context("cannot read the bound port")?
        .port();
    let guard = server::Guard::new(port).context("cannot make a token")?;
    let url = guard.url();
    println!("{url}");
    eprintln!(
        "review of {}: {} people, {} faces ({} unknown); open the address above (only this machine can); Ctrl-C stops",
        r.output.display(),
        review.view.people.len(),
        review.faces.len(),
        review.view.groups.iter().map(|g| g.faces.len()).sum::<usize>()
    );
    if r.open {
        if let Err(e) = server::open_browser(&url) {
            eprintln!("warning: cannot start a browser ({e}); open the address yourself");
        }
    }
    server::serve(listener, &guard, &mut review, super::organize::run)
        .context("cannot start the page's server")?;
    Ok(ExitCode::SUCCESS)
}
