use proptest::prelude::*;

use super::*;

const QUADRATIC: &str = include_str!("../../jobs/quadratic.yaml");

fn error_of(text: &str) -> Diagnostic {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(diag) => diag,
    }
}

fn job(compute_body: &str) -> String {
    format!("name: t\ncompute:\n  samples: 100\n{compute_body}")
}

#[test]
fn the_documented_example_parses() {
    let spec = parse(QUADRATIC).unwrap();
    assert_eq!(spec.name, "quadratic");
    assert_eq!(spec.seed, 42);
    assert_eq!(spec.compute().unwrap().samples, 200_000_000);
    assert_eq!(spec.compute().unwrap().vars.len(), 3);
    assert_eq!(
        spec.compute().unwrap().vars[0].definition,
        VarDefinition::Random(Distribution::Uniform {
            low: 5.0,
            high: 10.0
        })
    );
    assert_eq!(
        spec.reduce.statistics,
        vec![
            Statistic::Mean,
            Statistic::Sem,
            Statistic::Std,
            Statistic::Min,
            Statistic::Max
        ],
        "the standard error follows the mean"
    );
    assert_eq!(spec.split.slices, 4);
    assert_eq!(
        spec.resources.time,
        Some(std::time::Duration::from_secs(600))
    );
    assert_eq!(spec.resources.memory, Some(1 << 30));
}

#[test]
fn defaults() {
    let spec = parse("name: t\ncompute:\n  samples: 5\n  expr: 1\n").unwrap();
    assert_eq!(spec.seed, 0);
    assert_eq!(
        spec.reduce.statistics,
        vec![Statistic::Mean, Statistic::Sem]
    );
    assert_eq!(
        spec.split,
        SplitSpec {
            slices: 1,
            threads: None,
            balance: Balance::Static,
        }
    );
    assert!(spec.compute().unwrap().vars.is_empty());
}

#[test]
fn every_example_job_parses() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/jobs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(diag) = parse_document(&text) {
                panic!("{}: {diag:?}", path.display());
            }
        }
    }
}

#[test]
fn histogram_and_quoted_values() {
    let text = "name: h\nseed: \"0x10\"\ncompute:\n  samples: \"1.5k\"\n  vars:\n    x: normal(0, 1)\n  expr: \"x\"\nreduce:\n  - mean\n  - histogram: {bins: 10, range: [-3, 3]}\nsplit: {ranks: 2, threads: 3}\n";
    let spec = parse(text).unwrap();
    assert_eq!(spec.seed, 16);
    assert_eq!(spec.compute().unwrap().samples, 1500);
    assert_eq!(
        spec.reduce.histogram,
        Some(HistogramSpec {
            bins: 10,
            low: -3.0,
            high: 3.0
        })
    );
    assert_eq!(
        spec.split,
        SplitSpec {
            slices: 2,
            threads: Some(3),
            balance: Balance::Static,
        }
    );
}

/// (file text, line, column, fragment of the message or help)
fn bad_files() -> Vec<(String, usize, usize, &'static str)> {
    vec![
        ("name: t\ncompute: [\n".into(), 3, 1, "invalid YAML"),
        ("- a\n- b\n".into(), 1, 1, "must be a mapping"),
        (
            "name: t\ncompute:\n  samplez: 5\n  expr: 1\n".into(),
            3,
            3,
            "did you mean `samples`",
        ),
        (
            "name: t\ncompute:\n  samples: 5\n  expr: 1\nreduse: [mean]\n".into(),
            5,
            1,
            "did you mean `reduce`",
        ),
        (
            "name: t\ncompute:\n  samples: 5\n".into(),
            2,
            1,
            "missing key `expr`",
        ),
        (
            "compute:\n  samples: 5\n  expr: 1\n".into(),
            1,
            1,
            "missing key `name`",
        ),
        (
            "name: t\nseed: -1\ncompute:\n  samples: 5\n  expr: 1\n".into(),
            2,
            7,
            "not a seed",
        ),
        (
            "name: t\nseed: [1]\ncompute:\n  samples: 5\n  expr: 1\n".into(),
            2,
            7,
            "seed",
        ),
        (
            "name: a/b\ncompute:\n  samples: 5\n  expr: 1\n".into(),
            1,
            7,
            "`/` is not allowed",
        ),
        (
            "name: a..b\ncompute:\n  samples: 5\n  expr: 1\n".into(),
            1,
            7,
            "`..`",
        ),
        (
            "name: -x\ncompute:\n  samples: 5\n  expr: 1\n".into(),
            1,
            7,
            "must not start",
        ),
        (
            format!(
                "name: {}\ncompute:\n  samples: 5\n  expr: 1\n",
                "n".repeat(65)
            ),
            1,
            7,
            "1 to 64",
        ),
        (job("  expr: 1\n").replace("100", "0"), 3, 12, "at least 1"),
        (
            job("  expr: 1\n").replace("100", "1.5"),
            3,
            12,
            "not a whole number",
        ),
        (
            job("  expr: 1\n").replace("100", "18446744073709551616"),
            3,
            12,
            "too large",
        ),
        (
            job("  vars:\n    a: uniform(5)\n  expr: a\n"),
            5,
            8,
            "takes 2 arguments",
        ),
        (
            job("  vars:\n    a: uniform(10, 5)\n  expr: a\n"),
            5,
            8,
            "low < high",
        ),
        (
            job("  vars:\n    a: normal(0, -1)\n  expr: a\n"),
            5,
            8,
            "sd > 0",
        ),
        (
            job("  vars:\n    a: exponential(0)\n  expr: a\n"),
            5,
            8,
            "rate > 0",
        ),
        (
            job("  vars:\n    a: gauss(0, 1)\n  expr: a\n"),
            5,
            8,
            "unknown function `gauss`",
        ),
        (
            job("  vars:\n    a: uniform(0, b)\n    b: uniform(0, 1)\n  expr: a\n"),
            5,
            8,
            "constant",
        ),
        (
            job("  vars:\n    a: uniform(0, 1)\n  expr: (a + b\n"),
            6,
            15,
            "expected `)`",
        ),
        (
            job("  vars:\n    a: uniform(0, 1)\n  expr: a + \n"),
            6,
            12,
            "expected a number",
        ),
        (
            job("  vars:\n    a: uniform(0, 1)\n  expr: \"a + zz\"\n"),
            6,
            14,
            "unknown variable `zz`",
        ),
        (
            job("  vars:\n    ab: uniform(0, 1)\n  expr: \"2 * aa\"\n"),
            6,
            14,
            "did you mean `ab`",
        ),
        (
            job("  vars:\n    a: a + 1\n  expr: a\n"),
            5,
            8,
            "refers to itself",
        ),
        (
            job("  vars:\n    a: b + 1\n    b: uniform(0, 1)\n  expr: a\n"),
            5,
            8,
            "defined after",
        ),
        (
            job("  vars:\n    a: uniform(0, 1)\n  expr: sqrt(a, a)\n"),
            6,
            9,
            "takes 1 argument, got 2",
        ),
        (
            job("  vars:\n    a: uniform(0, 1)\n  expr: sqr(a)\n"),
            6,
            9,
            "did you mean `sqrt`",
        ),
        (
            job("  vars:\n    a: uniform(0, 1)\n  expr: 2 * uniform(0, 1)\n"),
            6,
            13,
            "whole definition",
        ),
        (
            job("  vars:\n    a: uniform(0, 1)\n  expr: a = 1\n"),
            6,
            11,
            "use `==`",
        ),
        (
            job("  vars:\n    2a: uniform(0, 1)\n  expr: 1\n"),
            5,
            5,
            "not a variable name",
        ),
        (
            job("  vars:\n    pi: uniform(0, 1)\n  expr: 1\n"),
            5,
            5,
            "built-in constant",
        ),
        (
            job("  vars:\n    sqrt: uniform(0, 1)\n  expr: 1\n"),
            5,
            5,
            "built-in function",
        ),
        (
            job("  vars:\n    a: uniform(0, 1)\n    a: uniform(0, 2)\n  expr: a\n"),
            6,
            5,
            "given twice",
        ),
        (
            job("  vars: {a: uniform(1, 2)}\n  expr: a\n"),
            4,
            22,
            "comma splits",
        ),
        (
            job("  vars:\n    a: uniform(0, 1)\n  expr: sqrt\n"),
            6,
            9,
            "is a function",
        ),
        (
            job("  expr: 1\nreduce: [mean, median]\n"),
            5,
            16,
            "unknown reduction `median`",
        ),
        (
            job("  expr: 1\nreduce: [mean, mean]\n"),
            5,
            16,
            "listed twice",
        ),
        (job("  expr: 1\nreduce: []\n"), 5, 9, "empty"),
        (
            job("  expr: 1\nreduce: [{histogram: {bins: 0, range: [0, 1]}}]\n"),
            5,
            29,
            "between 1 and",
        ),
        (
            job("  expr: 1\nreduce: [{histogram: {bins: 5, range: [1, 0]}}]\n"),
            5,
            39,
            "low < high",
        ),
        (
            job("  expr: 1\nreduce: [{histogram: {bins: 5, range: [0]}}]\n"),
            5,
            39,
            "two numbers",
        ),
        (
            job("  expr: 1\nreduce: [{histogram: {bins: 5, range: [0, x]}}]\n"),
            5,
            43,
            "finite number",
        ),
        (
            job("  expr: 1\nreduce: [{histogram: {bins: 5, rang: [0, 1]}}]\n"),
            5,
            32,
            "did you mean `range`",
        ),
        (
            job("  expr: 1\nsplit:\n  threads: 0\n"),
            6,
            12,
            "between 1 and",
        ),
        (
            job("  expr: 1\nsplit:\n  ranks: many\n"),
            6,
            10,
            "not a count",
        ),
        (job("  expr: 1\nresources:\n  time: 10\n"), 6, 9, "no unit"),
        (
            job("  expr: 1\nresources:\n  memory: 1 parsec\n"),
            6,
            11,
            "unknown memory unit",
        ),
        (job("  expr: - b\n"), 4, 9, "quote it"),
        (job("  expr: !b\n"), 4, 9, "tags"),
    ]
}

#[test]
fn bad_files_are_located_and_explained() {
    let mut wrong = Vec::new();
    for (text, line, column, fragment) in bad_files() {
        let diag = error_of(&text);
        let shown = format!(
            "{} / {}",
            diag.message,
            diag.help.clone().unwrap_or_default()
        );
        let at = (diag.location.line, diag.location.column);
        if !shown.contains(fragment) || at != (line, column) {
            wrong.push(format!(
                "{text:?}\n  expected {line}:{column} `{fragment}`, got {}:{} {shown}",
                at.0, at.1
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn binary_and_empty_files() {
    assert!(decode(b"").unwrap_err().message.contains("empty"));
    assert!(decode(b"  \n\n").unwrap_err().message.contains("empty"));
    let diag = decode(b"name: x\nab\0cd").unwrap_err();
    assert_eq!((diag.location.line, diag.location.column), (2, 3));
    let diag = decode(b"name: \xff\xfe").unwrap_err();
    assert!(diag.message.contains("not UTF-8"));
    assert_eq!((diag.location.line, diag.location.column), (1, 7));
}

/// Every key the schema declares is one the parser accepts, and vice versa.
#[test]
fn schema_matches_the_parser() {
    let schema: serde_json::Value = serde_json::from_str(include_str!("schema.json")).unwrap();
    let keys = |value: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = value["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let accepted = |section: &str| -> Vec<String> {
        let text = match section {
            "" => "name: t\nzzzz: 1\ncompute: {samples: 1, expr: 1}\n".to_string(),
            "histogram" => job("  expr: 1\nreduce: [{histogram: {zzzz: 1}}]\n"),
            "compute" => job("  expr: 1\n  zzzz: 1\n"),
            other => job(&format!("  expr: 1\n{other}:\n  zzzz: 1\n")),
        };
        let help = error_of(&text).help.unwrap();
        let mut keys: Vec<String> = help
            .trim_start_matches("expected one of: ")
            .split(", ")
            .map(str::to_string)
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&schema), accepted(""));
    for section in ["compute", "tasks", "split", "resources", "slurm", "condor"] {
        assert_eq!(
            keys(&schema["properties"][section]),
            accepted(section),
            "{section}"
        );
    }
    let histogram = &schema["properties"]["reduce"]["items"]["oneOf"][1]["properties"]["histogram"];
    assert_eq!(keys(histogram), accepted("histogram"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(text) = decode(&bytes) {
            let _ = parse(&text);
        }
    }

    #[test]
    fn random_text_never_panics(text in "[a-z:{}\\[\\]()\\-,# \n\"'0-9.^*/+<>=!&|_]{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        position in 0usize..QUADRATIC.len(),
        length in 0usize..20,
        insert in "[a-z:{}\\[\\]()\\-,# \n\"'0-9.^*/+<>=!&|_]{0,10}",
    ) {
        let mut text = QUADRATIC.as_bytes().to_vec();
        let end = (position + length).min(text.len());
        text.splice(position..end, insert.bytes());
        if let Ok(text) = decode(&text)
            && let Err(diag) = parse(&text)
        {
            prop_assert!(diag.location.line >= 1 && diag.location.column >= 1);
            prop_assert!(diag.location.line <= text.lines().count().max(1) + 1);
        }
    }
}

#[test]
fn slices_has_ranks_as_its_older_name_but_not_both() {
    let job = |split: &str| format!("name: t\ncompute:\n  samples: 5\n  expr: 1\nsplit: {split}\n");
    assert_eq!(parse(&job("{slices: 3}")).unwrap().split.slices, 3);
    assert_eq!(parse(&job("{ranks: 3}")).unwrap().split.slices, 3);
    let both = parse(&job("{slices: 3, ranks: 3}")).unwrap_err();
    assert!(
        both.message.contains("both `slices` and `ranks`"),
        "{}",
        both.message
    );
}

#[test]
fn sem_stays_where_the_job_lists_it() {
    let text = "name: t\ncompute:\n  samples: 5\n  expr: 1\nreduce: [sem, mean]\n";
    assert_eq!(
        parse(text).unwrap().reduce.statistics,
        vec![Statistic::Sem, Statistic::Mean]
    );
}

#[test]
fn task_jobs_balance_dynamically_unless_told_and_compute_jobs_never() {
    let tasks = "name: t\ntasks:\n  count: 4\n  command: [\"true\"]\n";
    assert_eq!(parse(tasks).unwrap().split.balance, Balance::Dynamic);
    let fixed = format!("{tasks}split:\n  slices: 2\n  balance: static\n");
    assert_eq!(parse(&fixed).unwrap().split.balance, Balance::Static);
    let typo = parse(&format!("{tasks}split:\n  balance: dynamc\n")).unwrap_err();
    assert!(
        typo.message
            .contains("`balance` must be `dynamic` or `static`, got `dynamc`"),
        "{}",
        typo.message
    );
    assert_eq!((typo.location.line, typo.location.column), (6, 12));
    let compute = "name: t\ncompute:\n  samples: 5\n  expr: 1\nsplit:\n  balance: dynamic\n";
    let refused = parse(compute).unwrap_err();
    assert!(
        refused.message.contains("is for task jobs"),
        "{}",
        refused.message
    );
}
