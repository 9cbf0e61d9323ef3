//! The pipeline file: `[links]`, one `[source]`, `[[stage]]`s in order, one
//! `[sink]`, an optional `[dead_letter]`. Loading it checks everything that
//! can be checked before a run; every error names the file, line, column and
//! field (see [`crate::config::error`]). It sits above the parsing kit
//! ([`crate::config`]) and the connector registries, beside
//! [`crate::assemble`], which turns it into a pipeline.

mod dead_letter;
pub(crate) mod warnings;

use std::path::{Path, PathBuf};

pub(crate) use dead_letter::DeadLetterConfig;

use crate::config::{ConfigError, LinksConfig, SourceFile};
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::stages::{stage_names, StageConfig};

/// A whole pipeline file, checked.
#[derive(Debug)]
pub(crate) struct PipelineConfig {
    /// The file, to point at places in it.
    pub(crate) file: SourceFile,
    /// `[links]`.
    pub(crate) links: LinksConfig,
    /// `[source]`.
    pub(crate) source: SourceConfig,
    /// `[[stage]]`, in order.
    pub(crate) stages: Vec<StageConfig>,
    /// `[sink]`.
    pub(crate) sink: SinkConfig,
    /// `[dead_letter]`.
    pub(crate) dead_letter: Option<DeadLetterConfig>,
    /// `data_dir = "..."` at the top of the file.
    pub(crate) data_dir: Option<PathBuf>,
}

const SECTIONS: &[&str] = &[
    "data_dir",
    "links",
    "source",
    "stage",
    "sink",
    "dead_letter",
];

/// One link of the pipeline and its settings.
pub(crate) struct LinkInto {
    /// What it is, for messages (`link into enrich`).
    pub(crate) what: String,
    /// Its name in the data directory, if it spills (`spill/into-<dir>`).
    pub(crate) dir: String,
    /// Its capacity, policy and spill settings.
    pub(crate) settings: LinksConfig,
}

impl PipelineConfig {
    /// Reads and checks the pipeline file at `path`.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        match std::str::from_utf8(&bytes) {
            Ok(text) => Self::parse(path, text),
            Err(error) => {
                // Located like any other error: everything before the first
                // bad byte is intact in the lossy text.
                let file = SourceFile {
                    path: path.to_owned(),
                    text: String::from_utf8_lossy(&bytes).into(),
                };
                let at = error.valid_up_to();
                let replacement = char::REPLACEMENT_CHARACTER.len_utf8();
                Err(file.error(Some(at..at + replacement), "invalid UTF-8"))
            }
        }
    }

    /// Checks the text of a pipeline file (`path` only names it in errors).
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let file = SourceFile {
            path: path.to_owned(),
            text: text.into(),
        };
        // `${NAME}` is replaced in every string as the file is parsed.
        let mut table = file.parse()?;
        if let Some(unknown) = table
            .iter()
            .map(|(key, _)| key)
            .find(|key| !SECTIONS.contains(key))
        {
            let span = table.key(unknown).and_then(|key| key.span());
            let expected = SECTIONS.join(", ");
            return Err(file.error(
                span,
                &format!("unknown section `{unknown}`: expected one of {expected}"),
            ));
        }
        let data_dir = match table.remove("data_dir") {
            Some(item) => {
                let span = item.span();
                match item.into_value() {
                    Ok(value) => Some(file.value::<PathBuf>(value, span)?),
                    Err(item) => {
                        return Err(file.error(item.span(), "`data_dir` must be a string (a path)"))
                    }
                }
            }
            None => None,
        };
        let links = match table.remove("links") {
            Some(item) => file.table(item, "links")?.into_config(&file)?,
            None => LinksConfig::default(),
        };
        let source = match table.remove("source") {
            Some(item) => Some(SourceConfig::from_part(&file, file.table(item, "source")?)?),
            None => None,
        };
        let stages = match table.remove("stage") {
            Some(item) => file
                .tables(item, "stage")?
                .into_iter()
                .map(|part| StageConfig::from_part(&file, part))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let names = stage_names(&stages);
        for (index, name) in names.iter().enumerate() {
            if names[..index].contains(name) {
                return Err(file.error(
                    stages[index].span.clone(),
                    &format!("a second stage named `{name}`: stage names must differ"),
                ));
            }
        }
        let sink = match table.remove("sink") {
            Some(item) => Some(SinkConfig::from_part(&file, file.table(item, "sink")?)?),
            None => None,
        };
        let dead_letter = match table.remove("dead_letter") {
            Some(item) => Some(file.table(item, "dead_letter")?.into_config(&file)?),
            None => None,
        };
        let missing = |what: &str| {
            file.error(
                Some(0..0),
                &format!("missing [{what}]: a pipeline needs one source and one sink"),
            )
        };
        let source = source.ok_or_else(|| missing("source"))?;
        let sink = sink.ok_or_else(|| missing("sink"))?;
        Ok(PipelineConfig {
            file,
            links,
            source,
            stages,
            sink,
            dead_letter,
            data_dir,
        })
    }

    /// The data directory: `flag` (`--data-dir`), else the file's
    /// `data_dir`, else `.weir/<file stem>/` in the working directory.
    pub(crate) fn data_dir_path(&self, flag: Option<&Path>) -> PathBuf {
        if let Some(path) = flag.or(self.data_dir.as_deref()) {
            return path.to_owned();
        }
        let stem = self.file.path.file_stem().unwrap_or("pipeline".as_ref());
        Path::new(".weir").join(stem)
    }

    /// Whether a component keeps state, so the run needs its data
    /// directory open and locked.
    pub(crate) fn keeps_state(&self) -> bool {
        self.source.spec.keeps_state()
            || self
                .links_into()
                .iter()
                .any(|link| link.settings.spill().is_some())
    }

    /// Every link, in order: the one into each stage, then the one into
    /// the sink, each with `[links]` as its own `link` changes it.
    pub(crate) fn links_into(&self) -> Vec<LinkInto> {
        let stages =
            stage_names(&self.stages)
                .into_iter()
                .zip(&self.stages)
                .map(|(name, stage)| LinkInto {
                    what: format!("link into {name}"),
                    dir: name,
                    settings: self.links.with(&stage.link),
                });
        let sink = LinkInto {
            what: "link into the sink".into(),
            dir: "sink".into(),
            settings: self.links.with(&self.sink.link),
        };
        stages.chain([sink]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PipelineConfig, String> {
        PipelineConfig::parse(Path::new("p.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_section_in_order() {
        let config = parse(
            r#"
            [links]
            capacity = 8
            when_full = "drop_oldest"

            [source]
            type = "generate"
            count = 3

            [[stage]]
            type = "json"
            concurrency = 2
            timeout = "1s"
            retries = { max_attempts = 3, backoff = "10ms" }

            [[stage]]
            type = "http"
            url = "http://127.0.0.1:1/{id}"
            concurrency = 4
            retries = { max_attempts = 2 }

            [[stage]]
            type = "json"

            [sink]
            type = "file"
            path = "out.jsonl"
            retries = { max_attempts = 2 }

            [dead_letter]
            path = "dead.jsonl"
            "#,
        )
        .unwrap();
        assert_eq!(config.links.link_config().capacity, 8);
        assert!(config.links.when_full().drops());
        let names = stage_names(&config.stages);
        assert_eq!(names, ["json-1", "http", "json-3"]);
        let json = &config.stages[0].options;
        assert_eq!(
            json.concurrency.as_ref().map(|c| c.get_ref().get()),
            Some(2)
        );
        assert_eq!(json.retries.as_ref().map(|r| r.max_attempts.get()), Some(3));
        // The HTTP stage's concurrency and retries are its own.
        assert_eq!(config.stages[1].spec.kind(), "http");
        assert!(config.stages[1].options.concurrency.is_none());
        assert!(config.stages[1].options.retries.is_none());
        assert_eq!(config.sink.spec.kind(), "file");
        assert!(config.sink.options.retry_policy().is_some());
        assert_eq!(config.dead_letter.unwrap().path, "dead.jsonl");
    }

    #[test]
    fn a_link_takes_its_own_settings_and_the_rest_from_links() {
        let config = parse(
            r#"
            [links]
            capacity = 8
            spill_max_bytes = "1 MiB"

            [source]
            type = "generate"

            [[stage]]
            type = "json"

            [[stage]]
            type = "throttle"
            rate = "10/s"
            link = { when_full = "spill", capacity = 100 }

            [sink]
            type = "stdout"
            link = { when_full = "drop_newest" }
            "#,
        )
        .unwrap();
        let links = config.links_into();
        let what: Vec<_> = links.iter().map(|l| l.what.as_str()).collect();
        assert_eq!(
            what,
            ["link into json", "link into throttle", "link into the sink"]
        );
        let settings: Vec<_> = links
            .iter()
            .map(|l| (l.settings.link_config().capacity, l.settings.when_full()))
            .collect();
        use crate::config::links::WhenFull;
        assert_eq!(
            settings,
            [
                (8, WhenFull::Block),
                (100, WhenFull::Spill),
                (8, WhenFull::DropNewest)
            ]
        );
        let spill = links[1].settings.spill().unwrap();
        assert_eq!(spill.max_bytes.0, 1 << 20);
        assert!(links[0].settings.spill().is_none());
        assert!(config.keeps_state());
        let error = parse(
            "[source]\ntype = \"stdin\"\n[sink]\ntype = \"stdout\"\nlink = { capacity = 0 }\n",
        )
        .unwrap_err();
        assert!(error.contains("p.toml:5"), "{error}");
    }

    #[test]
    fn the_data_directory_is_the_flag_the_file_or_a_default() {
        let base = "[source]\ntype = \"stdin\"\n[sink]\ntype = \"stdout\"\n";
        let config = parse(base).unwrap();
        assert_eq!(config.data_dir_path(None), Path::new(".weir/p"));
        assert_eq!(config.data_dir_path(Some(Path::new("x"))), Path::new("x"));
        let config = parse(&format!("data_dir = \"state\"\n{base}")).unwrap();
        assert_eq!(config.data_dir_path(None), Path::new("state"));
        let error = parse(&format!("data_dir = 3\n{base}")).unwrap_err();
        assert!(error.starts_with("p.toml:1:12:"), "{error}");
    }

    #[test]
    fn a_pipeline_needs_a_source_and_a_sink() {
        let error = parse("[source]\ntype = \"stdin\"\n").unwrap_err();
        assert!(error.contains("missing [sink]"), "{error}");
    }

    #[test]
    fn unknown_sections_and_types_are_named() {
        let error = parse("[sorce]\ntype = \"stdin\"\n").unwrap_err();
        assert!(
            error.starts_with("p.toml:1:2: unknown section `sorce`"),
            "{error}"
        );
        let error = parse("[source]\ntype = \"stdin\"\n[sink]\ntype = \"kafka\"\n").unwrap_err();
        assert!(
            error.contains("expected one of stdout, file, tcp, http"),
            "{error}"
        );
    }

    #[test]
    fn stage_names_must_differ() {
        let text = "[source]\ntype = \"stdin\"\n[sink]\ntype = \"stdout\"\n\
                    [[stage]]\ntype = \"json\"\nname = \"x\"\n\
                    [[stage]]\ntype = \"json\"\nname = \"x\"\n";
        let error = parse(text).unwrap_err();
        assert!(
            error.starts_with("p.toml:9:8: a second stage named `x`"),
            "{error}"
        );
    }

    #[test]
    fn a_batch_stage_takes_no_run_options() {
        let text = "[source]\ntype = \"stdin\"\n[sink]\ntype = \"stdout\"\n\
                    [[stage]]\ntype = \"batch\"\nsize = 2\nmax_wait = \"1s\"\nconcurrency = 2\n";
        let error = parse(text).unwrap_err();
        assert!(
            error.contains("takes only `name`, `size` and `max_wait`"),
            "{error}"
        );
    }
}
