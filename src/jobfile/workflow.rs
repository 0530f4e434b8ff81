//! The `steps:` of a workflow: step names, what each needs, no circles, and each step validated
//! as a job of its own after the steps it needs (so it can refer to them).

use indexmap::IndexMap;
use marked_yaml::Spanned;

use super::yaml::{RawStep, locate};
use super::{Body, Outer, StepScope, validate_body, validate_name};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::spec::{StepSpec, WorkflowSpec};

type RawSteps = Spanned<IndexMap<Spanned<String>, Spanned<RawStep>>>;

pub(super) fn validate(
    steps: &RawSteps,
    name: String,
    outer: &Outer,
    source: &str,
) -> Result<WorkflowSpec, Diagnostic> {
    if steps.is_empty() {
        return Err(Diagnostic::new(locate(steps), "`steps` is empty")
            .with_help("give each step a name and `compute:` or `tasks:`"));
    }
    let names: Vec<&str> = steps.keys().map(|k| k.as_str()).collect();
    let mut needs: Vec<Vec<usize>> = Vec::with_capacity(steps.len());
    for (step_name, step) in steps.iter() {
        if !is_step_name(step_name) {
            return Err(Diagnostic::new(
                locate(step_name),
                format!("`{}` is not a step name", step_name.as_str()),
            )
            .with_help("use letters, digits and `_`, starting with a letter"));
        }
        let mut indices = Vec::new();
        for need in step.needs.iter().flat_map(|n| n.iter()) {
            let Some(index) = names.iter().position(|n| *n == need.as_str()) else {
                let diag =
                    Diagnostic::new(locate(need), format!("unknown step `{}`", need.as_str()));
                return Err(match did_you_mean(need, names.iter().copied()) {
                    Some(candidate) => diag.with_help(format!("did you mean `{candidate}`?")),
                    None => diag.with_help(format!("the steps are: {}", names.join(", "))),
                });
            };
            if need.as_str() == step_name.as_str() {
                return Err(Diagnostic::new(locate(need), "a step cannot need itself"));
            }
            if indices.contains(&index) {
                return Err(Diagnostic::new(
                    locate(need),
                    format!("`{}` is listed twice", need.as_str()),
                ));
            }
            indices.push(index);
        }
        needs.push(indices);
    }
    let order = dependency_order(&needs).map_err(|circle| {
        let first = steps.get_index(circle[0]).map(|(k, _)| k).expect("a step");
        let names: Vec<&str> = circle.iter().map(|&i| names[i]).collect();
        Diagnostic::new(
            locate(first),
            format!("steps {} need each other in a circle", names.join(" -> ")),
        )
        .with_help("a workflow runs each step after the steps it needs; remove one of these needs")
    })?;
    let mut validated: Vec<Option<StepSpec>> = vec![None; steps.len()];
    for index in order.iter().copied() {
        let (step_name, step) = steps.get_index(index).expect("an index of steps");
        let needed: Vec<&StepSpec> = needs[index]
            .iter()
            .map(|&i| validated[i].as_ref().expect("needs come first"))
            .collect();
        let body = Body {
            compute: &step.compute,
            tasks: &step.tasks,
            reduce: &step.reduce,
            split: &step.split,
            resources: &step.resources,
            environment: &step.environment,
        };
        let job_name = format!("{name}-{}", step_name.as_str());
        // The combined name must pass the rule every job name passes (length, alphabet).
        let job_name = validate_name(&Spanned::new(*step_name.span(), job_name))?;
        let job = validate_body(&body, job_name, outer, source, StepScope { needs: &needed })?;
        validated[index] = Some(StepSpec {
            name: step_name.to_string(),
            needs: needs[index].iter().map(|&i| names[i].to_string()).collect(),
            job,
        });
    }
    Ok(WorkflowSpec {
        name,
        seed: outer.seed,
        steps: order
            .into_iter()
            .map(|i| validated[i].take().expect("every step validated"))
            .collect(),
    })
}

fn is_step_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An order in which every step comes after the steps it needs, steps that could go in either
/// order kept in the order written; or the steps of a circle.
fn dependency_order(needs: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut done = vec![false; needs.len()];
    let mut order = Vec::with_capacity(needs.len());
    while order.len() < needs.len() {
        let next = (0..needs.len()).find(|&i| !done[i] && needs[i].iter().all(|&n| done[n]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => return Err(circle(needs, &done)),
        }
    }
    Ok(order)
}

/// A circle among the steps not done: follow unmet needs until a step repeats.
fn circle(needs: &[Vec<usize>], done: &[bool]) -> Vec<usize> {
    let mut path: Vec<usize> = vec![(0..needs.len()).find(|&i| !done[i]).expect("a step left")];
    loop {
        let last = *path.last().expect("not empty");
        let next = *needs[last]
            .iter()
            .find(|&&n| !done[n])
            .expect("a step left has an unmet need");
        if let Some(start) = path.iter().position(|&s| s == next) {
            let mut circle = path[start..].to_vec();
            circle.push(next);
            return circle;
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_come_after_their_needs_in_the_order_written() {
        assert_eq!(
            dependency_order(&[vec![], vec![0], vec![0], vec![1, 2]]),
            Ok(vec![0, 1, 2, 3])
        );
        assert_eq!(
            dependency_order(&[vec![1], vec![], vec![]]),
            Ok(vec![1, 0, 2])
        );
        assert_eq!(
            dependency_order(&[vec![2], vec![0], vec![1]]),
            Err(vec![0, 2, 1, 0])
        );
    }
}
