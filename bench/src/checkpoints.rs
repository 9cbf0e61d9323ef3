//! What the file source's checkpoints cost: the `weir` binary reading 1M
//! log lines file to file with checkpoints on (the default, written every
//! second, following the acknowledgements) and off (`checkpoints = false`),
//! interleaved in the same run; `cat` of the file to another file as the
//! floor. Target: on ≥ 0.95x off (checkpointing costs under 5%).

use std::path::Path;
use std::process::Command;

use crate::cli::{generate, lines_of, measure, status, Contender};
use crate::http::clients::weir_binary;
use crate::report::{self, Table, Target};
use crate::Opts;

const LINES: u64 = 1_000_000;
const MAX_REPS: usize = 5;

fn weir(bin: &Path, dir: &Path, input: &Path, checkpoints: bool) -> Contender {
    let bin = bin.to_owned();
    let name = if checkpoints { "on" } else { "off" };
    let toml = dir.join(format!("checkpoints-{name}.toml"));
    let data = dir.join(format!("data-{name}"));
    let input = input.to_owned();
    Contender {
        name: format!("weir file → file, checkpoints {name}"),
        ordered: true,
        run: Box::new(move |output| {
            let _ = std::fs::remove_file(output);
            let text = format!(
                "[source]\ntype = \"file\"\npath = {:?}\ncheckpoints = {checkpoints}\n\n\
                 [sink]\ntype = \"file\"\npath = {:?}\n",
                input.display().to_string(),
                output.display().to_string()
            );
            std::fs::write(&toml, text).map_err(|e| e.to_string())?;
            status(
                Command::new(&bin)
                    .args(["run", "--quiet", "--data-dir"])
                    .arg(&data)
                    .arg(&toml),
            )
        }),
    }
}

pub fn run(opts: &Opts) -> Vec<Target> {
    let Some(bin) = weir_binary() else {
        println!("\n(weir binary not found: build it with `cargo build --release -p weir-cli`)");
        return Vec::new();
    };
    let dir = std::env::temp_dir().join(format!("weir-bench-checkpoints-{}", std::process::id()));
    let result = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| run_in(opts, &bin, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap_or_else(|error| {
        println!("\n(checkpoints suite failed: {error})");
        Vec::new()
    })
}

fn run_in(opts: &Opts, bin: &Path, dir: &Path) -> Result<Vec<Target>, String> {
    let lines = opts.items(LINES);
    let input = dir.join("logs.jsonl");
    let bytes = generate(&input, lines).map_err(|e| e.to_string())?;
    let floor = {
        let input = input.clone();
        Contender {
            name: "cat > file (floor)".to_owned(),
            ordered: true,
            run: Box::new(move |output| {
                let out = std::fs::File::create(output).map_err(|e| e.to_string())?;
                status(Command::new("cat").arg(&input).stdout(out))
            }),
        }
    };
    let contenders = [
        weir(bin, dir, &input, true),
        weir(bin, dir, &input, false),
        floor,
    ];
    let expected = lines_of(&input);
    // Lines are records as JSON strings: compare what the text says.
    let check = |_: usize, output: &Path| {
        let got = lines_of(output);
        got.len() == expected.len()
            && got.iter().zip(&expected).all(|(got, want)| {
                serde_json::from_str::<String>(got).map_or(got == want, |text| &text == want)
            })
    };
    let all: Vec<&Contender> = contenders.iter().collect();
    let results = measure(&all, opts.reps.min(MAX_REPS), &dir.join("out.jsonl"), check)?;
    let mut table = Table::new(
        format!(
            "checkpoints: {} lines ({}), file → file",
            report::count(lines),
            report::bytes(bytes)
        ),
        &[
            "contender",
            "seconds",
            "lines/s",
            "vs checkpoints off",
            "output",
        ],
    );
    let off = results[1].0;
    for (contender, (seconds, passed)) in contenders.iter().zip(&results) {
        table.row(vec![
            contender.name.clone(),
            format!("{seconds:.2}"),
            report::rate(lines as f64 / seconds),
            report::ratio(off / seconds),
            if *passed { "same" } else { "DIFFERS" }.to_owned(),
        ]);
    }
    table.note("median of the reps, interleaved; whole processes, start-up included");
    table.print();
    Ok(vec![Target::ratio(
        "checkpoints",
        "file → file, checkpoints on / off",
        off / results[0].0,
        0.95,
    )])
}
