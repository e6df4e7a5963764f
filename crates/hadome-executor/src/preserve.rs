//! Preserve before destroy: [`preserve`] moves a data directory aside, to
//! `DATA.hadome-aside-STAMP`, and never deletes anything.
//!
//! A rebuild or a restore writes a new data directory where the old one was; the old one may
//! hold the only copy of commits nobody else has (incident B), so it is renamed, on the same
//! filesystem, and left for a person to remove.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hadome_core::fact::Timestamp;

/// Why a data directory could not be moved aside; nothing was deleted.
#[derive(Debug, thiserror::Error)]
pub enum PreserveError {
    /// The estate names no data directory for the instance.
    #[error("the instance has no data_dir in the estate")]
    NoDataDir,
    /// The directory could not be looked at.
    #[error("cannot read `{}`: {error}", .path.display())]
    Read {
        /// The data directory.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The rename failed.
    #[error("could not move `{}` aside to `{}`: {error}", .path.display(), .aside.display())]
    Move {
        /// The data directory.
        path: PathBuf,
        /// Where it was to go.
        aside: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
}

/// Moves `data_dir` aside to `DATA.hadome-aside-YYYYMMDDTHHMMSSZ` (with `-2`, `-3` … when that
/// exists); nothing is deleted. Returns what was done: where it went, or that there was nothing.
pub fn preserve(data_dir: &Path) -> Result<String, PreserveError> {
    if data_dir.as_os_str().is_empty() {
        return Err(PreserveError::NoDataDir);
    }
    match std::fs::symlink_metadata(data_dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(format!(
                "nothing to preserve: `{}` does not exist",
                data_dir.display()
            ))
        }
        Err(error) => {
            return Err(PreserveError::Read {
                path: data_dir.to_owned(),
                error,
            })
        }
        Ok(_) => {}
    }
    let stamp = utc_stamp(wall_clock());
    let mut aside = PathBuf::from(format!("{}.hadome-aside-{stamp}", data_dir.display()));
    let mut counter = 1;
    while aside.exists() {
        counter += 1;
        aside = PathBuf::from(format!(
            "{}.hadome-aside-{stamp}-{counter}",
            data_dir.display()
        ));
    }
    std::fs::rename(data_dir, &aside).map_err(|error| PreserveError::Move {
        path: data_dir.to_owned(),
        aside: aside.clone(),
        error,
    })?;
    Ok(format!("moved to `{}`", aside.display()))
}

/// The wall clock, to the millisecond: the executor is an edge, and stamps what it moves aside.
fn wall_clock() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// `YYYYMMDDTHHMMSSZ` for a timestamp (UTC), without a date library: days to civil date after
/// Howard Hinnant's `civil_from_days`.
pub fn utc_stamp(at: Timestamp) -> String {
    let seconds = at.0.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_are_calendar_dates() {
        assert_eq!(utc_stamp(Timestamp(0)), "19700101T000000Z");
        assert_eq!(utc_stamp(Timestamp(1_795_000_000_000)), "20261118T110640Z");
        assert_eq!(utc_stamp(Timestamp(951_782_400_000)), "20000229T000000Z");
    }

    #[test]
    fn preserve_moves_aside_and_never_deletes() {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        let detail = preserve(&data).unwrap();
        assert!(!data.exists());
        let aside: Vec<PathBuf> = std::fs::read_dir(scratch.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(
            std::fs::read_to_string(aside[0].join("PG_VERSION")).unwrap(),
            "15\n"
        );
        assert!(detail.contains(".hadome-aside-"), "{detail}");
        assert!(preserve(&data).unwrap().contains("nothing to preserve"));
    }
}
