//! What is wrong with a config: every problem found, each with its line and column.

use std::fmt;
use std::ops::Range;

/// Every problem found in a config, each with where it is.
#[derive(Debug)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

#[derive(Debug)]
pub struct Problem {
    /// 1-based line and column, when the problem can be pinned to the file.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.at {
                Some((line, col)) => write!(f, "line {line}, column {col}: {}", p.message)?,
                None => write!(f, "{}", p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

pub(super) struct Problems<'a> {
    pub(super) source: &'a str,
    pub(super) list: Vec<Problem>,
}

impl Problems<'_> {
    pub(super) fn at(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let at = span.map(|s| line_col(self.source, s.start));
        self.list.push(Problem { at, message: message.into() });
    }
}

pub(super) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
