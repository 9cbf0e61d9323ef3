//! The `weir` command: parses the command line, reads the pipeline file,
//! runs the pipeline, and turns errors into located diagnostics (miette)
//! and exit codes.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::assemble::{assemble, AssembleError};
use crate::cli::{Cli, Command, RunArgs};
use crate::config::{ConfigError, Located};
use crate::connector::SourceContext;
use crate::data_dir::{DataDir, DataDirError};
use crate::exit_code::Exit;
use crate::pipeline_file::warnings::warnings;
use crate::pipeline_file::PipelineConfig;
use crate::report::Recorder;
use crate::signals::Signals;
use crate::view::{print_summary, LiveView};
use crate::{logging, metrics_http, top};
use clap::Parser;
use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceCode};

/// Runs the `weir` command with this process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One line per message, however narrow the terminal, so the
    // `file:line:column: message` line can be searched for.
    let _already_set = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    if let Err(error) = logging::init(cli.log_level.as_deref(), cli.log_format) {
        eprintln!("weir: {error}");
        return Exit::ConfigError.into();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("weir: cannot start the async runtime: {error}");
            return Exit::RunFailed.into();
        }
    };
    let exit = match cli.command {
        Command::Validate { pipeline } => validate(&pipeline),
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Top(args) => {
            let options = top::Options {
                urls: args.urls,
                interval: args.interval.0,
                plain: args.plain,
                count: args.count,
            };
            match top::run(&options, &runtime) {
                Ok(()) => Exit::Success,
                Err(error) => {
                    eprintln!("weir top: {error}");
                    Exit::RunFailed
                }
            }
        }
    };
    exit.into()
}

fn load(path: &Path) -> Result<PipelineConfig, Exit> {
    PipelineConfig::load(path).map_err(|error| {
        match error {
            ConfigError::Read { .. } => eprintln!("weir: {error}"),
            ConfigError::Invalid(located) => show(&located, Severity::Error),
        }
        Exit::ConfigError
    })
}

fn validate(path: &Path) -> Exit {
    let config = match load(path) {
        Ok(config) => config,
        Err(exit) => return exit,
    };
    let found = warnings(&config, config.dead_letter.is_some());
    for warning in &found {
        show(warning, Severity::Warning);
    }
    eprintln!(
        "{}: valid ({} stage{}, {} warning{})",
        path.display(),
        config.stages.len(),
        plural(config.stages.len()),
        found.len(),
        plural(found.len())
    );
    Exit::Success
}

async fn run(args: RunArgs) -> Exit {
    let config = match load(&args.pipeline) {
        Ok(config) => config,
        Err(exit) => return exit,
    };
    if !args.quiet {
        let dead_letter_given = args.dead_letter.is_some() || config.dead_letter.is_some();
        for warning in warnings(&config, dead_letter_given) {
            show(&warning, Severity::Warning);
        }
    }
    // Caught before anything starts, instead of the default kill: a
    // signal while the pipeline is built ends the run before it starts;
    // one in the instant after it starts drains it.
    let mut signals = match Signals::listen() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("weir: cannot watch for signals: {error}");
            return Exit::RunFailed;
        }
    };
    let context = match open_state(&config, &args) {
        Ok(context) => context,
        Err(error) => {
            eprintln!("weir: {error}");
            return Exit::RunFailed;
        }
    };
    // Served before the source and sink connect: live, not ready yet.
    let endpoint = match args.metrics_addr {
        None => None,
        Some(addr) => match metrics_http::serve(addr).await {
            Ok(endpoint) => {
                eprintln!("weir: metrics at http://{}/metrics", endpoint.addr);
                Some(endpoint)
            }
            Err(error) => {
                eprintln!("weir: cannot serve metrics on {addr}: {error}");
                return Exit::RunFailed;
            }
        },
    };
    // Connecting may take long (a broker that is down): a signal then
    // ends the run before it started.
    let assembling = assemble(&config, &context, args.dead_letter.as_deref(), args.quiet);
    let assembled = tokio::select! {
        assembled = assembling => match assembled {
            Ok(assembled) => assembled,
            Err(error) => {
                show_assemble_error(&config, &error);
                return Exit::RunFailed;
            }
        },
        name = signals.next() => {
            eprintln!("\n{name}: stopped while starting; no record was read");
            return Exit::Interrupted;
        }
    };
    if let Some(addr) = assembled.listening {
        eprintln!("weir: listening on {addr}");
    }
    let running = assembled.pipeline.start();
    let monitor = running.monitor();
    if let Some(endpoint) = &endpoint {
        endpoint.started(monitor.clone(), running.shutdown_handle());
    }
    tracing::info!(pipeline = %args.pipeline.display(), "pipeline started");
    let interrupted = signals.watch(
        running.shutdown_handle(),
        monitor.clone(),
        args.drain_timeout.0,
    );
    let recorder = args
        .report
        .as_ref()
        .map(|_| Recorder::start(monitor.clone()));
    let view = LiveView::start(monitor, args.quiet);
    let report = running.wait().await;
    view.finish();
    // Every record the run read was finished: none nacked (a record a stop
    // left on a spill counts as nacked), none in flight.
    let finished =
        report.error.is_none() && report.accounting.nacked == 0 && report.accounting.balances();
    context.run_end.tell(finished);
    tracing::info!(
        received = report.accounting.received,
        delivered = report.accounting.delivered,
        "pipeline finished"
    );
    // The source may still be answering (an HTTP source's last replies).
    if let Some(task) = assembled.lingering {
        let _ = tokio::time::timeout(LINGER, task).await;
    }
    drop(endpoint);
    if args.quiet {
        // Errors still show with --quiet: the reason a run failed, then the books.
        if let Some(error) = &report.error {
            eprintln!("error: {error}");
        }
        eprintln!("{}", report.accounting);
    } else if let Err(error) = print_summary(&report, &mut std::io::stderr()) {
        eprintln!("weir: cannot print the summary: {error}");
    }
    if let Some(path) = &assembled.dead_letter_path {
        if report.accounting.dead_lettered > 0 {
            eprintln!("dead letters: {}", path.display());
        }
    }
    if let (Some(path), Some(recorder)) = (&args.report, recorder) {
        let data = recorder.finish(&report);
        match crate::report::write(path, &data) {
            Ok(()) => eprintln!("report: {}", path.display()),
            Err(error) => eprintln!("weir: cannot write the report {}: {error}", path.display()),
        }
    }
    Exit::of_run(&report, interrupted.get())
}

/// Opens and locks the data directory when a component keeps state.
fn open_state(config: &PipelineConfig, args: &RunArgs) -> Result<SourceContext, DataDirError> {
    let data_dir = if config.keeps_state() {
        let path = config.data_dir_path(args.data_dir.as_deref());
        Some(Arc::new(DataDir::open(path)?))
    } else {
        None
    };
    Ok(SourceContext {
        data_dir,
        from_start: args.from_start,
        quiet: args.quiet,
        ..SourceContext::default()
    })
}

/// How long the command waits, after a run, for what its source left
/// running (an HTTP source answering its last requests).
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn show_assemble_error(config: &PipelineConfig, error: &AssembleError) {
    match &error.span {
        Some(span) => {
            let located = config.file.locate(Some(span.clone()), &error.to_string());
            show(&located, Severity::Error);
        }
        None => eprintln!("weir: {error}"),
    }
}

/// Prints a located message the way miette draws it: the file, line and
/// column, the line itself, and a mark under the place.
fn show(located: &Located, severity: Severity) {
    let diagnostic = FileDiagnostic {
        located: located.clone(),
        source: NamedSource::new(located.path.display().to_string(), located.text.to_string()),
        severity,
    };
    eprintln!("{:?}", miette::Report::new(diagnostic));
}

/// A [`Located`] message as a miette diagnostic.
#[derive(Debug)]
struct FileDiagnostic {
    located: Located,
    source: NamedSource<String>,
    severity: Severity,
}

impl std::fmt::Display for FileDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.located.fmt(f)
    }
}

impl std::error::Error for FileDiagnostic {}

impl Diagnostic for FileDiagnostic {
    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = &self.located.span;
        let label = LabeledSpan::at(span.start..span.end.max(span.start), "here");
        Some(Box::new(std::iter::once(label)))
    }
}
