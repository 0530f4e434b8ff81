//! The processes a task leaves behind. A task runs in its own process group, but a program may
//! leave it (`setsid`, a daemon's double fork). hpcsub is the subreaper of its tasks, so such
//! orphans become its own children instead of init's, and it can find and end them: the
//! descendants of a task that timed out, and whatever is left once the tasks are done.

use std::collections::{HashMap, HashSet};

/// Makes this process the reaper of its orphaned descendants (Linux).
pub fn become_subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) has no memory-safety preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Every process's parent and process group, from `/proc`.
fn parents() -> HashMap<i32, (i32, i32)> {
    let mut parents = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`, where comm may hold spaces and parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let mut fields = rest.split_whitespace().skip(1);
        let (Some(ppid), Some(group)) = (
            fields.next().and_then(|p| p.parse().ok()),
            fields.next().and_then(|g| g.parse().ok()),
        ) else {
            continue;
        };
        parents.insert(pid, (ppid, group));
    }
    parents
}

/// The descendants of `root` (not `root` itself).
pub fn of(root: i32) -> Vec<i32> {
    below(root, &parents())
}

fn below(root: i32, parents: &HashMap<i32, (i32, i32)>) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, &(ppid, _)) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(child);
            pending.push(child);
        }
    }
    found
}

/// Kills `pids` and reaps those that were (or became) this process's children.
pub fn kill(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: kill() has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    for &pid in pids {
        let mut status = 0;
        // SAFETY: waitpid() writes only to `status`. A process that is not our child is
        // refused (ECHILD), which is fine: its own parent reaps it.
        unsafe {
            libc::waitpid(pid, &mut status, libc::WNOHANG);
        }
    }
}

/// Ends what this process's tasks left behind: its descendants outside its own process group
/// (tasks run in groups of their own; hpcsub's helpers, such as a setup's bash, stay in its
/// group), except the running tasks `keep` and everything under them.
pub fn end_leftovers(keep: &[i32]) {
    let parents = parents();
    let own = std::process::id() as i32;
    let own_group = parents.get(&own).map_or(own, |&(_, group)| group);
    let mine = below(own, &parents);
    let spared: HashSet<i32> = mine
        .iter()
        .copied()
        .filter(|pid| {
            parents
                .get(pid)
                .is_some_and(|&(_, group)| group == own_group)
        })
        .chain(keep.iter().copied())
        .flat_map(|pid| std::iter::once(pid).chain(below(pid, &parents)))
        .collect();
    let leftovers: Vec<i32> = mine
        .into_iter()
        .filter(|pid| !spared.contains(pid))
        .collect();
    kill(&leftovers);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descendants_of_a_shell_include_a_grandchild_that_left_its_group() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "setsid sleep 30 & sleep 30"])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let mut found = Vec::new();
        for _ in 0..100 {
            found = of(pid);
            if found.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(found.len(), 2, "{found:?}");
        kill(&found);
        let _ = child.kill();
        let _ = child.wait();
        assert!(of(pid).is_empty());
    }
}
