//! The exit codes of `weir run` (and `weir validate`), documented in the
//! crate's README.

use weir::RunReport;

/// How a `weir` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every record was delivered or filtered.
    Success,
    /// 1: the run finished, but some records were dead-lettered, dropped,
    /// or left unfinished (nacked).
    SuccessWithLosses,
    /// 2: the pipeline file is invalid (or the flags are).
    ConfigError,
    /// 3: the run could not start, or failed (a fail-fast stage, the sink or
    /// the dead-letter output failed).
    RunFailed,
    /// 130: stopped by SIGINT or SIGTERM (after draining).
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::SuccessWithLosses => 1,
            Exit::ConfigError => 2,
            Exit::RunFailed => 3,
            Exit::Interrupted => 130,
        }
    }

    /// How a run that produced `report` ended; `interrupted` if a signal
    /// stopped it.
    pub fn of_run(report: &RunReport, interrupted: bool) -> Exit {
        let books = &report.accounting;
        if report.error.is_some() {
            Exit::RunFailed
        } else if interrupted {
            Exit::Interrupted
        } else if books.dead_lettered + books.dropped + books.nacked > 0 {
            Exit::SuccessWithLosses
        } else {
            Exit::Success
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}
