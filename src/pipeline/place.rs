//! Stage 6: every library photo that was analysed gets its destinations (a person's folder,
//! `_unknown/`, `_no_faces/`, by year if asked), and [`crate::output::plan::plan`] turns them and
//! the photos' companions into copy operations without touching the disk. A photo that failed or
//! is a duplicate is not placed, and neither are its companions.

use std::time::UNIX_EPOCH;

use crate::{
    cache::StoredAnalysis,
    config::OrganizeConfig,
    media::scan::PhotoRef,
    output::plan::{destinations, plan, Layout, PlacedCompanion, PlacedPhoto, Plan},
};

use super::{analyse::Analyses, identify::People, library::Library};

pub struct Placement {
    /// The item index of each placed photo (`Plan`'s `photo` indexes this).
    pub items: Vec<usize>,
    pub photos: Vec<PlacedPhoto>,
    pub plan: Plan,
}

pub fn place(
    library: &Library,
    analyses: &Analyses,
    people: &People,
    c: &OrganizeConfig,
) -> Placement {
    let items: Vec<usize> = (0..library.library_len)
        .filter(|i| analyses.of_item.contains_key(i))
        .collect();
    let photos: Vec<PlacedPhoto> = items
        .iter()
        .map(|&i| {
            let photo = &library.items[i].photo;
            PlacedPhoto {
                src: photo.path.clone(),
                rel_path: photo.rel_path.clone(),
                destinations: destinations(&exported(people, i)),
                year: year_taken(&analyses.of_item[&i], photo),
                companions: library
                    .companions_of(i)
                    .iter()
                    .map(|c| PlacedCompanion {
                        src: c.file.path.clone(),
                        kind: c.kind,
                        form: c.form.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let layout = Layout {
        folders: people.folders.clone(),
        by_year: c.by_year,
    };
    let plan = plan(&photos, &layout);
    Placement {
        items,
        photos,
        plan,
    }
}

/// The people of item `i`'s faces who get a folder: a hidden person counts as nobody known.
fn exported(people: &People, i: usize) -> Vec<Option<u32>> {
    people
        .of_item
        .get(&i)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|p| p.filter(|p| !people.hidden.contains(p)))
        .collect()
}

/// Year of a Unix time (UTC), by the civil-from-days algorithm.
fn year_of_unix(secs: i64) -> i32 {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2)) as i32
}

fn year_taken(analysis: &StoredAnalysis, photo: &PhotoRef) -> Option<i32> {
    analysis
        .date_taken
        .as_deref()
        .and_then(|d| d.get(..4)?.parse().ok())
        .or_else(|| {
            let secs = photo.mtime?.duration_since(UNIX_EPOCH).ok()?.as_secs();
            Some(year_of_unix(secs as i64))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_from_unix_time() {
        assert_eq!(year_of_unix(0), 1970);
        assert_eq!(year_of_unix(1_252_528_029), 2009); // 2009-09-09
        assert_eq!(year_of_unix(951_782_400), 2000); // 2000-02-29
        assert_eq!(year_of_unix(978_307_199), 2000); // 2000-12-31T23:59:59
        assert_eq!(year_of_unix(-1), 1969);
    }
}
