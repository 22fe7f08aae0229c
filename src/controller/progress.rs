//! The write log: every write to AWS is logged as it is made, with how far its sweep is, so a
//! killed `apply` leaves a record of what it changed. One line per call, in the chosen log format
//! (text or JSON, with the fields for machines).

use crate::aws::{AwsError, Target};

/// Counts the writes of one region's sweep of one kind.
pub struct Progress<'a> {
    kind: &'static str,
    target: &'a Target,
    done: usize,
    total: usize,
}

/// One write, as the log says it.
pub struct Write<'a> {
    /// `<namespace>/<name>` of the object it is for.
    pub owner: &'a str,
    /// create, update, delete, ...
    pub verb: &'static str,
    /// The name of what was written.
    pub name: &'a str,
    /// What was done, in words: `created NAME`, `updated NAME: threshold "300" -> "120"`.
    pub line: String,
}

impl<'a> Progress<'a> {
    pub fn new(kind: &'static str, target: &'a Target, total: usize) -> Self {
        Self {
            kind,
            target,
            done: 0,
            total,
        }
    }

    /// `more` writes turned out to be due (a step learns its later writes as it goes).
    pub fn grow(&mut self, more: usize) {
        self.total += more;
    }

    /// Logs one write as it is made.
    pub fn log<T>(&mut self, write: Write<'_>, result: &Result<T, AwsError>) {
        self.done += 1;
        let (kind, region, done, total) = (self.kind, &self.target.region, self.done, self.total);
        let Write {
            owner,
            verb,
            name,
            line,
        } = write;
        match result {
            Ok(_) => tracing::info!(
                kind, region = %region, owner = %owner, action = verb, name = %name, done, total,
                "{kind} {owner} [{region}]: {line} ({done}/{total})"
            ),
            Err(err) => tracing::warn!(
                kind, region = %region, owner = %owner, action = verb, name = %name, done, total,
                error = %err,
                "{kind} {owner} [{region}]: failed to {verb} {name}: {err} ({done}/{total})"
            ),
        }
    }
}
