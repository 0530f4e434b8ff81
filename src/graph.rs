//! `hpcsub graph`: the job as a Graphviz DOT graph. The per-sample computation (the variables
//! and the expression's operations, a shared sub-expression such as `b^2` once, as the compiled
//! program evaluates it; or, optimized, the program itself after constant folding and fusion),
//! then the plan around it: slices, threads, the exact merge and the reduce.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::expr::{Expr, UnaryOp, semantics};
use crate::kernel::program::{
    Arith, BinaryKind, Instruction, MathForm, Operand, Program, UnaryKind,
};
use crate::plan::{self, Plan};
use crate::spec::{ComputeSpec, JobSpec, TasksSpec, VarDefinition, Work, WorkflowSpec};

/// A DOT string literal.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Nodes and edges, each node once per key: what makes shared sub-expressions appear once.
#[derive(Default)]
struct Dot {
    body: String,
    ids: HashMap<String, String>,
}

impl Dot {
    /// The node for `key`, created with `label` and `attributes` the first time.
    fn node(&mut self, key: String, label: &str, attributes: &str) -> (String, bool) {
        if let Some(id) = self.ids.get(&key) {
            return (id.clone(), false);
        }
        let id = format!("n{}", self.ids.len());
        let _ = writeln!(self.body, "    {id} [label={}{attributes}];", quoted(label));
        self.ids.insert(key, id.clone());
        (id, true)
    }

    fn edge(&mut self, from: &str, to: &str) {
        let _ = writeln!(self.body, "    {from} -> {to};");
    }

    fn constant(&mut self, label: &str) -> String {
        self.node(format!("const {label}"), label, ", shape=plaintext")
            .0
    }

    /// The node for `key`, fed by `inputs`: created with its edges the first time.
    fn fed(&mut self, key: String, label: &str, attributes: &str, inputs: &[String]) -> String {
        let (id, new) = self.node(key, label, attributes);
        if new {
            for input in inputs {
                self.edge(input, &id);
            }
        }
        id
    }

    /// An operation node on `inputs`, one per distinct (operation, inputs).
    fn operation(&mut self, label: &str, inputs: &[String]) -> String {
        let key = format!("op {label}({})", inputs.join(","));
        self.fed(key, label, ", shape=circle", inputs)
    }
}

/// The expression graph as written: every operation of `vars` and `expr`, a repeated
/// sub-expression once; no folding or rewriting.
struct AsWritten<'s> {
    compute: &'s ComputeSpec,
    dot: Dot,
}

impl AsWritten<'_> {
    fn var(&mut self, name: &str) -> String {
        let definition = &self
            .compute
            .vars
            .iter()
            .find(|v| v.name == name)
            .expect("validation guarantees every name is defined")
            .definition;
        match definition {
            VarDefinition::Random(d) => {
                let label = format!("{name} ~ {d}");
                self.dot
                    .node(
                        format!("var {name}"),
                        &label,
                        ", shape=ellipse, style=filled, fillcolor=lightblue",
                    )
                    .0
            }
            VarDefinition::Derived(expr) => {
                if let Some(id) = self.dot.ids.get(&format!("var {name}")) {
                    return id.clone();
                }
                let value = self.expression(expr);
                let (id, _) = self.dot.node(
                    format!("var {name}"),
                    name,
                    ", shape=box, style=\"rounded,filled\", fillcolor=lightyellow",
                );
                self.dot.edge(&value, &id);
                id
            }
        }
    }

    fn expression(&mut self, expr: &Expr) -> String {
        match expr {
            Expr::Number(value) => self.dot.constant(&value.to_string()),
            Expr::Name(name, _) => match semantics::constant(name) {
                Some(_) => self.dot.constant(name),
                None => self.var(name),
            },
            Expr::Unary(op, arg) => {
                let arg = self.expression(arg);
                let label = match op {
                    UnaryOp::Neg => "neg",
                    UnaryOp::Not => "!",
                };
                self.dot.operation(label, &[arg])
            }
            Expr::Binary(op, left, right) => {
                let inputs = [self.expression(left), self.expression(right)];
                self.dot.operation(op.symbol(), &inputs)
            }
            Expr::Call { function, args, .. } => {
                let inputs: Vec<String> = args.iter().map(|a| self.expression(a)).collect();
                self.dot.operation(function, &inputs)
            }
        }
    }
}

fn arith(op: Arith) -> &'static str {
    match op {
        Arith::Add => "+",
        Arith::Sub => "-",
        Arith::Mul => "*",
        Arith::Div => "/",
    }
}

/// The compiled program: one node per instruction, as the evaluator runs it.
fn program_graph(program: &Program, dot: &mut Dot) -> String {
    let mut registers: Vec<String> = program
        .constants
        .iter()
        .map(|c| dot.constant(&c.to_string()))
        .collect();
    let operand = |dot: &mut Dot, registers: &[String], o: Operand| match o {
        Operand::Register(r) => registers[r].clone(),
        Operand::Constant(c) => dot.constant(&c.to_string()),
    };
    for (i, instruction) in program.instructions.iter().enumerate() {
        let key = format!("instruction {i}");
        let id = match *instruction {
            Instruction::Draw {
                stream, draw: d, ..
            } => {
                let label = format!("{} ~ {d}\nstream {stream}", program.stream_names[stream]);
                dot.node(
                    key,
                    &label,
                    ", shape=ellipse, style=filled, fillcolor=lightblue",
                )
                .0
            }
            Instruction::Index { .. } => dot.node(key, "index()", ", shape=ellipse").0,
            Instruction::Splat { value, .. } => dot.node(key, &format!("splat {value}"), "").0,
            Instruction::Unary { kind, arg, .. } => {
                let label = match kind {
                    UnaryKind::Op(UnaryOp::Neg) => "neg",
                    UnaryKind::Op(UnaryOp::Not) => "!",
                    UnaryKind::Function(f) => f.name(),
                    UnaryKind::Bits(op) => op.name(),
                };
                dot.fed(key, label, ", shape=circle", &[registers[arg].clone()])
            }
            Instruction::Binary {
                kind, left, right, ..
            } => {
                let label = match kind {
                    BinaryKind::Op(op) => op.symbol(),
                    BinaryKind::Function(f) => f.name(),
                    BinaryKind::Scale => "scale",
                };
                let inputs = [
                    operand(dot, &registers, left),
                    operand(dot, &registers, right),
                ];
                dot.fed(key, label, ", shape=circle", &inputs)
            }
            Instruction::Select {
                condition,
                if_true,
                if_false,
                ..
            } => {
                let inputs = [
                    operand(dot, &registers, condition),
                    operand(dot, &registers, if_true),
                    operand(dot, &registers, if_false),
                ];
                dot.fed(key, "where", ", shape=circle", &inputs)
            }
            Instruction::Patch {
                special,
                condition,
                fast,
                args,
                ..
            } => {
                let inputs =
                    [condition, fast, args[0], args[1]].map(|o| operand(dot, &registers, o));
                let label = format!("patch {}", special.name());
                dot.fed(key, &label, ", shape=box", &inputs)
            }
            Instruction::Call { special, args, .. } => {
                let inputs = args.map(|o| operand(dot, &registers, o));
                dot.fed(
                    key,
                    special.name(),
                    ", shape=box",
                    &inputs[..special.arity()],
                )
            }
            Instruction::Fused {
                outer,
                inner,
                args,
                inner_first,
                ..
            } => {
                let inner_text = format!("(x {} y)", arith(inner));
                let label = if inner_first {
                    format!("fused\n{inner_text} {} z", arith(outer))
                } else {
                    format!("fused\nz {} {inner_text}", arith(outer))
                };
                let (id, _) = dot.node(key, &label, ", shape=box, style=rounded");
                for (name, register) in ["x", "y", "z"].iter().zip(args) {
                    let _ = writeln!(
                        dot.body,
                        "    {} -> {id} [label={}];",
                        registers[register],
                        quoted(name)
                    );
                }
                id
            }
        };
        registers.push(id);
    }
    registers[program.output].clone()
}

fn reduce_label(spec: &JobSpec) -> String {
    let mut parts: Vec<String> = spec
        .reduce
        .statistics
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    if let Some(h) = spec.reduce.histogram {
        parts.push(format!(
            "histogram({} bins on [{}, {}))",
            h.bins, h.low, h.high
        ));
    }
    format!("reduce: count, {}", parts.join(", "))
}

/// The slices, the threads in each, the exact merge and the reduce; `value` is what each
/// thread computes for every sample or task.
fn plan_graph(
    spec: &JobSpec,
    (value, unit): (&str, &str),
    work: &str,
    slices: &[String],
    threads: usize,
    out: &mut String,
) {
    const SHOWN: usize = 4;
    let _ = writeln!(out, "  subgraph cluster_plan {{\n    label=\"plan\";");
    let _ = writeln!(out, "    work [label={}, shape=note];", quoted(work));
    let plural = if threads == 1 { "" } else { "s" };
    for (i, slice) in slices.iter().enumerate().take(SHOWN) {
        let _ = writeln!(
            out,
            "    slice{i} [label={}, shape=box];\n    work -> slice{i};\n    threads{i} [label={}, shape=box3d];\n    slice{i} -> threads{i};",
            quoted(slice),
            quoted(&format!(
                "{threads} thread{plural}\nexact accumulators, merged in order"
            ))
        );
    }
    let merge_inputs: Vec<String> = (0..slices.len().min(SHOWN))
        .map(|i| format!("threads{i}"))
        .collect();
    if slices.len() > SHOWN {
        let _ = writeln!(
            out,
            "    more [label={}, shape=plaintext];\n    work -> more;",
            quoted(&format!("... {} more slices", slices.len() - SHOWN))
        );
    }
    let merge = if slices.len() == 1 {
        "one rank: no merge across ranks".to_string()
    } else {
        format!(
            "exact merge of {} slices\nMPI reduce tree (mpirun, srun)\nor array tasks -> parts/ -> hpcsub gather (Slurm, HTCondor)",
            slices.len()
        )
    };
    let _ = writeln!(out, "    merge [label={}, shape=box];", quoted(&merge));
    for input in merge_inputs
        .iter()
        .chain((slices.len() > SHOWN).then_some("more".to_string()).iter())
    {
        let _ = writeln!(out, "    {input} -> merge;");
    }
    let _ = writeln!(
        out,
        "    reduce [label={}, shape=box, style=filled, fillcolor=palegreen];\n    merge -> reduce;\n  }}",
        quoted(&reduce_label(spec))
    );
    let _ = writeln!(
        out,
        "  {value} -> work [style=dashed, label=\" computed for every {unit}\"];"
    );
}

fn compute_graph(spec: &JobSpec, compute: &ComputeSpec, threads: usize, optimized: bool) -> String {
    let program = crate::kernel::program::compile(compute, spec.seed, MathForm::Calls);
    let (dot, output, title) = if optimized {
        let mut dot = Dot::default();
        let output = program_graph(&program, &mut dot);
        (
            dot,
            output,
            "the compiled program: folded and fused, one node per instruction",
        )
    } else {
        let mut graph = AsWritten {
            compute,
            dot: Dot::default(),
        };
        // Vars first, in the order written, so a long chain of vars is no deep recursion.
        for name in crate::kernel::program::needed_vars(compute) {
            graph.var(&name);
        }
        let output = graph.expression(&compute.expr);
        (
            graph.dot,
            output,
            "per sample: vars and expr, each shared sub-expression once",
        )
    };
    let plan: Plan = plan::make(spec, compute, &program, threads, spec.split.slices);
    let mut out = format!(
        "digraph {} {{\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\"];\n  subgraph cluster_sample {{\n    label={};\n",
        quoted(&spec.name),
        quoted(title)
    );
    out.push_str(&dot.body);
    out.push_str(&format!(
        "    value [label=\"value\", shape=doublecircle];\n    {output} -> value;\n  }}\n"
    ));
    let slices: Vec<String> = plan
        .slices
        .iter()
        .map(|s| format!("slice {}\nsamples {}..{}", s.index, s.start, s.end))
        .collect();
    let work = format!(
        "{} samples, seed {}\nblocks of {} ({} blocks)",
        plan.samples, plan.seed, plan.block_samples, plan.blocks
    );
    plan_graph(
        spec,
        ("value", "sample"),
        &work,
        &slices,
        plan.threads,
        &mut out,
    );
    out.push_str("}\n");
    out
}

fn tasks_graph(spec: &JobSpec, tasks: &TasksSpec, threads: usize) -> String {
    let task_plan = plan::make_for_tasks(spec, tasks, threads, spec.split.slices);
    let mut out = format!(
        "digraph {} {{\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n  subgraph cluster_task {{\n    label=\"per task\";\n",
        quoted(&spec.name)
    );
    let mut inputs = vec!["task_id".to_string()];
    let _ = writeln!(out, "    task_id [label=\"{{task}}\", shape=ellipse];");
    for (i, param) in tasks.params.iter().enumerate() {
        let _ = writeln!(
            out,
            "    param{i} [label={}, shape=ellipse, style=filled, fillcolor=lightblue];",
            quoted(&format!(
                "{{{}}} in {} values",
                param.name,
                param.values.len()
            ))
        );
        inputs.push(format!("param{i}"));
    }
    let argv: Vec<String> = tasks
        .command
        .iter()
        .map(|template| {
            template
                .pieces
                .iter()
                .map(|piece| match piece {
                    crate::spec::Piece::Text(text) => text.clone(),
                    crate::spec::Piece::Placeholder(name) => format!("{{{name}}}"),
                })
                .collect()
        })
        .collect();
    let _ = writeln!(
        out,
        "    command [label={}, shape=box];",
        quoted(&format!("command (no shell)\n{}", argv.join(" ")))
    );
    for input in &inputs {
        let _ = writeln!(out, "    {input} -> command;");
    }
    let _ = writeln!(
        out,
        "    value [label={}, shape=oval, peripheries=2];\n    command -> value;\n  }}",
        quoted(&format!("result: {}", tasks.result.name()))
    );
    let slices: Vec<String> = task_plan
        .slices
        .iter()
        .map(|s| {
            if task_plan.balance == crate::spec::Balance::Dynamic {
                return format!("slice {}\nclaims batches of tasks", s.index);
            }
            let shown: Vec<String> = s.tasks.iter().take(3).map(u64::to_string).collect();
            let more = if s.tasks.len() > 3 { ", ..." } else { "" };
            format!("slice {}\ntasks {}{more}", s.index, shown.join(", "))
        })
        .collect();
    let work = format!("{} tasks", tasks.count);
    plan_graph(
        spec,
        ("value", "task"),
        &work,
        &slices,
        task_plan.threads,
        &mut out,
    );
    out.push_str("}\n");
    out
}

/// The DOT text of the job's graph, for `threads` threads per rank.
pub fn dot(spec: &JobSpec, threads: usize, optimized: bool) -> String {
    match &spec.work {
        Work::Compute(compute) => compute_graph(spec, compute, threads, optimized),
        Work::Tasks(tasks) => tasks_graph(spec, tasks, threads),
    }
}

/// The DOT text of a workflow: each step a cluster with its work, slices, threads and reduce,
/// and an edge from every step to each step that needs it.
pub fn workflow_dot(workflow: &WorkflowSpec, threads: impl Fn(&JobSpec) -> usize) -> String {
    let mut out = format!(
        "digraph {} {{\n  rankdir=TB;\n  compound=true;\n  node [fontname=\"Helvetica\"];\n",
        quoted(&workflow.name)
    );
    for (index, step) in workflow.steps.iter().enumerate() {
        let job = &step.job;
        let work = match &job.work {
            Work::Compute(compute) => format!(
                "compute: {} samples\nexpr: {}",
                compute.samples,
                AsWrittenText(&compute.expr)
            ),
            Work::Tasks(tasks) => {
                let from = tasks
                    .from
                    .as_ref()
                    .map_or(String::new(), |f| format!(" (one per task of {f})"));
                format!(
                    "tasks: {}{from}\nresult: {}",
                    tasks.count,
                    tasks.result.name()
                )
            }
        };
        let slices = job.split.slices;
        let _ = writeln!(
            out,
            "  subgraph cluster_{index} {{\n    label={};\n    style=rounded;\n    step{index} [label={}, shape=note];\n    plan{index} [label={}, shape=box3d];\n    reduce{index} [label={}, shape=box, style=filled, fillcolor=palegreen];\n    step{index} -> plan{index} -> reduce{index};\n  }}",
            quoted(&format!("step {}", step.name)),
            quoted(&work),
            quoted(&format!(
                "{slices} slice{} x {} thread{}",
                if slices == 1 { "" } else { "s" },
                threads(job),
                if threads(job) == 1 { "" } else { "s" }
            )),
            quoted(&reduce_label(job)),
        );
    }
    for (index, step) in workflow.steps.iter().enumerate() {
        for need in &step.needs {
            let from = workflow
                .steps
                .iter()
                .position(|s| &s.name == need)
                .expect("validated");
            let _ = writeln!(
                out,
                "  reduce{from} -> step{index} [ltail=cluster_{from}, lhead=cluster_{index}, label=\" needs\"];"
            );
        }
    }
    out.push_str("}\n");
    out
}

/// An expression as it reads, for labels.
struct AsWrittenText<'a>(&'a Expr);

impl std::fmt::Display for AsWrittenText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Expr::Number(x) => write!(f, "{x}"),
            Expr::Name(name, _) => write!(f, "{name}"),
            Expr::Unary(UnaryOp::Neg, x) => write!(f, "-{}", AsWrittenText(x)),
            Expr::Unary(UnaryOp::Not, x) => write!(f, "!{}", AsWrittenText(x)),
            Expr::Binary(op, a, b) => write!(
                f,
                "({} {} {})",
                AsWrittenText(a),
                op.symbol(),
                AsWrittenText(b)
            ),
            Expr::Call { function, args, .. } => {
                let args: Vec<String> = args.iter().map(|a| AsWrittenText(a).to_string()).collect();
                write!(f, "{function}({})", args.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobfile;

    const QUADRATIC: &str = "name: q\ncompute:\n  samples: 1000\n  vars:\n    a: uniform(5, 10)\n    b: uniform(10, 20)\n    c: uniform(-0.1, 0.1)\n  expr: (-b + sqrt(b^2 - 4*a*c)) / (2*a) + b^2\nsplit: {ranks: 6}\n";

    #[test]
    fn a_shared_sub_expression_is_one_node() {
        let spec = jobfile::parse(QUADRATIC).unwrap();
        let text = dot(&spec, 2, false);
        assert_eq!(text.matches("label=\"^\"").count(), 1, "{text}");
        for var in [
            "a ~ uniform(5, 10)",
            "b ~ uniform(10, 20)",
            "c ~ uniform(-0.1, 0.1)",
        ] {
            assert_eq!(text.matches(var).count(), 1, "{var}");
        }
        assert!(text.contains("reduce: count, mean"));
        assert!(text.contains("exact merge of 6 slices"));
        assert!(text.contains("... 2 more slices"));
    }

    #[test]
    fn the_optimized_graph_is_the_program() {
        let spec = jobfile::parse(QUADRATIC).unwrap();
        let program = crate::kernel::program::compile(spec.compute().unwrap(), 0, MathForm::Calls);
        let text = dot(&spec, 2, true);
        let instructions = text.matches("[label=").count();
        assert!(instructions >= program.instructions.len());
        assert!(text.contains("fused"), "{text}");
        assert!(!text.contains("label=\"^\""), "b^2 is b*b once compiled");
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(quoted("a \"b\" \\ c\nd"), "\"a \\\"b\\\" \\\\ c\\nd\"");
    }
}
