//! What a connector is, and how the three registries (`sources::SOURCES`,
//! `stages::STAGES`, `sinks::SINKS`) know them.
//!
//! A connector is one file: its config type (deriving `Deserialize`; its
//! fields are its option keys), an impl of [`SourceConnector`],
//! [`StageConnector`] or [`SinkConnector`], its own error type, and its unit
//! tests. One line in its registry, `ConnectorType::source::<file::FileSource>()`,
//! makes it known to the config parser, `weir validate`, the live view and the
//! README tables' test. Nothing else names it.
//!
//! Reading a table: the `type` key picks the registry entry; the connector
//! takes the keys its config names (and any option group it embeds, such as
//! the HTTP call options); the options every component of its kind takes
//! (a stage's `concurrency`, a sink's `retries`) get the keys that remain
//! and that they name, so a connector's own option wins over a generic one
//! of the same name; a key nobody took is an error listing every key offered.
//!
//! The registries hold plain function pointers; the parsed configs and the
//! opened connectors are boxed trait objects, so the engine sees one source
//! type and one sink type whatever the file says.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use weir::io::{Readings, Sink, Source, SourceItem};
use weir::stage::Stage;
use weir::BoxError;

use crate::config::{ConfigError, SourceFile, TablePart};
use crate::data_dir::DataDir;
use crate::record::Payload;
use crate::stages::options::StageOptions;

/// A source connector: its config, by `type = TYPE`.
pub(crate) trait SourceConnector:
    DeserializeOwned + fmt::Debug + Send + Sync + 'static
{
    /// The `type` that selects it.
    const TYPE: &'static str;
    /// The opened source.
    type Source: OpenedSource;
    /// Why it could not be opened.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Whether it keeps state in the data directory (checkpoints), so the
    /// run must open and lock one.
    fn keeps_state(&self) -> bool {
        false
    }
    /// Opens the source (binds its listener, finds its files, ...).
    fn open(
        &self,
        context: &SourceContext,
    ) -> impl Future<Output = Result<Self::Source, Self::Error>> + Send;
}

/// What a source is opened with, besides its config.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceContext {
    /// The run's data directory, open and locked, when some component
    /// [keeps state](SourceConnector::keeps_state).
    pub(crate) data_dir: Option<Arc<DataDir>>,
    /// `--from-start`: ignore what the data directory remembers.
    pub(crate) from_start: bool,
    /// `--quiet`: no notices (warnings about data still show).
    pub(crate) quiet: bool,
    /// The capacity of the link the source feeds (0 when unknown): a
    /// source that fetches in batches fetches no more than this at once.
    pub(crate) link_capacity: usize,
    /// Told how the run ended, for a source whose last word waits for it.
    pub(crate) run_end: RunEnd,
}

/// How a run ended, for a source whose last word waits for it: a file
/// source that read all of its input forgets its checkpoints only once the
/// run has finished every record (some may still be on a spill link, its
/// own or an earlier run's). The command tells it once, after the run; a
/// waiter never told (the command gave up) hears "not finished".
#[derive(Debug, Clone, Default)]
pub(crate) struct RunEnd(tokio::sync::watch::Sender<Option<bool>>);

impl RunEnd {
    /// The run ended; `finished` if it finished every record it read (none
    /// nacked, none left on a spill).
    pub(crate) fn tell(&self, finished: bool) {
        self.0.send_replace(Some(finished));
    }

    /// Resolves when the run has ended: whether it finished every record.
    /// It holds no sender, so it resolves `false` once every [`RunEnd`] is
    /// gone untold.
    pub(crate) fn finished(&self) -> impl Future<Output = bool> + Send + 'static {
        let mut told = self.0.subscribe();
        async move {
            let finished = told.wait_for(Option::is_some).await;
            finished.is_ok_and(|end| *end == Some(true))
        }
    }
}

/// An opened source.
pub(crate) trait OpenedSource: Source<Payload> {
    /// The address a listening source is bound to.
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// Work the source leaves running once the engine has dropped it (a
    /// server answering its last requests), for the command to wait for
    /// before it exits. Taken once, before the run.
    fn take_lingering(&mut self) -> Option<JoinHandle<()>> {
        None
    }
}

/// A stage connector: its config, by `type = TYPE`.
pub(crate) trait StageConnector:
    DeserializeOwned + fmt::Debug + Send + Sync + 'static
{
    /// The `type` that selects it.
    const TYPE: &'static str;
    /// Other `type`s that select it too.
    const ALIASES: &'static [&'static str] = &[];
    /// Why it could not be built.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Takes its keys from the table: by default its config's fields.
    fn parse(file: &SourceFile, part: &mut TablePart) -> Result<Self, ConfigError> {
        part.take(file)
    }
    /// Checks the generic options against the stage; the message is shown
    /// at the stage's `type`.
    fn check(&self, _options: &StageOptions) -> Result<(), String> {
        Ok(())
    }
    /// Valid choices that risk a stall, for `weir validate`.
    fn warnings(&self, _options: &StageOptions) -> Vec<&'static str> {
        Vec::new()
    }
    /// Builds the engine's stage; `name` is its name in the pipeline.
    fn build(&self, name: &str) -> Result<Stage<Payload, Payload>, Self::Error>;
}

/// A sink connector: its config, by `type = TYPE`.
pub(crate) trait SinkConnector:
    DeserializeOwned + fmt::Debug + Send + Sync + 'static
{
    /// The `type` that selects it.
    const TYPE: &'static str;
    /// The opened sink.
    type Sink: Sink<Payload>;
    /// Why it could not be opened.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Takes its keys from the table: by default its config's fields.
    fn parse(file: &SourceFile, part: &mut TablePart) -> Result<Self, ConfigError> {
        part.take(file)
    }
    /// Checks what its config can get wrong that its types do not; the
    /// message is shown at the sink's `type`.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
    /// Opens the sink.
    fn open(&self) -> impl Future<Output = Result<Self::Sink, Self::Error>> + Send;
}

/// A parsed `[source]`, whatever its type.
pub(crate) trait SourceSpec: fmt::Debug + Send + Sync {
    /// Its `type`.
    fn kind(&self) -> &'static str;
    /// See [`SourceConnector::keeps_state`].
    fn keeps_state(&self) -> bool;
    /// Opens it.
    fn open<'a>(&'a self, context: &'a SourceContext)
        -> BoxFuture<'a, Result<BoxSource, BoxError>>;
}

impl<C: SourceConnector> SourceSpec for C {
    fn kind(&self) -> &'static str {
        C::TYPE
    }

    fn keeps_state(&self) -> bool {
        SourceConnector::keeps_state(self)
    }

    fn open<'a>(
        &'a self,
        context: &'a SourceContext,
    ) -> BoxFuture<'a, Result<BoxSource, BoxError>> {
        Box::pin(async move {
            let source = SourceConnector::open(self, context).await?;
            Ok(BoxSource(Box::new(source)))
        })
    }
}

/// A parsed `[[stage]]`'s own part, whatever its type.
pub(crate) trait StageSpec: fmt::Debug + Send + Sync {
    /// Its `type`.
    fn kind(&self) -> &'static str;
    /// See [`StageConnector::check`].
    fn check(&self, options: &StageOptions) -> Result<(), String>;
    /// See [`StageConnector::warnings`].
    fn warnings(&self, options: &StageOptions) -> Vec<&'static str>;
    /// See [`StageConnector::build`].
    fn build(&self, name: &str) -> Result<Stage<Payload, Payload>, BoxError>;
}

impl<C: StageConnector> StageSpec for C {
    fn kind(&self) -> &'static str {
        C::TYPE
    }

    fn check(&self, options: &StageOptions) -> Result<(), String> {
        StageConnector::check(self, options)
    }

    fn warnings(&self, options: &StageOptions) -> Vec<&'static str> {
        StageConnector::warnings(self, options)
    }

    fn build(&self, name: &str) -> Result<Stage<Payload, Payload>, BoxError> {
        Ok(StageConnector::build(self, name)?)
    }
}

/// A parsed `[sink]`'s own part, whatever its type.
pub(crate) trait SinkSpec: fmt::Debug + Send + Sync {
    /// Its `type`.
    fn kind(&self) -> &'static str;
    /// See [`SinkConnector::check`].
    fn check(&self) -> Result<(), String>;
    /// Opens it.
    fn open(&self) -> BoxFuture<'_, Result<BoxSink, BoxError>>;
}

impl<C: SinkConnector> SinkSpec for C {
    fn kind(&self) -> &'static str {
        C::TYPE
    }

    fn check(&self) -> Result<(), String> {
        SinkConnector::check(self)
    }

    fn open(&self) -> BoxFuture<'_, Result<BoxSink, BoxError>> {
        Box::pin(async move {
            let sink = SinkConnector::open(self).await?;
            Ok(BoxSink(Box::new(sink)))
        })
    }
}

/// One entry of a registry: a `type` name and how to read its table.
pub(crate) struct ConnectorType<Spec: ?Sized> {
    /// The `type`.
    pub(crate) name: &'static str,
    /// Other `type`s for the same connector.
    pub(crate) aliases: &'static [&'static str],
    parse: fn(&SourceFile, &mut TablePart) -> Result<Box<Spec>, ConfigError>,
}

impl ConnectorType<dyn SourceSpec> {
    /// The entry of source connector `C`.
    pub(crate) const fn source<C: SourceConnector>() -> Self {
        fn parse<C: SourceConnector>(
            file: &SourceFile,
            part: &mut TablePart,
        ) -> Result<Box<dyn SourceSpec>, ConfigError> {
            part.expect::<C>();
            Ok(Box::new(part.take::<C>(file)?))
        }
        ConnectorType {
            name: C::TYPE,
            aliases: &[],
            parse: parse::<C>,
        }
    }
}

impl ConnectorType<dyn StageSpec> {
    /// The entry of stage connector `C`.
    pub(crate) const fn stage<C: StageConnector>() -> Self {
        fn parse<C: StageConnector>(
            file: &SourceFile,
            part: &mut TablePart,
        ) -> Result<Box<dyn StageSpec>, ConfigError> {
            part.expect::<C>();
            Ok(Box::new(C::parse(file, part)?))
        }
        ConnectorType {
            name: C::TYPE,
            aliases: C::ALIASES,
            parse: parse::<C>,
        }
    }
}

impl ConnectorType<dyn SinkSpec> {
    /// The entry of sink connector `C`.
    pub(crate) const fn sink<C: SinkConnector>() -> Self {
        fn parse<C: SinkConnector>(
            file: &SourceFile,
            part: &mut TablePart,
        ) -> Result<Box<dyn SinkSpec>, ConfigError> {
            part.expect::<C>();
            Ok(Box::new(C::parse(file, part)?))
        }
        ConnectorType {
            name: C::TYPE,
            aliases: &[],
            parse: parse::<C>,
        }
    }
}

/// Reads a table's `type` and hands the table to that connector of
/// `registry`; `what` names the section (`source`, `stage`, `sink`).
/// Returns the parsed connector and the span of its `type`.
pub(crate) fn parse_connector<Spec: ?Sized>(
    file: &SourceFile,
    part: &mut TablePart,
    what: &str,
    registry: &[ConnectorType<Spec>],
) -> Result<(Box<Spec>, Option<Range<usize>>), ConfigError> {
    let (kind, span) = part.take_type(file, what)?;
    let Some(entry) = registry
        .iter()
        .find(|entry| entry.name == kind || entry.aliases.contains(&kind.as_str()))
    else {
        let names: Vec<&str> = registry.iter().map(|entry| entry.name).collect();
        return Err(file.unknown_type(what, &kind, span, &names));
    };
    Ok(((entry.parse)(file, part)?, span))
}

/// An opened source, whatever its type.
pub(crate) struct BoxSource(Box<dyn DynSource>);

impl BoxSource {
    /// The address a listening source is bound to.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr()
    }

    /// See [`OpenedSource::take_lingering`].
    pub(crate) fn take_lingering(&mut self) -> Option<JoinHandle<()>> {
        self.0.take_lingering()
    }
}

impl Source<Payload> for BoxSource {
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        self.0.next_boxed().await
    }

    fn take_origin(&mut self) -> Option<Arc<str>> {
        self.0.take_origin()
    }

    fn readings(&self) -> Readings {
        self.0.readings()
    }
}

/// [`Source`] with its future boxed, so it can be a trait object.
trait DynSource: Send {
    fn next_boxed(&mut self) -> BoxFuture<'_, Option<SourceItem<Payload>>>;
    fn take_origin(&mut self) -> Option<Arc<str>>;
    fn readings(&self) -> Readings;
    fn local_addr(&self) -> Option<SocketAddr>;
    fn take_lingering(&mut self) -> Option<JoinHandle<()>>;
}

impl<S: OpenedSource> DynSource for S {
    fn next_boxed(&mut self) -> BoxFuture<'_, Option<SourceItem<Payload>>> {
        Box::pin(self.next())
    }

    fn take_origin(&mut self) -> Option<Arc<str>> {
        Source::take_origin(self)
    }

    fn readings(&self) -> Readings {
        Source::readings(self)
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        OpenedSource::local_addr(self)
    }

    fn take_lingering(&mut self) -> Option<JoinHandle<()>> {
        OpenedSource::take_lingering(self)
    }
}

/// An opened sink, whatever its type.
pub(crate) struct BoxSink(Box<dyn DynSink>);

impl Sink<Payload> for BoxSink {
    async fn write(&mut self, record: &Payload) -> Result<(), BoxError> {
        self.0.write_boxed(record, None).await
    }

    async fn write_from(&mut self, record: &Payload, origin: Option<&str>) -> Result<(), BoxError> {
        self.0.write_boxed(record, origin).await
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        self.0.flush_boxed().await
    }

    fn readings(&self) -> Readings {
        self.0.readings()
    }
}

/// [`Sink`] with its futures boxed, so it can be a trait object.
trait DynSink: Send {
    fn write_boxed<'a>(
        &'a mut self,
        record: &'a Payload,
        origin: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
    fn flush_boxed(&mut self) -> BoxFuture<'_, Result<(), BoxError>>;
    fn readings(&self) -> Readings;
}

impl<S: Sink<Payload>> DynSink for S {
    fn write_boxed<'a>(
        &'a mut self,
        record: &'a Payload,
        origin: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(self.write_from(record, origin))
    }

    fn flush_boxed(&mut self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(self.flush())
    }

    fn readings(&self) -> Readings {
        Sink::readings(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::field_names;
    use crate::sinks::SINKS;
    use crate::sources::SOURCES;
    use crate::stages::STAGES;

    #[tokio::test]
    async fn a_run_end_is_heard_by_waiters_and_untold_means_not_finished() {
        let end = RunEnd::default();
        let (first, second) = (end.finished(), end.clone().finished());
        end.tell(true);
        assert!(first.await && second.await);
        let end = RunEnd::default();
        let waiting = end.finished();
        end.tell(false);
        assert!(!waiting.await);
        let end = RunEnd::default();
        let waiting = end.finished();
        drop(end);
        assert!(!waiting.await, "gone untold");
    }

    /// The names in the first column of the tables under `heading` in the
    /// crate's README (`` `name` `` or `` `name` (or `alias`) ``), header
    /// rows left out.
    fn readme_names(heading: &str) -> Vec<String> {
        let readme = include_str!("../README.md");
        let section = readme
            .split(&format!("\n{heading}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {heading} in the README"));
        let section = section.split("\n#").next().unwrap_or_default();
        section
            .lines()
            .filter(|line| line.starts_with("| `"))
            .map(|row| row.split('|').nth(1).unwrap_or_default())
            .filter(|first| first.trim() != "`type`")
            .flat_map(|first| first.split('`').skip(1).step_by(2).map(str::to_owned))
            .collect()
    }

    fn registered<Spec: ?Sized>(registry: &[ConnectorType<Spec>]) -> Vec<String> {
        registry
            .iter()
            .flat_map(|entry| std::iter::once(entry.name).chain(entry.aliases.iter().copied()))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_readme_tables_list_every_registered_connector() {
        assert_eq!(readme_names("### Sources"), registered(SOURCES));
        assert_eq!(readme_names("### Sinks"), registered(SINKS));
        // The stages' section also has the table of the generic options.
        let generic = field_names::<StageOptions>();
        let stages: Vec<String> = readme_names("### Stages")
            .into_iter()
            .filter(|name| !generic.contains(&name.as_str()))
            .collect();
        assert_eq!(stages, registered(STAGES));
    }

    #[test]
    fn every_type_is_registered_once() {
        for names in [registered(SOURCES), registered(STAGES), registered(SINKS)] {
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{names:?}");
        }
    }
}
